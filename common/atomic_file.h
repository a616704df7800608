#pragma once

#include <memory>
#include <ostream>
#include <string>
#include <string_view>

namespace sembed {

// Writes a file so that readers see either the previous content or the complete new content,
// never a partial file. Data goes to a temporary sibling ("<path>.tmp-XXXXXX"); commit() flushes,
// fsyncs and renames it over `path`. A writer destroyed without commit() (an exception, a
// failed run) removes its temporary. A process killed with -9 leaves only a "*.tmp-*" file
// behind, never anything under the final name. Not thread-safe.
class AtomicFile {
 public:
  // Throws std::runtime_error when the temporary cannot be created (missing directory, rights).
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  // The stream to write to (binary mode).
  std::ostream& stream();
  // Makes the content visible under the final path. Throws std::runtime_error on I/O failure
  // (the temporary is removed and the final path is left untouched).
  void commit();

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_path_; }

 private:
  struct Impl;
  std::string path_;
  std::string temp_path_;
  std::unique_ptr<Impl> impl_;
  bool committed_ = false;
};

// A directory assembled under a temporary sibling name ("<path>.tmp-XXXXXX") and then swapped
// into place in one rename (an existing directory at `path` is exchanged atomically and then
// deleted). Destroyed without commit(), the temporary directory and its content are removed.
class AtomicDirectory {
 public:
  explicit AtomicDirectory(std::string path);
  ~AtomicDirectory();
  AtomicDirectory(const AtomicDirectory&) = delete;
  AtomicDirectory& operator=(const AtomicDirectory&) = delete;

  // Where to write the directory's files before commit().
  const std::string& temp_path() const { return temp_path_; }
  const std::string& path() const { return path_; }
  // Throws std::runtime_error when the swap fails.
  void commit();

 private:
  std::string path_;
  std::string temp_path_;
  bool committed_ = false;
};

// Whole-file helpers. write_file_atomic goes through AtomicFile.
void write_file_atomic(const std::string& path, std::string_view content);
// Throws std::runtime_error naming the path when the file cannot be read.
std::string read_file(const std::string& path);
bool path_exists(const std::string& path);
bool is_directory(const std::string& path);
// mkdir -p; throws std::runtime_error on failure.
void make_directories(const std::string& path);
// rm -rf; missing paths are fine; throws std::runtime_error on failure.
void remove_all(const std::string& path);
// Copies a regular file (atomically at the destination).
void copy_file_atomic(const std::string& from, const std::string& to);
// fsyncs a directory so that renames inside it are durable.
void sync_directory(const std::string& dir);
std::string join_path(const std::string& a, const std::string& b);
std::string parent_directory(const std::string& path);

}  // namespace sembed
