#include "model/npy.h"

#include <cctype>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "common/atomic_file.h"

namespace sembed {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "sembed writes little-endian data");

namespace {

constexpr char kMagic[] = "\x93NUMPY";

[[noreturn]] void fail(const std::string& msg) {
  throw std::runtime_error("invalid .npy: " + msg);
}

std::string shape_literal(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

// A tiny parser for the header's Python dict literal.
class DictParser {
 public:
  explicit DictParser(std::string_view s) : s_(s) {}
  NpyHeader parse() {
    NpyHeader h;
    bool have_descr = false, have_order = false, have_shape = false;
    expect('{');
    while (true) {
      skip_ws();
      if (peek() == '}') {
        ++i_;
        break;
      }
      const std::string key = parse_string();
      expect(':');
      skip_ws();
      if (key == "descr") {
        h.descr = parse_string();
        have_descr = true;
      } else if (key == "fortran_order") {
        h.fortran_order = parse_bool();
        have_order = true;
      } else if (key == "shape") {
        h.shape = parse_shape();
        have_shape = true;
      } else {
        fail("unexpected header key '" + key + "'");
      }
      skip_ws();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      expect('}');
      break;
    }
    if (!have_descr || !have_order || !have_shape)
      fail("header lacks one of 'descr', 'fortran_order', 'shape'");
    return h;
  }

 private:
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skip_ws() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  void expect(char c) {
    skip_ws();
    if (peek() != c) fail(std::string("expected '") + c + "' in header");
    ++i_;
  }
  std::string parse_string() {
    skip_ws();
    const char q = peek();
    if (q != '\'' && q != '"') fail("expected a quoted string in header");
    ++i_;
    const size_t start = i_;
    while (i_ < s_.size() && s_[i_] != q) ++i_;
    if (i_ >= s_.size()) fail("unterminated string in header");
    return std::string(s_.substr(start, i_++ - start));
  }
  bool parse_bool() {
    if (s_.substr(i_, 4) == "True") {
      i_ += 4;
      return true;
    }
    if (s_.substr(i_, 5) == "False") {
      i_ += 5;
      return false;
    }
    fail("expected True or False in header");
  }
  std::vector<int64_t> parse_shape() {
    std::vector<int64_t> shape;
    expect('(');
    while (true) {
      skip_ws();
      if (peek() == ')') {
        ++i_;
        return shape;
      }
      if (!std::isdigit(static_cast<unsigned char>(peek()))) fail("bad shape in header");
      int64_t v = 0;
      while (std::isdigit(static_cast<unsigned char>(peek()))) {
        if (v > (int64_t{1} << 50)) fail("shape dimension too large");
        v = v * 10 + (s_[i_++] - '0');
      }
      shape.push_back(v);
      skip_ws();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      expect(')');
      return shape;
    }
  }
  std::string_view s_;
  size_t i_ = 0;
};

}  // namespace

int64_t NpyHeader::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string npy_header(const std::string& descr, const std::vector<int64_t>& shape,
                       size_t min_size) {
  std::string dict =
      "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape_literal(shape) + ", }";
  size_t total = 10 + dict.size() + 1;  // magic(6) + version(2) + len(2) + dict + '\n'
  size_t padded = (total + 63) / 64 * 64;
  if (padded < min_size) padded = (min_size + 63) / 64 * 64;
  dict.append(padded - total, ' ');
  dict.push_back('\n');
  const size_t len = dict.size();
  if (len > 65535) throw std::invalid_argument("npy header too long");
  std::string out(kMagic, 6);
  out.push_back('\x01');
  out.push_back('\x00');
  out.push_back(static_cast<char>(len & 0xFF));
  out.push_back(static_cast<char>(len >> 8));
  return out + dict;
}

