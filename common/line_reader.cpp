#include "common/line_reader.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "common/atomic_file.h"

namespace sembed {

LineReader::LineReader(const std::string& path) : path_(path) {
  if (path == "-") {
    file_ = stdin;
    return;
  }
  if (is_directory(path)) throw std::runtime_error("cannot read '" + path + "': it is a directory");
  file_ = std::fopen(path.c_str(), "rb");
  if (file_ == nullptr)
    throw std::runtime_error("cannot open '" + path + "': " + std::strerror(errno));
  owns_ = true;
  struct stat st;
  if (::fstat(fileno(file_), &st) == 0 && S_ISREG(st.st_mode)) size_bytes_ = st.st_size;
  std::setvbuf(file_, nullptr, _IOFBF, 1 << 20);
}

LineReader::~LineReader() {
  if (owns_ && file_ != nullptr) std::fclose(file_);
  std::free(buffer_);
}

bool LineReader::next(std::string& line) {
  ssize_t n = ::getline(&buffer_, &capacity_, file_);
  if (n < 0) {
    if (std::ferror(file_)) throw std::runtime_error("read error in '" + path_ + "'");
    return false;
  }
  ++line_number_;
  bytes_read_ += n;
  size_t len = static_cast<size_t>(n);
  if (len > 0 && buffer_[len - 1] == '\n') --len;
  if (len > 0 && buffer_[len - 1] == '\r') --len;
  if (std::memchr(buffer_, '\0', len) != nullptr)
    throw std::runtime_error(where() + ": line contains a NUL byte (binary input?)");
  line.assign(buffer_, len);
  return true;
}

std::string LineReader::where() const {
  return (path_ == "-" ? std::string("<stdin>") : path_) + ":" + std::to_string(line_number_);
}

}  // namespace sembed
