#pragma once

// Semantic textual similarity evaluation: cosine of sentence vectors against gold scores.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sembed {

class Embedder;

struct StsPair {
  std::string a;
  std::string b;
  double score = 0;
};

// Reads scored pairs. Formats, detected from the first line:
//  - STS-B release: tab-separated, score in column 5, sentences in 6 and 7, extra columns ignored;
//  - SICK (a header line naming sentence_A, sentence_B and relatedness_score);
//  - plain: sentence1<TAB>sentence2<TAB>score.
// Throws std::invalid_argument naming file:line for a malformed line or an empty file.
std::vector<StsPair> read_sts_file(const std::string& path);

struct StsResult {
  double spearman = 0;  // x100
  double pearson = 0;   // x100
  int64_t pairs = 0;
};

// Embeds texts: returns row-major [texts.size(), dim] vectors.
using EmbedFunction = std::function<std::vector<float>(const std::vector<std::string>&)>;

// Cosine similarity of each pair's vectors (each distinct sentence embedded once) against gold.
StsResult evaluate_sts(const std::vector<StsPair>& pairs, const EmbedFunction& embed, int64_t dim);
// The same with a model's embedder.
StsResult evaluate_sts(const std::vector<StsPair>& pairs, const Embedder& embedder);

// {"spearman", "pearson", "pairs"} (scores x100).
void to_json(nlohmann::json& j, const StsResult& r);

}  // namespace sembed
