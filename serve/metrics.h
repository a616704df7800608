#pragma once

// Server metrics in the Prometheus text exposition format (version 0.0.4). Counters and
// histograms are recorded by the HTTP layer and the batching worker; gauges are read when the
// page is rendered. Thread-safe.
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "serve/batcher.h"

namespace sembed::serve {

// A cumulative histogram with fixed upper bounds (the +Inf bucket is implicit).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double value);
  // Appends name_bucket{labels,le=...}, name_sum{labels} and name_count{labels} lines.
  void render(std::string& out, const std::string& name, const std::string& labels) const;
  uint64_t count() const { return count_; }
  double sum() const { return sum_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative
  uint64_t count_ = 0;
  double sum_ = 0;
};

class Metrics {
 public:
  Metrics();

  // One answered HTTP request. `route` is a known route or "other" (keeps label sets bounded);
  // `seconds` < 0 when the handler never ran (404, 401, 413 ...): counted, not timed.
  void record_request(const std::string& route, int status, double seconds);
  // One batch of the batching worker.
  void record_batch(const BatchReport& report);
  // Queries answered by the search index.
  void record_search(int64_t queries, double seconds);

  // Gauges read at render time (queue depth, requests in flight, readiness).
  void set_gauge(const std::string& name, const std::string& help, std::function<double()> read);

  // The whole page.
  std::string render() const;

  // Totals, for tests and logs.
  int64_t forward_passes() const;
  int64_t batches() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;  // (route, status) -> count
  std::map<std::string, Histogram> latency_;                  // route -> seconds
  Histogram batch_inputs_;
  Histogram batch_requests_;
  Histogram batch_seconds_;
  Histogram search_seconds_;
  int64_t batches_ = 0;
  int64_t failed_batches_ = 0;
  int64_t forward_passes_ = 0;
  int64_t inputs_ = 0;
  int64_t tokens_ = 0;
  int64_t padded_tokens_ = 0;
  int64_t truncated_ = 0;
  int64_t search_queries_ = 0;
  struct Gauge {
    std::string name, help;
    std::function<double()> read;
  };
  std::vector<Gauge> gauges_;
};

}  // namespace sembed::serve
