#include "common/log.h"

#include <atomic>
#include <cstdio>
#include <mutex>

namespace sembed {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::mutex g_mutex;

const char* level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kError:
      return "error";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kDebug:
      return "debug";
  }
  return "?";
}

}  // namespace

void set_log_level(LogLevel level) {
  g_level = static_cast<int>(level);
}
LogLevel log_level() {
  return static_cast<LogLevel>(g_level.load());
}

void log_message(LogLevel level, const std::string& message) {
  if (static_cast<int>(level) > g_level.load()) return;
  std::lock_guard<std::mutex> lock(g_mutex);
  std::fprintf(stderr, "[sembed %s] %s\n", level_name(level), message.c_str());
  std::fflush(stderr);
}

void write_stderr_locked(const std::string& text) {
  std::lock_guard<std::mutex> lock(g_mutex);
  std::fputs(text.c_str(), stderr);
  std::fflush(stderr);
}

}  // namespace sembed
