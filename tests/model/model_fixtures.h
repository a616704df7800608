#pragma once

// Fixtures shared by the model tests: a small BPE tokenizer and tiny model directories, built by
// the tests themselves on first use. ctest runs every test in its own process, so each process pays
// only for what it uses (~0.3 s for the tokenizer).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/model_init.h"
#include "tests/test_support.h"
#include "tokenizer/tokenizer.h"

namespace sembed::test {

// A 300-piece BPE tokenizer (BPE trains fastest) covering every ASCII letter, digit and common
// punctuation mark. Trained once per process; its directory goes when the process ends.
inline const std::string& tiny_tokenizer_path() {
  static const ScratchDir dir("model-fixture-tokenizer");
  static const std::string path = [] {
    std::vector<std::string> lines = synthetic_corpus(300, 11);
    for (auto& s : subword_corpus(300, 11)) lines.push_back(std::move(s));
    write_lines(dir.file("train.txt"), lines);
    TokenizerConfig config;
    config.model_type = "bpe";
    config.vocab_size = 300;
    config.character_coverage = 1.0;
    config.threads = 2;
    Tokenizer::train(dir.file("train.txt"), dir.file("tok.model"), config);
    return dir.file("tok.model");
  }();
  return path;
}

// Writes a randomly initialised model directory at `dir` (the "tiny" preset unless `encoder`
// says otherwise: 2 layers x 128 hidden, max_len 64) and returns `dir`.
inline std::string make_tiny_model(const std::string& dir, uint64_t seed = 42,
                                   const std::string& pooling = "mean",
                                   const EncoderConfig& encoder = EncoderConfig::preset("tiny")) {
  InitOptions options;
  options.tokenizer_path = tiny_tokenizer_path();
  options.output_dir = dir;
  options.encoder = encoder;
  options.pooling.mode = pooling;
  options.seed = seed;
  init_model(options);
  return dir;
}

// One tiny model directory per process (seed 42, mean pooling). Tests must not modify it.
inline const std::string& tiny_model_dir() {
  static const ScratchDir dir("model-fixture-model");
  static const std::string path = make_tiny_model(dir.file("model"));
  return path;
}

// Texts of very different lengths: the empty text, one word, sentences, and one longer than the
// tiny preset's 64 tokens (truncated).
inline std::vector<std::string> sample_texts() {
  std::vector<std::string> texts = {"",
                                    "Hello.",
                                    "The cat reads the blue sea after dinner.",
                                    "A young student repairs a broken clock near the station.",
                                    "Bacedi fogu, hajeki!",
                                    "QUIBAFO 1234 (zetrel) \"plonka\"... ok?!"};
  for (const auto& s : synthetic_corpus(10, 77)) texts.push_back(s);
  for (const auto& s : subword_corpus(10, 77)) texts.push_back(s);
  std::string long_text;
  for (const auto& s : subword_corpus(8, 5)) long_text += s + " ";
  texts.push_back(long_text);
  return texts;
}

inline float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  float m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

// Cosine similarity of row `row` of two row-major [n, dim] matrices.
inline double row_cosine(const std::vector<float>& a, const std::vector<float>& b, size_t row,
                         size_t dim) {
  double dot = 0, na = 0, nb = 0;
  for (size_t k = row * dim; k < (row + 1) * dim; ++k) {
    dot += static_cast<double>(a[k]) * b[k];
    na += static_cast<double>(a[k]) * a[k];
    nb += static_cast<double>(b[k]) * b[k];
  }
  return dot / std::sqrt(na * nb);
}

}  // namespace sembed::test
