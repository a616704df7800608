#include "common/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

#include "common/log.h"

namespace sembed {

Progress::Progress(std::string label, int64_t total, std::string unit, double plain_interval_s)
    : label_(std::move(label)),
      total_(total),
      unit_(std::move(unit)),
      interval_s_(plain_interval_s),
      tty_(::isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()),
      last_print_(start_) {
  if (tty_) interval_s_ = 0.25;
}

Progress::~Progress() {
  if (dirty_) write_stderr_locked("\n");
}

double Progress::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

double Progress::rate(int64_t done) const {
  double s = elapsed_seconds();
  return s > 0 ? static_cast<double>(done) / s : 0.0;
}

std::string Progress::format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  long s = std::lround(seconds);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof(buf), "%ldh%02ldm", s / 3600, (s / 60) % 60);
  else if (s >= 60)
    std::snprintf(buf, sizeof(buf), "%ldm%02lds", s / 60, s % 60);
  else
    std::snprintf(buf, sizeof(buf), "%lds", s);
  return buf;
}

void Progress::update(int64_t done, const std::string& extra) {
  auto now = std::chrono::steady_clock::now();
  if (std::chrono::duration<double>(now - last_print_).count() < interval_s_) return;
  last_print_ = now;
  print(done, extra, false);
}

void Progress::finish(int64_t done, const std::string& extra) {
  print(done, extra, true);
}

void Progress::print(int64_t done, const std::string& extra, bool final) {
  if (log_level() < LogLevel::kInfo) return;  // --quiet: warnings and errors only
  const double r = rate(done);
  char buf[256];
  std::string line = label_ + " " + std::to_string(done);
  if (total_ > 0) line += "/" + std::to_string(total_);
  std::snprintf(buf, sizeof(buf), " %s %.1f/s", unit_.c_str(), r);
  line += buf;
  if (final) {
    line += " in " + format_duration(elapsed_seconds());
  } else if (total_ > 0 && r > 0) {
    line += " ETA " + format_duration(static_cast<double>(total_ - done) / r);
  }
  if (!extra.empty()) line += " " + extra;
  if (tty_) {
    write_stderr_locked("\r\033[K" + line + (final ? "\n" : ""));
    dirty_ = !final;
  } else {
    write_stderr_locked(line + "\n");
  }
}

}  // namespace sembed
