// The .npy reader (model/npy.h) on arbitrary bytes: parse_npy_header from memory, and
// read_npy_matrix (which takes a path) on the same bytes written to a temporary file. Documented
// contract: both return a validated result or throw std::runtime_error. On success: the data
// offset lies inside the bytes, the matrix holds rows * cols values, and a header written by
// npy_header for the same dtype and shape parses back to the same thing.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "model/npy.h"

namespace sembed {
namespace {

// One temporary file, rewritten for every input (in /dev/shm when there is one: no disk I/O). It
// is unlinked at once and reached through /proc/self/fd, so nothing is left behind when libFuzzer
// ends the process (it skips atexit handlers) or an input crashes it.
int temp_fd() {
  static const int fd = [] {
    std::string tmpl = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    tmpl += "/sembed-fuzz-npy-XXXXXX";
    const int f = mkstemp(tmpl.data());
    if (f < 0) {
      std::perror("mkstemp");
      std::abort();
    }
    unlink(tmpl.c_str());
    return f;
  }();
  return fd;
}

// Replaces the temporary file's content with `data`; returns a path that opens it.
std::string write_temp(const uint8_t* data, size_t size) {
  const int fd = temp_fd();
  FUZZ_CHECK(ftruncate(fd, 0) == 0, "ftruncate failed");
  for (size_t done = 0; done < size;) {
    const ssize_t n = pwrite(fd, data + done, size - done, static_cast<off_t>(done));
    FUZZ_CHECK(n > 0, "write to the temporary file failed");
    done += static_cast<size_t>(n);
  }
  return "/proc/self/fd/" + std::to_string(fd);
}

void check_header(const NpyHeader& h, size_t size) {
  FUZZ_CHECK(h.data_offset >= 10 && h.data_offset <= size, "data offset outside the bytes");
  for (int64_t d : h.shape) FUZZ_CHECK(d >= 0, "negative dimension");
  // npy_header writes what the reader accepts (for the dtypes sembed writes).
  if ((h.descr == "<f4" || h.descr == "|i1") && h.shape.size() <= 32) {
    const std::string written = npy_header(h.descr, h.shape);
    FUZZ_CHECK(written.size() % 64 == 0, "written header is not 64-byte aligned");
    const NpyHeader back = parse_npy_header(written);
    FUZZ_CHECK(back.descr == h.descr && back.shape == h.shape && !back.fortran_order &&
                   back.data_offset == written.size(),
               "npy_header does not parse back");
  }
}

}  // namespace
}  // namespace sembed

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sembed;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  bool header_ok = false;
  try {
    check_header(parse_npy_header(bytes), size);
    header_ok = true;
  } catch (const std::runtime_error&) {
    // The documented refusal.
  }

  const std::string path = write_temp(data, size);
  try {
    const NpyMatrix m = read_npy_matrix(path, 0.5f);
    FUZZ_CHECK(header_ok, "read_npy_matrix accepted a header parse_npy_header refused");
    FUZZ_CHECK(m.rows >= 0 && m.cols >= 0, "negative rows or cols");
    FUZZ_CHECK(m.data.size() == static_cast<uint64_t>(m.rows) * static_cast<uint64_t>(m.cols),
               "data holds " + std::to_string(m.data.size()) + " values for " +
                   std::to_string(m.rows) + " x " + std::to_string(m.cols));
  } catch (const std::runtime_error&) {
    // The documented refusal.
  }
  return 0;
}
