#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace sembed {

// numpy's .npy format (version 1.0 written; 1.0-3.0 read): magic "\x93NUMPY", version, header
// length, a Python dict literal {'descr', 'fortran_order', 'shape'} padded so the data starts at a
// multiple of 64 bytes, then raw little-endian data. numpy.load and FAISS read it directly.
struct NpyHeader {
  std::string descr;  // e.g. "<f4", "|i1"
  bool fortran_order = false;
  std::vector<int64_t> shape;
  size_t data_offset = 0;  // bytes before the data
  int64_t numel() const;
};

// The full header (magic .. padding .. '\n') for a C-order array. The header is padded to at least
// `min_size` bytes (a multiple of 64) so it can be rewritten in place with a larger shape.
std::string npy_header(const std::string& descr, const std::vector<int64_t>& shape,
                       size_t min_size = 0);

// Parses and validates a header at the start of `bytes`. Throws std::runtime_error with a clear
// message for a bad magic, an unsupported version, a malformed dict or a truncated header.
NpyHeader parse_npy_header(std::string_view bytes);

// A float32 matrix read from a 2-D '<f4' .npy file (or a 1-D one as [n, 1]).
struct NpyMatrix {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<float> data;  // rows * cols, row-major
};
// Reads '<f4' or '|i1' (int8, multiplied by `int8_scale`) arrays. Checks that the file holds
// exactly the bytes the header promises. Throws std::runtime_error naming the path.
NpyMatrix read_npy_matrix(const std::string& path, float int8_scale = 1.0f);

// Streams rows of a 2-D array to `path` without knowing the row count up front: the header is
// written with room to spare and rewritten by finish(). Not atomic by itself (write it inside an
// AtomicDirectory or rename the file afterwards).
class NpyRowWriter {
 public:
  // `descr` is "<f4" or "|i1". Throws std::runtime_error when the file cannot be created.
  NpyRowWriter(const std::string& path, const std::string& descr, int64_t cols);
  // Appends `rows` rows of cols elements each (4 bytes per element for <f4, 1 for |i1).
  void append(const void* data, int64_t rows);
  // Rewrites the header with the final row count and closes the file.
  void finish();
  int64_t rows() const { return rows_; }

 private:
  std::string path_;
  std::string descr_;
  int64_t cols_;
  size_t elem_size_;
  size_t header_size_;
  int64_t rows_ = 0;
  std::ofstream out_;
};

}  // namespace sembed
