#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace sembed {

// Thrown for malformed UTF-8. `byte_offset` is where the first bad sequence starts.
class InvalidUtf8Error : public std::invalid_argument {
 public:
  InvalidUtf8Error(const std::string& message, size_t byte_offset)
      : std::invalid_argument(message), byte_offset_(byte_offset) {}
  size_t byte_offset() const { return byte_offset_; }

 private:
  size_t byte_offset_;
};

// Decodes one code point at s[i] (strict UTF-8: no overlongs, no surrogates, <= U+10FFFF).
// Returns the code point and sets `len` to the bytes consumed, or returns -1 and sets `len` to the
// length of the maximal invalid subpart (>= 1), as the Unicode standard's U+FFFD practice says.
int32_t decode_utf8(std::string_view s, size_t i, size_t& len);

// Appends the UTF-8 encoding of code point `cp` to `out`.
void append_utf8(std::string& out, int32_t cp);

// Offset of the first malformed byte, or std::string_view::npos when `s` is valid UTF-8.
size_t find_invalid_utf8(std::string_view s);

// Number of code points in valid UTF-8 text.
size_t count_code_points(std::string_view s);

}  // namespace sembed
