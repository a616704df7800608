#pragma once

// Inverse document frequencies of a tokenizer's pieces over a corpus (one document per line):
// the weights of idf_mean pooling.
#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace sembed {

struct IdfStats {
  int64_t documents = 0;  // non-empty lines
  int64_t skipped = 0;    // lines that are not valid UTF-8 (skipped, not fatal)
};

// idf[piece] = log((N + 1) / (df + 1)) where df counts the lines holding the piece at least once.
// Special tokens get 0 except [UNK]. Reads every file once, streaming, encoding on all cores.
// Throws std::runtime_error for unreadable files, std::invalid_argument when no line is usable.
std::vector<float> compute_idf(const Tokenizer& tokenizer, const std::vector<std::string>& files,
                               int threads = 0, IdfStats* stats = nullptr);

// The same from already tokenised documents.
std::vector<float> compute_idf(const std::vector<const std::vector<int>*>& documents,
                               int vocab_size);

}  // namespace sembed
