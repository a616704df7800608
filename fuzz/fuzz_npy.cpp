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

// One temporary file, rewritten for every input (in /dev/shm when there is one: no disk I/O).
const std::string& temp_path() {
  static const std::string path = [] {
    std::string tmpl = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    tmpl += "/sembed-fuzz-npy-XXXXXX";
    const int fd = mkstemp(tmpl.data());
    if (fd < 0) {
      std::perror("mkstemp");
      std::abort();
    }
    close(fd);
    std::atexit([] { std::remove(temp_path().c_str()); });
    return tmpl;
  }();
  return path;
}

void write_bytes(const std::string& path, const uint8_t* data, size_t size) {
  FILE* f = std::fopen(path.c_str(), "wb");
  FUZZ_CHECK(f != nullptr, "cannot write " + path);
  if (size > 0) FUZZ_CHECK(std::fwrite(data, 1, size, f) == size, "short write to " + path);
  std::fclose(f);
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

  const std::string& path = temp_path();
  write_bytes(path, data, size);
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
