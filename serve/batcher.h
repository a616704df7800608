#pragma once

// The one batching worker. HTTP threads hand it the piece ids of a request's inputs and wait; the
// worker takes the queued requests in arrival order (up to a token budget's worth of real
// tokens), sorts their inputs by length and packs them into batches of similar lengths under the
// token budget, runs the model once per batch and completes every request. While it runs, new
// requests queue up and form the next round, so batches grow with the load by themselves (no
// waiting window: an idle server answers a lone request at once). Sorting matters on CPUs: a
// batch of random sentences padded to its longest wastes about half its compute.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "model/embedder.h"

namespace sembed::serve {

struct BatcherOptions {
  int64_t max_batch_tokens = 16384;  // padded tokens ([CLS]/[SEP] incl.) per forward pass
  int max_len = 128;                 // the model's tokens per input; longer lists are cut
  int max_queue = 512;               // requests waiting or running; beyond that: 429
  int64_t pass_cost_tokens = 64;     // what one more forward pass costs, in padded tokens: the
                                     // worker splits a round into batches minimising padding +
                                     // passes x this (0: only padding counts)
  void validate() const;             // throws std::invalid_argument
};

// What one round of the worker did, for metrics.
struct BatchReport {
  int requests = 0;
  int inputs = 0;
  int64_t tokens = 0;         // real tokens, [CLS]/[SEP] included
  int64_t padded_tokens = 0;  // inputs x longest input, summed over forward passes
  int64_t forward_passes = 0;
  std::vector<int> batch_sizes;  // inputs per forward pass
  int64_t truncated = 0;
  double seconds = 0;  // model time
  bool failed = false;
};

class Batcher {
 public:
  // Runs the model on piece lists: Embedder::embed_pieces in production, a fake in tests. Must
  // return row-major [pieces.size(), dim] raw (unnormalised) vectors and fill `stats`.
  using EmbedFn = std::function<std::vector<float>(const std::vector<std::vector<int>>& pieces,
                                                   int64_t max_batch_tokens, EmbedStats* stats)>;
  using Observer = std::function<void(const BatchReport&)>;

  // Starts the worker thread; `on_start` (optional) runs first on it (e.g. to set the thread's
  // LibTorch thread count). `observer` (optional) is called on the worker after every batch.
  Batcher(EmbedFn embed, int dim, const BatcherOptions& options, Observer observer = {},
          std::function<void()> on_start = {});
  // Stops (see stop()).
  ~Batcher();
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // Embeds one request's inputs and blocks until done: row-major [pieces.size(), dim], each row
  // L2-normalised when `normalize` (the same arithmetic whatever the batch, so a text's vector
  // does not depend on what it was batched with beyond the model's own float arithmetic).
  // Throws ServiceError 429 when max_queue requests are already waiting or running, ServiceError
  // 503 after stop(), and rethrows the model's exception if its batch failed. Thread-safe.
  std::vector<float> embed(std::vector<std::vector<int>> pieces, bool normalize);

  // Requests queued and not yet taken into a batch.
  int queue_depth() const;
  // Requests queued or in the running batch.
  int in_flight() const;
  int dim() const { return dim_; }

  // Finishes every request already queued, then ends the worker. Later embed() calls throw
  // ServiceError 503. Idempotent; safe from any thread but the worker's.
  void stop();

 private:
  struct Job {
    std::vector<std::vector<int>> pieces;
    bool normalize = true;
    std::promise<std::vector<float>> done;
  };
  void run(std::function<void()> on_start);
  void process(std::vector<Job>& round);
  int64_t length_of(const std::vector<int>& pieces) const;

  EmbedFn embed_;
  int dim_;
  BatcherOptions options_;
  Observer observer_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> queue_;
  int running_ = 0;  // requests in the batch being computed
  bool stopping_ = false;
  std::thread worker_;
};

// L2-normalises `rows` vectors of `dim` floats in place (a zero vector stays zero). The one
// normalisation every served vector goes through, so /embed, /search and `sembed search` agree.
void normalize_rows(float* data, int64_t rows, int64_t dim);

}  // namespace sembed::serve
