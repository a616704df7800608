#pragma once

// Fixtures for the training tests: a tiny tokenizer and paraphrase data, built once per process.
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace sembed::test {

// A ~400-piece tokenizer trained on synthetic text; its model file path.
const std::string& tiny_tokenizer_path();
const Tokenizer& tiny_tokenizer();
// "anchor<TAB>paraphrase" lines: the same event phrased two ways (distinct anchors).
std::vector<std::string> paraphrase_pairs(int n, unsigned seed = 1);

}  // namespace sembed::test
