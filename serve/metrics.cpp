#include "serve/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace sembed::serve {
namespace {

std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.10g", v);
  return buf;
}

void header(std::string& out, const std::string& name, const std::string& type,
            const std::string& help) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void counter(std::string& out, const std::string& name, const std::string& help, double value) {
  header(out, name, "counter", help);
  out += name + " " + number(value) + "\n";
}

std::vector<double> latency_bounds() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

std::vector<double> size_bounds() {
  return {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  ++counts_[i];
  ++count_;
  sum_ += value;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
  const std::string sep = labels.empty() ? "" : ",";
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i];
    const std::string le = i < bounds_.size() ? number(bounds_[i]) : "+Inf";
    out += name + "_bucket{" + labels + sep + "le=\"" + le + "\"} " + std::to_string(cumulative) +
           "\n";
  }
  const std::string braces = labels.empty() ? "" : "{" + labels + "}";
  out += name + "_sum" + braces + " " + number(sum_) + "\n";
  out += name + "_count" + braces + " " + std::to_string(count_) + "\n";
}

Metrics::Metrics()
    : batch_inputs_(size_bounds()),
      batch_requests_(size_bounds()),
      batch_seconds_(latency_bounds()),
      search_seconds_(latency_bounds()) {}

void Metrics::record_request(const std::string& route, int status, double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++requests_[{route, status}];
  if (seconds >= 0) {
    auto it = latency_.find(route);
    if (it == latency_.end()) it = latency_.emplace(route, Histogram(latency_bounds())).first;
    it->second.observe(seconds);
  }
}

void Metrics::record_batch(const BatchReport& r) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++batches_;
  if (r.failed) ++failed_batches_;
  forward_passes_ += r.forward_passes;
  inputs_ += r.inputs;
  tokens_ += r.tokens;
  padded_tokens_ += r.padded_tokens;
  truncated_ += r.truncated;
  // Inputs per forward pass: what batching buys.
  const int64_t passes = std::max<int64_t>(1, r.forward_passes);
  for (int64_t i = 0; i < passes; ++i)
    batch_inputs_.observe(static_cast<double>(r.inputs) / passes);
  batch_requests_.observe(r.requests);
  batch_seconds_.observe(r.seconds);
}

void Metrics::record_search(int64_t queries, double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  search_queries_ += queries;
  search_seconds_.observe(seconds);
}

void Metrics::set_gauge(const std::string& name, const std::string& help,
                        std::function<double()> read) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& g : gauges_) {
    if (g.name == name) {
      g.help = help;
      g.read = std::move(read);
      return;
    }
  }
  gauges_.push_back({name, help, std::move(read)});
}

int64_t Metrics::forward_passes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return forward_passes_;
}

int64_t Metrics::batches() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return batches_;
}

std::string Metrics::render() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  header(out, "sembed_requests_total", "counter", "HTTP requests answered, by route and status.");
  for (const auto& [key, count] : requests_)
    out += "sembed_requests_total{route=\"" + key.first + "\",status=\"" +
           std::to_string(key.second) + "\"} " + std::to_string(count) + "\n";
  header(out, "sembed_request_duration_seconds", "histogram",
         "Time in the route handler (parse, tokenize, queue, model, search, format), by route.");
  for (const auto& [route, h] : latency_)
    h.render(out, "sembed_request_duration_seconds", "route=\"" + route + "\"");

  header(out, "sembed_batch_size", "histogram", "Inputs per forward pass of the model.");
  batch_inputs_.render(out, "sembed_batch_size", "");
  header(out, "sembed_batch_requests", "histogram",
         "Requests served by one round of the batching worker.");
  batch_requests_.render(out, "sembed_batch_requests", "");
  header(out, "sembed_batch_duration_seconds", "histogram",
         "Model time per round of the batching worker.");
  batch_seconds_.render(out, "sembed_batch_duration_seconds", "");
  counter(out, "sembed_batches_total", "Rounds of the batching worker.", batches_);
  counter(out, "sembed_batches_failed_total", "Rounds whose model call failed.", failed_batches_);
  counter(out, "sembed_forward_passes_total", "Forward passes of the model.", forward_passes_);
  counter(out, "sembed_inputs_total", "Inputs embedded.", inputs_);
  counter(out, "sembed_tokens_total", "Tokens fed to the model, [CLS]/[SEP] included.", tokens_);
  counter(out, "sembed_padded_tokens_total", "Tokens fed to the model, padding included.",
          padded_tokens_);
  counter(out, "sembed_truncated_inputs_total", "Inputs cut to the model's max_len.", truncated_);
  counter(out, "sembed_search_queries_total", "Queries answered by the search index.",
          search_queries_);
  header(out, "sembed_search_duration_seconds", "histogram", "Index time per search call.");
  search_seconds_.render(out, "sembed_search_duration_seconds", "");
  for (const auto& g : gauges_) {
    header(out, g.name, "gauge", g.help);
    double v = 0;
    try {
      v = g.read ? g.read() : 0;
    } catch (...) {
      v = NAN;
    }
    out += g.name + " " + number(v) + "\n";
  }
  return out;
}

}  // namespace sembed::serve
