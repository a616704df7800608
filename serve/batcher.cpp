#include "serve/batcher.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
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

Batcher::~Batcher() { stop(); }

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
  std::vector<Job> batch;
  for (;;) {
    batch.clear();
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left to finish
      // Pack whole requests in arrival order while inputs x longest input fits the budget, so
      // the model runs once for the batch. The first request always goes in: one larger than the
      // budget alone is split into several forward passes by the model.
      int64_t inputs = 0, longest = 0;
      while (!queue_.empty()) {
        const Job& next = queue_.front();
        int64_t next_longest = longest;
        for (const auto& p : next.pieces) next_longest = std::max(next_longest, length_of(p));
        const int64_t next_inputs = inputs + static_cast<int64_t>(next.pieces.size());
        if (!batch.empty() && next_inputs * next_longest > options_.max_batch_tokens) break;
        inputs = next_inputs;
        longest = next_longest;
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      running_ = static_cast<int>(batch.size());
    }
    process(batch);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      running_ = 0;
    }
  }
}

void Batcher::process(std::vector<Job>& batch) {
  BatchReport report;
  report.requests = static_cast<int>(batch.size());
  std::vector<std::vector<int>> all;
  for (auto& job : batch) {
    for (auto& p : job.pieces) all.push_back(std::move(p));
  }
  report.inputs = static_cast<int>(all.size());
  const auto start = std::chrono::steady_clock::now();
  std::vector<float> vectors;
  std::exception_ptr error;
  EmbedStats stats;
  try {
    vectors = embed_(all, options_.max_batch_tokens, &stats);
    if (vectors.size() != all.size() * static_cast<size_t>(dim_))
      throw std::runtime_error("the model returned " + std::to_string(vectors.size()) +
                               " values for " + std::to_string(all.size()) + " inputs of dim " +
                               std::to_string(dim_));
  } catch (...) {
    error = std::current_exception();
  }
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  report.tokens = stats.tokens;
  report.forward_passes = stats.batches;
  report.truncated = stats.truncated;
  report.failed = error != nullptr;
  // Padded tokens, as the model batches (longest first, at most max_batch_tokens per pass).
  {
    std::vector<int64_t> lengths;
    lengths.reserve(all.size());
    for (const auto& p : all) lengths.push_back(length_of(p));
    std::sort(lengths.begin(), lengths.end(), std::greater<int64_t>());
    for (size_t i = 0; i < lengths.size();) {
      const int64_t count = std::max<int64_t>(1, options_.max_batch_tokens / lengths[i]);
      const int64_t n = std::min<int64_t>(count, static_cast<int64_t>(lengths.size() - i));
      report.padded_tokens += n * lengths[i];
      i += static_cast<size_t>(n);
    }
  }
  if (observer_) {
    try {
      observer_(report);
    } catch (...) {
      // Metrics must never take the worker down.
    }
  }
  size_t row = 0;
  for (auto& job : batch) {
    const size_t n = job.pieces.size();
    if (error) {
      job.done.set_exception(error);
    } else {
      std::vector<float> out(vectors.begin() + static_cast<std::ptrdiff_t>(row * dim_),
                             vectors.begin() + static_cast<std::ptrdiff_t>((row + n) * dim_));
      if (job.normalize) normalize_rows(out.data(), static_cast<int64_t>(n), dim_);
      job.done.set_value(std::move(out));
    }
    row += n;
  }
}

}  // namespace sembed::serve
