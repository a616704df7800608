#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace sembed {

// Reads a text file line by line in bounded memory. Strips the line terminator ("\n" or
// "\r\n"). "-" reads standard input. Not thread-safe.
class LineReader {
 public:
  // Throws std::runtime_error naming the path when it cannot be opened.
  explicit LineReader(const std::string& path);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // Reads the next line into `line`; false at end of input. Throws std::runtime_error on a read
  // error, or when the line holds a NUL byte (a binary file, most likely).
  bool next(std::string& line);
  // 1-based number of the line last returned by next().
  int64_t line_number() const { return line_number_; }
  // Bytes consumed so far (for progress against the file size).
  int64_t bytes_read() const { return bytes_read_; }
  // File size in bytes, or -1 when unknown (stdin, pipes).
  int64_t size_bytes() const { return size_bytes_; }
  const std::string& path() const { return path_; }
  // "path:line" of the line last returned, for error messages.
  std::string where() const;

 private:
  std::string path_;
  FILE* file_ = nullptr;
  bool owns_ = false;
  char* buffer_ = nullptr;
  size_t capacity_ = 0;
  int64_t line_number_ = 0;
  int64_t bytes_read_ = 0;
  int64_t size_bytes_ = -1;
};

}  // namespace sembed
