#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace sembed {

// One fixed-format progress line for long work: "<label> <done>[/<total>] <unit> <rate>/s
// ETA <t> <extra>". On a terminal the line is redrawn in place a few times a second; otherwise
// (logs, CI) a plain line is printed every `plain_interval_s` seconds. Not thread-safe: call from
// the thread that drives the work.
class Progress {
 public:
  Progress(std::string label, int64_t total, std::string unit, double plain_interval_s = 10.0);
  ~Progress();

  // Reports `done` items so far; prints only when the interval has passed.
  void update(int64_t done, const std::string& extra = "");
  // Prints the final line (always) and ends the in-place line.
  void finish(int64_t done, const std::string& extra = "");
  double elapsed_seconds() const;
  // Items per second since start.
  double rate(int64_t done) const;

  // Formats seconds as "1h02m", "3m05s" or "12s".
  static std::string format_duration(double seconds);

 private:
  void print(int64_t done, const std::string& extra, bool final);

  std::string label_;
  int64_t total_;
  std::string unit_;
  double interval_s_;
  bool tty_;
  bool dirty_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_print_;
};

}  // namespace sembed
