#include "serve/batcher.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>

#include "common/log.h"
#include "serve/http_error.h"

namespace sembed::serve {

void BatcherOptions::validate() const {
  if (max_batch_tokens <= 0) throw std::invalid_argument("max_batch_tokens must be > 0");
  if (max_len < 3) throw std::invalid_argument("max_len must be >= 3");
  if (max_batch_tokens < max_len)
    throw std::invalid_argument("max_batch_tokens (" + std::to_string(max_batch_tokens) +
                                ") must be at least max_len (" + std::to_string(max_len) +
                                "): one full-length input must fit a batch");
  if (max_queue <= 0) throw std::invalid_argument("max_queue must be > 0");
  if (pass_cost_tokens < 0) throw std::invalid_argument("pass_cost_tokens must be >= 0");
}

void normalize_rows(float* data, int64_t rows, int64_t dim) {
  for (int64_t r = 0; r < rows; ++r) {
    float* v = data + r * dim;
    double sum = 0;
    for (int64_t i = 0; i < dim; ++i) sum += static_cast<double>(v[i]) * v[i];
    const double norm = std::sqrt(sum);
    if (norm <= 0 || !std::isfinite(norm)) continue;
    const double inv = 1.0 / norm;
    for (int64_t i = 0; i < dim; ++i) v[i] = static_cast<float>(v[i] * inv);
  }
}

Batcher::Batcher(EmbedFn embed, int dim, const BatcherOptions& options, Observer observer,
                 std::function<void()> on_start)
    : embed_(std::move(embed)), dim_(dim), options_(options), observer_(std::move(observer)) {
  options_.validate();
  if (dim <= 0) throw std::invalid_argument("Batcher: dim must be > 0");
  worker_ = std::thread([this, on_start = std::move(on_start)] { run(on_start); });
}

Batcher::~Batcher() {
  stop();
}

void Batcher::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (worker_.joinable() && worker_.get_id() != std::this_thread::get_id()) worker_.join();
}

int Batcher::queue_depth() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int>(queue_.size());
}

int Batcher::in_flight() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int>(queue_.size()) + running_;
}

int64_t Batcher::length_of(const std::vector<int>& pieces) const {
  // As the model batches: pieces cut to max_len - 2, plus [CLS] and [SEP].
  return std::min<int64_t>(static_cast<int64_t>(pieces.size()), options_.max_len - 2) + 2;
}

std::vector<float> Batcher::embed(std::vector<std::vector<int>> pieces, bool normalize) {
  if (pieces.empty()) return {};
  std::future<std::vector<float>> result;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) throw unavailable("the server is shutting down");
    const int in_flight = static_cast<int>(queue_.size()) + running_;
    if (in_flight >= options_.max_queue)
      throw overloaded("the server is at capacity: " + std::to_string(in_flight) +
                       " requests are queued or running (--max-concurrent " +
                       std::to_string(options_.max_queue) + "); retry later");
    Job job;
    job.pieces = std::move(pieces);
    job.normalize = normalize;
    result = job.done.get_future();
    queue_.push_back(std::move(job));
  }
  wake_.notify_one();
  return result.get();
}

void Batcher::run(std::function<void()> on_start) {
  if (on_start) {
    try {
      on_start();
    } catch (const std::exception& e) {
      log_warning(std::string("batching worker start-up: ") + e.what());
    }
  }
  std::vector<Job> round;
  for (;;) {
    round.clear();
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left to finish
      // Whole requests in arrival order while their real tokens fit the budget (the first always
      // goes in: one larger than the budget alone is split into several batches).
      int64_t tokens = 0;
      while (!queue_.empty()) {
        int64_t next = 0;
        for (const auto& p : queue_.front().pieces) next += length_of(p);
        if (!round.empty() && tokens + next > options_.max_batch_tokens) break;
        tokens += next;
        round.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      running_ = static_cast<int>(round.size());
    }
    process(round);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      running_ = 0;
    }
  }
}

