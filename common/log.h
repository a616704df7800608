#pragma once

#include <string>

namespace sembed {

// One small logging facade: messages go to stderr, prefixed with the level, one line each,
// serialised across threads. Progress lines (common/progress.h) share the same lock.
enum class LogLevel { kError = 0, kWarning = 1, kInfo = 2, kDebug = 3 };

void set_log_level(LogLevel level);
LogLevel log_level();
void log_message(LogLevel level, const std::string& message);

inline void log_error(const std::string& m) {
  log_message(LogLevel::kError, m);
}
inline void log_warning(const std::string& m) {
  log_message(LogLevel::kWarning, m);
}
inline void log_info(const std::string& m) {
  log_message(LogLevel::kInfo, m);
}
inline void log_debug(const std::string& m) {
  log_message(LogLevel::kDebug, m);
}

// Writes raw text to stderr under the log lock (used by progress lines).
void write_stderr_locked(const std::string& text);

}  // namespace sembed
