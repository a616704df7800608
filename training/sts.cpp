#include "training/sts.h"

#include <cmath>
#include <stdexcept>
#include <unordered_map>

#include "common/line_reader.h"
#include "model/embedder.h"
#include "training/metrics.h"

namespace sembed {

namespace {

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> cols;
  size_t start = 0;
  while (true) {
    size_t tab = line.find('\t', start);
    cols.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
    if (tab == std::string::npos) break;
    start = tab + 1;
  }
  return cols;
}

double parse_score(const std::string& s, const std::string& where) {
  try {
    size_t used = 0;
    double v = std::stod(s, &used);
    if (used != s.size() || !std::isfinite(v)) throw std::invalid_argument("");
    return v;
  } catch (const std::exception&) {
    throw std::invalid_argument(where + ": score '" + s + "' is not a number");
  }
}

}  // namespace

std::vector<StsPair> read_sts_file(const std::string& path) {
  LineReader reader(path);
  std::string line;
  enum { kUnknown, kStsb, kPlain, kHeader } format = kUnknown;
  size_t col_a = 0, col_b = 0, col_score = 0, min_cols = 0;
  std::vector<StsPair> pairs;
  while (reader.next(line)) {
    if (line.empty()) continue;
    auto cols = split_tabs(line);
    if (format == kUnknown) {
      for (size_t i = 0; i < cols.size(); ++i) {
        if (cols[i] == "sentence_A") col_a = i;
        if (cols[i] == "sentence_B") col_b = i;
        if (cols[i] == "relatedness_score") col_score = i;
      }
      if (col_a != col_b && col_score != 0) {
        format = kHeader;
        min_cols = std::max({col_a, col_b, col_score}) + 1;
        continue;
      }
      if (cols.size() >= 7) {
        format = kStsb, col_score = 4, col_a = 5, col_b = 6, min_cols = 7;
      } else if (cols.size() == 3) {
        format = kPlain, col_a = 0, col_b = 1, col_score = 2, min_cols = 3;
      } else {
        throw std::invalid_argument(reader.where() + ": expected the STS-B release format (7+ " +
                                    "tab-separated columns), a SICK header, or " +
                                    "sentence1<TAB>sentence2<TAB>score; found " +
                                    std::to_string(cols.size()) + " columns");
      }
    }
    if (cols.size() < min_cols)
      throw std::invalid_argument(reader.where() + ": expected at least " +
                                  std::to_string(min_cols) + " tab-separated columns, found " +
                                  std::to_string(cols.size()));
    StsPair p;
    p.a = cols[col_a];
    p.b = cols[col_b];
    p.score = parse_score(cols[col_score], reader.where());
    pairs.push_back(std::move(p));
  }
  if (pairs.empty()) throw std::invalid_argument("'" + path + "' holds no scored pairs");
  return pairs;
}

StsResult evaluate_sts(const std::vector<StsPair>& pairs, const EmbedFunction& embed, int64_t dim) {
  std::unordered_map<std::string, size_t> index;
  std::vector<std::string> texts;
  auto add = [&](const std::string& t) {
    auto it = index.find(t);
    if (it != index.end()) return it->second;
    index.emplace(t, texts.size());
    texts.push_back(t);
    return texts.size() - 1;
  };
  std::vector<std::pair<size_t, size_t>> ids;
  for (const auto& p : pairs) {
    size_t a = add(p.a);
    size_t b = add(p.b);
    ids.emplace_back(a, b);
  }
  const std::vector<float> v = embed(texts);
  if (static_cast<int64_t>(v.size()) != static_cast<int64_t>(texts.size()) * dim)
    throw std::runtime_error("embed function returned the wrong number of values");
  std::vector<double> cos, gold;
  for (size_t i = 0; i < pairs.size(); ++i) {
    const float* x = v.data() + ids[i].first * dim;
    const float* y = v.data() + ids[i].second * dim;
    double dot = 0, nx = 0, ny = 0;
    for (int64_t k = 0; k < dim; ++k) {
      dot += static_cast<double>(x[k]) * y[k];
      nx += static_cast<double>(x[k]) * x[k];
      ny += static_cast<double>(y[k]) * y[k];
    }
    cos.push_back(nx > 0 && ny > 0 ? dot / std::sqrt(nx * ny) : 0.0);
    gold.push_back(pairs[i].score);
  }
  StsResult r;
  r.pairs = static_cast<int64_t>(pairs.size());
  r.spearman = 100.0 * spearman(cos, gold);
  r.pearson = 100.0 * pearson(cos, gold);
  return r;
}

StsResult evaluate_sts(const std::vector<StsPair>& pairs, const Embedder& embedder) {
  return evaluate_sts(
      pairs, [&](const std::vector<std::string>& texts) { return embedder.embed(texts); },
      embedder.dim());
}

void to_json(nlohmann::json& j, const StsResult& r) {
  j = {{"spearman", r.spearman}, {"pearson", r.pearson}, {"pairs", r.pairs}};
}

}  // namespace sembed