NpyHeader parse_npy_header(std::string_view bytes) {
  if (bytes.size() < 10 || std::memcmp(bytes.data(), kMagic, 6) != 0)
    fail("bad magic (not a .npy file)");
  const int major = static_cast<unsigned char>(bytes[6]);
  size_t len, prefix;
  if (major == 1) {
    len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    prefix = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) fail("truncated header");
    len = 0;
    for (int i = 3; i >= 0; --i) len = (len << 8) | static_cast<unsigned char>(bytes[8 + i]);
    prefix = 12;
  } else {
    fail("unsupported version " + std::to_string(major));
  }
  if (len > bytes.size() - prefix) fail("truncated header");
  NpyHeader h = DictParser(bytes.substr(prefix, len)).parse();
  h.data_offset = prefix + len;
  int64_t numel = 1;
  for (int64_t d : h.shape) {
    if (d < 0) fail("negative dimension");
    if (__builtin_mul_overflow(numel, d, &numel)) fail("shape too large");  // numel() must fit
  }
  return h;
}

NpyMatrix read_npy_matrix(const std::string& path, float int8_scale) {
  const std::string bytes = read_file(path);
  NpyHeader h;
  try {
    h = parse_npy_header(bytes);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error("'" + path + "': " + e.what());
  }
  if (h.fortran_order)
    throw std::runtime_error("'" + path + "': Fortran-order arrays are not supported");
  if (h.shape.empty() || h.shape.size() > 2)
    throw std::runtime_error("'" + path + "': expected a 1-D or 2-D array");
  size_t elem;
  if (h.descr == "<f4") {
    elem = 4;
  } else if (h.descr == "|i1" || h.descr == "<i1") {
    elem = 1;
  } else {
    throw std::runtime_error("'" + path + "': dtype '" + h.descr +
                             "' is not supported (<f4 or |i1)");
  }
  NpyMatrix m;
  m.rows = h.shape[0];
  m.cols = h.shape.size() == 2 ? h.shape[1] : 1;
  // rows * cols fits int64 (parse_npy_header checks); times elem it may not.
  uint64_t need = 0;
  if (__builtin_mul_overflow(static_cast<uint64_t>(m.rows * m.cols), elem, &need))
    throw std::runtime_error("'" + path + "': its header promises more than 2^64 data bytes");
  if (bytes.size() - h.data_offset != need)
    throw std::runtime_error("'" + path + "': holds " +
                             std::to_string(bytes.size() - h.data_offset) +
                             " data bytes, its header promises " + std::to_string(need) +
                             " (truncated or corrupt file)");
  m.data.resize(static_cast<size_t>(m.rows * m.cols));
  const char* src = bytes.data() + h.data_offset;
  if (elem == 4) {
    if (need > 0) std::memcpy(m.data.data(), src, need);  // data() is null for an empty array
  } else {
    for (size_t i = 0; i < m.data.size(); ++i) m.data[i] = static_cast<int8_t>(src[i]) * int8_scale;
  }
  return m;
}

NpyRowWriter::NpyRowWriter(const std::string& path, const std::string& descr, int64_t cols)
    : path_(path), descr_(descr), cols_(cols) {
  if (descr == "<f4") {
    elem_size_ = 4;
  } else if (descr == "|i1") {
    elem_size_ = 1;
  } else {
    throw std::invalid_argument("NpyRowWriter: unsupported dtype " + descr);
  }
  // Room for a 19-digit row count: the rewrite in finish() never needs a bigger header.
  const std::string header = npy_header(descr_, {int64_t{1000000000000000000}, cols_});
  header_size_ = header.size();
  out_.open(path, std::ios::binary | std::ios::trunc);
  if (!out_) throw std::runtime_error("cannot create '" + path + "'");
  out_.write(header.data(), static_cast<std::streamsize>(header.size()));
}

void NpyRowWriter::append(const void* data, int64_t rows) {
  out_.write(static_cast<const char*>(data),
             static_cast<std::streamsize>(rows * cols_ * static_cast<int64_t>(elem_size_)));
  if (!out_) throw std::runtime_error("write failed for '" + path_ + "' (disk full?)");
  rows_ += rows;
}

void NpyRowWriter::finish() {
  const std::string header = npy_header(descr_, {rows_, cols_}, header_size_);
  if (header.size() != header_size_) throw std::logic_error("npy header size changed");
  out_.seekp(0);
  out_.write(header.data(), static_cast<std::streamsize>(header.size()));
  out_.close();
  if (out_.fail()) throw std::runtime_error("write failed for '" + path_ + "'");
}

}  // namespace sembed