void Batcher::process(std::vector<Job>& round) {
  BatchReport report;
  report.requests = static_cast<int>(round.size());
  // Every input of the round, longest first.
  struct Input {
    size_t job, index;
    int64_t length;
  };
  std::vector<Input> inputs;
  std::vector<std::vector<float>> outputs(round.size());
  for (size_t j = 0; j < round.size(); ++j) {
    outputs[j].resize(round[j].pieces.size() * static_cast<size_t>(dim_));
    for (size_t i = 0; i < round[j].pieces.size(); ++i)
      inputs.push_back({j, i, length_of(round[j].pieces[i])});
  }
  std::stable_sort(inputs.begin(), inputs.end(),
                   [](const Input& a, const Input& b) { return a.length > b.length; });
  report.inputs = static_cast<int>(inputs.size());

  const auto start = std::chrono::steady_clock::now();
  std::exception_ptr error;
  EmbedStats stats;
  try {
    // Batches of consecutive (similar) lengths under the budget, each one forward pass, chosen to
    // minimise padded tokens + passes x pass_cost_tokens (exact, by dynamic programming over the
    // sorted lengths: cost[b] = min over e of pass + (e - b) x length[b] + cost[e]).
    const size_t n = inputs.size();
    std::vector<int64_t> cost(n + 1, 0);
    std::vector<size_t> cut(n + 1, n);
    for (size_t b = n; b-- > 0;) {
      const int64_t longest = inputs[b].length;
      cost[b] = std::numeric_limits<int64_t>::max();
      for (size_t e = b + 1; e <= n; ++e) {
        if (e > b + 1 && static_cast<int64_t>(e - b) * longest > options_.max_batch_tokens) break;
        const int64_t c =
            options_.pass_cost_tokens + static_cast<int64_t>(e - b) * longest + cost[e];
        if (c < cost[b]) {
          cost[b] = c;
          cut[b] = e;
        }
      }
    }
    std::vector<std::vector<int>> pieces;
    for (size_t b = 0; b < n;) {
      const int64_t longest = inputs[b].length;
      const size_t e = cut[b];
      pieces.clear();
      for (size_t i = b; i < e; ++i) pieces.push_back(round[inputs[i].job].pieces[inputs[i].index]);
      const std::vector<float> vectors = embed_(pieces, options_.max_batch_tokens, &stats);
      if (vectors.size() != pieces.size() * static_cast<size_t>(dim_))
        throw std::runtime_error("the model returned " + std::to_string(vectors.size()) +
                                 " values for " + std::to_string(pieces.size()) +
                                 " inputs of dim " + std::to_string(dim_));
      for (size_t i = b; i < e; ++i)
        std::copy(
            vectors.begin() + static_cast<std::ptrdiff_t>((i - b) * dim_),
            vectors.begin() + static_cast<std::ptrdiff_t>((i - b + 1) * dim_),
            outputs[inputs[i].job].begin() + static_cast<std::ptrdiff_t>(inputs[i].index * dim_));
      report.batch_sizes.push_back(static_cast<int>(e - b));
      report.padded_tokens += static_cast<int64_t>(e - b) * longest;
      b = e;
    }
  } catch (...) {
    error = std::current_exception();
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  report.tokens = stats.tokens;
  report.forward_passes = stats.batches;
  report.truncated = stats.truncated;
  report.failed = error != nullptr;
  if (observer_) {
    try {
      observer_(report);
    } catch (...) {
      // Metrics must never take the worker down.
    }
  }
  for (size_t j = 0; j < round.size(); ++j) {
    if (error) {
      round[j].done.set_exception(error);
    } else {
      if (round[j].normalize)
        normalize_rows(outputs[j].data(), static_cast<int64_t>(round[j].pieces.size()), dim_);
      round[j].done.set_value(std::move(outputs[j]));
    }
  }
}

}  // namespace sembed::serve
