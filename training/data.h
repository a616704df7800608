#pragma once

// Training datasets: read once, normalised and tokenised up front (errors name file:line),
// then served as batches of piece ids. No torch here.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace sembed {

// One training example: up to three texts as piece ids (no special tokens) and an optional score.
struct Example {
  std::vector<std::vector<int>> texts;  // unsup/mlm: 1; sup: 2 or 3; cosent: 2
  float score = 0;                      // cosent only
  int32_t source = 0;                   // index of the file it came from in load_examples' paths
  uint64_t key = 0;                     // hash of the normalised first text (duplicate checks)
  uint64_t key2 = 0;                    // hash of the second text (0 if none)
};

enum class DataFormat {
  kLines,        // one sentence per line (unsup, mlm)
  kTriplets,     // anchor<TAB>positive[<TAB>hard_negative] (sup)
  kScoredPairs,  // sentence1<TAB>sentence2<TAB>score, the STS-B release or SICK format (cosent)
};

struct DatasetStats {
  int64_t lines = 0;
  int64_t examples = 0;
  int64_t skipped_empty = 0;
  int64_t duplicates = 0;  // kLines: repeated sentences dropped (a batch must not hold a
                           // sentence twice: it would be its own false negative)
  int64_t with_hard_negative = 0;
};

// Reads `paths` in `format`, normalising and tokenising every text with `tokenizer` on all
// cores. Throws std::invalid_argument naming file:line for invalid UTF-8, a line with the wrong
// number of columns, a bad score, or a file with no examples.
std::vector<Example> load_examples(const std::vector<std::string>& paths, DataFormat format,
                                   const Tokenizer& tokenizer, DatasetStats* stats = nullptr,
                                   int threads = 0);

// A stable 64-bit hash of a loaded dataset: every text's piece ids, every score and source, in
// order. Checkpoints record it so that --resume refuses different data (or a different
// tokenizer), on which the saved sampler position would mean other batches.
uint64_t examples_fingerprint(const std::vector<Example>& examples);

// Deterministic batches over a dataset: a seeded permutation per epoch; a batch never holds two
// examples that share a text key (such examples wait for a later batch of the same epoch).
// Its whole state is the number of batches drawn: seek(n) replays to it exactly (resumption).
class BatchSampler {
 public:
  BatchSampler(const std::vector<Example>* examples, int batch_size, uint64_t seed);
  // Indices of the next batch, always batch_size of them (capped at the dataset size): a batch
  // that would come up short at the end of an epoch is completed from the next epoch.
  std::vector<size_t> next();
  // Epochs started so far minus one (0 during the first epoch).
  int64_t epoch() const { return epoch_; }
  int64_t batches_drawn() const { return drawn_; }
  // Batches per epoch (approximately, with duplicate deferral).
  int64_t batches_per_epoch() const;
  // Replays from the start to the state after `batches` batches.
  void seek(int64_t batches);

 private:
  void start_epoch(int64_t epoch);
  const std::vector<Example>* examples_;
  int batch_size_;
  uint64_t seed_;
  int64_t epoch_ = 0;
  int64_t drawn_ = 0;
  std::vector<size_t> order_;
  size_t cursor_ = 0;
  std::vector<size_t> deferred_;
};

}  // namespace sembed
