#pragma once

// Subword regularisation (Kudo 2018) for training: every time a text enters a batch, each of its
// words is re-segmented, drawn from the word's n best segmentations under the unigram model with
// probability proportional to exp(alpha x log-probability). The model sees the same words cut
// into different pieces across epochs, which trains the pieces of rare words' alternatives as
// well and makes it less dependent on one segmentation. Evaluation and inference always use the
// single best segmentation. No torch here.
#include <cstdint>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer/tokenizer.h"
#include "training/data.h"

namespace sembed {

class SubwordSampler {
 public:
  static constexpr int kMinNbest = 2, kMaxNbest = 64;  // the range of nbest (and --subword-nbest)

  // nbest (in [kMinNbest, kMaxNbest]) segmentations per word are candidates; alpha >= 0 (0 = uniform among them, larger
  // = closer to the best segmentation).
  SubwordSampler(const Tokenizer& tokenizer, int nbest, double alpha);

  // Precomputes the candidates of every word in `examples` (texts as the tokenizer's best
  // segmentation, as load_examples makes them), on `threads` threads (0 = all cores).
  void add(const std::vector<Example>& examples, int threads = 0);

  // A segmentation of `ids` (a text as added) with each word drawn independently. Words not seen
  // by add(), and words holding the unknown piece, keep their pieces.
  std::vector<int> sample(const std::vector<int>& ids, std::mt19937_64& rng) const;

  // Distinct words with more than one candidate, and distinct words in all.
  size_t words_with_alternatives() const;
  size_t words() const { return words_.size(); }

 private:
  struct Candidates {
    std::vector<std::vector<int>> segmentations;  // the best (as in the data) first
    std::vector<double> cumulative;               // sampling distribution, last = 1
  };
  // Calls fn(begin, end) for each word of ids: a word starts at a piece beginning with U+2581 (or
  // at the text start).
  template <typename Fn>
  void for_each_word(const std::vector<int>& ids, Fn&& fn) const;
  Candidates candidates_for(const std::vector<int>& word) const;
  static std::string key(const int* begin, const int* end);

  const Tokenizer& tokenizer_;
  int nbest_;
  double alpha_;
  std::vector<uint8_t> starts_word_;  // per piece id
  std::unordered_map<std::string, Candidates> words_;
};

}  // namespace sembed
