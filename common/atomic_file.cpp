#include "common/atomic_file.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <vector>

namespace sembed {
namespace {

std::string errno_message(const std::string& what, const std::string& path) {
  return what + " '" + path + "': " + std::strerror(errno);
}

void fsync_path(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return;  // best effort: durability, not correctness, depends on it
  (void)::fsync(fd);
  ::close(fd);
}

}  // namespace

std::string join_path(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (a.back() == '/') return a + b;
  return a + "/" + b;
}

std::string parent_directory(const std::string& path) {
  auto parent = std::filesystem::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

void sync_directory(const std::string& dir) {
  fsync_path(dir, O_RDONLY | O_DIRECTORY);
}

struct AtomicFile::Impl {
  std::ofstream out;
};

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)), impl_(new Impl) {
  if (path_.empty()) throw std::invalid_argument("output path is empty");
  if (is_directory(path_))
    throw std::runtime_error("cannot write '" + path_ + "': it is a directory");
  std::vector<char> tmpl(path_.begin(), path_.end());
  const char suffix[] = ".tmp-XXXXXX";
  tmpl.insert(tmpl.end(), suffix, suffix + sizeof(suffix));
  int fd = ::mkstemp(tmpl.data());
  if (fd < 0) throw std::runtime_error(errno_message("cannot create a file next to", path_));
  ::fchmod(fd, 0644);
  ::close(fd);
  temp_path_ = tmpl.data();
  impl_->out.open(temp_path_, std::ios::binary | std::ios::trunc);
  if (!impl_->out) {
    ::unlink(temp_path_.c_str());
    throw std::runtime_error("cannot open '" + temp_path_ + "' for writing");
  }
}

AtomicFile::~AtomicFile() {
  if (!committed_) {
    impl_->out.close();
    ::unlink(temp_path_.c_str());
  }
}

std::ostream& AtomicFile::stream() {
  return impl_->out;
}

void AtomicFile::commit() {
  if (committed_) throw std::logic_error("AtomicFile::commit called twice");
  impl_->out.flush();
  const bool ok = static_cast<bool>(impl_->out);
  impl_->out.close();
  if (!ok || impl_->out.fail()) {
    ::unlink(temp_path_.c_str());
    committed_ = true;
    throw std::runtime_error("write failed for '" + path_ + "' (disk full?)");
  }
  fsync_path(temp_path_, O_RDONLY);
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    const std::string msg = errno_message("cannot rename temporary file onto", path_);
    ::unlink(temp_path_.c_str());
    committed_ = true;
    throw std::runtime_error(msg);
  }
  committed_ = true;
  sync_directory(parent_directory(path_));
}

AtomicDirectory::AtomicDirectory(std::string path) : path_(std::move(path)) {
  if (path_.empty()) throw std::invalid_argument("output directory is empty");
  while (path_.size() > 1 && path_.back() == '/') path_.pop_back();
  if (path_exists(path_) && !is_directory(path_))
    throw std::runtime_error("'" + path_ + "' exists and is not a directory");
  make_directories(parent_directory(path_));
  std::vector<char> tmpl(path_.begin(), path_.end());
  const char suffix[] = ".tmp-XXXXXX";
  tmpl.insert(tmpl.end(), suffix, suffix + sizeof(suffix));
  if (::mkdtemp(tmpl.data()) == nullptr)
    throw std::runtime_error(errno_message("cannot create a directory next to", path_));
  ::chmod(tmpl.data(), 0755);
  temp_path_ = tmpl.data();
}

AtomicDirectory::~AtomicDirectory() {
  if (!committed_) {
    std::error_code ec;
    std::filesystem::remove_all(temp_path_, ec);
  }
}

void AtomicDirectory::commit() {
  if (committed_) throw std::logic_error("AtomicDirectory::commit called twice");
  for (const auto& entry : std::filesystem::directory_iterator(temp_path_)) {
    if (entry.is_regular_file()) fsync_path(entry.path().string(), O_RDONLY);
  }
  sync_directory(temp_path_);
  if (is_directory(path_)) {
    // Swap both names in one step so that `path_` is never missing nor half-written, then delete
    // the old content (now under the temporary name).
    if (::renameat2(AT_FDCWD, temp_path_.c_str(), AT_FDCWD, path_.c_str(), RENAME_EXCHANGE) != 0) {
      // Filesystems without RENAME_EXCHANGE: move the old one aside first.
      std::string aside = temp_path_ + ".old";
      if (::rename(path_.c_str(), aside.c_str()) != 0)
        throw std::runtime_error(errno_message("cannot move aside existing directory", path_));
      if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
        const std::string msg = errno_message("cannot rename temporary directory onto", path_);
        ::rename(aside.c_str(), path_.c_str());
        throw std::runtime_error(msg);
      }
      committed_ = true;
      remove_all(aside);
    } else {
      committed_ = true;
      remove_all(temp_path_);
    }
  } else {
    if (::rename(temp_path_.c_str(), path_.c_str()) != 0)
      throw std::runtime_error(errno_message("cannot rename temporary directory onto", path_));
    committed_ = true;
  }
  sync_directory(parent_directory(path_));
}

void write_file_atomic(const std::string& path, std::string_view content) {
  AtomicFile file(path);
  file.stream().write(content.data(), static_cast<std::streamsize>(content.size()));
  file.commit();
}

std::string read_file(const std::string& path) {
  if (is_directory(path)) throw std::runtime_error("cannot read '" + path + "': it is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open '" + path + "': " + std::strerror(errno));
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw std::runtime_error("error while reading '" + path + "'");
  return data;
}

bool path_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

bool is_directory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

void make_directories(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec && !is_directory(path))
    throw std::runtime_error("cannot create directory '" + path + "': " + ec.message());
}

void remove_all(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) throw std::runtime_error("cannot remove '" + path + "': " + ec.message());
}

void copy_file_atomic(const std::string& from, const std::string& to) {
  write_file_atomic(to, read_file(from));
}

}  // namespace sembed
