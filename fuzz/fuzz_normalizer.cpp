// The ICU normaliser (tokenizer/normalizer.h) on arbitrary bytes. The first byte picks one of the
// 32 option combinations (bit 0 nfkc, 1 lowercase, 2 remove_control, 3 collapse_whitespace,
// 4 replace_invalid_utf8); the rest is the text. Invariants checked:
//  - malformed UTF-8 throws InvalidUtf8Error unless replace_invalid_utf8, and only then;
//  - the output is valid UTF-8;
//  - collapse_whitespace: no leading or trailing space, no two spaces in a row, no whitespace
//    other than ' ';
//  - remove_control: no control (Cc) or format (Cf) character in the output;
//  - idempotence: normalize(normalize(x)) == normalize(x).
#include <unicode/uchar.h>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/utf8.h"

namespace sembed {
namespace {

NormalizerConfig config_from_bits(unsigned bits) {
  NormalizerConfig c;
  c.nfkc = bits & 1u;
  c.lowercase = bits & 2u;
  c.remove_control = bits & 4u;
  c.collapse_whitespace = bits & 8u;
  c.replace_invalid_utf8 = bits & 16u;
  return c;
}

const Normalizer& normalizer(unsigned bits) {
  static const std::vector<std::unique_ptr<Normalizer>> all = [] {
    std::vector<std::unique_ptr<Normalizer>> v;
    for (unsigned b = 0; b < 32; ++b)
      v.push_back(std::make_unique<Normalizer>(config_from_bits(b)));
    return v;
  }();
  return *all[bits % 32];
}

// `s` with non-ASCII and control bytes escaped, for failure messages.
std::string escaped(std::string_view s) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

void check_output(const NormalizerConfig& c, std::string_view in, const std::string& out) {
  const std::string ctx = "\n  input:  \"" + escaped(in) + "\"\n  output: \"" + escaped(out) + "\"";
  FUZZ_CHECK(find_invalid_utf8(out) == std::string_view::npos, "output is not valid UTF-8" + ctx);
  if (c.collapse_whitespace) {
    FUZZ_CHECK(out.empty() || (out.front() != ' ' && out.back() != ' '),
               "leading or trailing space" + ctx);
    FUZZ_CHECK(out.find("  ") == std::string::npos, "two spaces in a row" + ctx);
  }
  for (size_t i = 0; i < out.size();) {
    size_t len = 0;
    const int32_t cp = decode_utf8(out, i, len);
    i += len;
    if (c.collapse_whitespace)
      FUZZ_CHECK(cp == ' ' || !(u_isUWhiteSpace(cp) || cp == '\t'),
                 "whitespace U+" + std::to_string(cp) + " left in the output" + ctx);
    if (c.remove_control) {
      const int8_t t = u_charType(cp);
      FUZZ_CHECK(t != U_CONTROL_CHAR && t != U_FORMAT_CHAR,
                 "control/format character U+" + std::to_string(cp) + " left in the output" + ctx);
    }
  }
}

}  // namespace
}  // namespace sembed

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sembed;
  if (size == 0) return 0;
  const unsigned bits = data[0];
  const Normalizer& n = normalizer(bits);
  const NormalizerConfig& c = n.config();
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  const bool valid = find_invalid_utf8(text) == std::string_view::npos;

  std::string out;
  try {
    out = n.normalize(text);
  } catch (const InvalidUtf8Error& e) {
    FUZZ_CHECK(!valid && !c.replace_invalid_utf8,
               std::string("InvalidUtf8Error for valid input or with replace_invalid_utf8: ") +
                   e.what() + "\n  input: \"" + escaped(text) + "\"");
    return 0;
  } catch (const std::exception& e) {
    FUZZ_CHECK(false, std::string("unexpected exception: ") + e.what());
  }
  FUZZ_CHECK(valid || c.replace_invalid_utf8,
             "malformed UTF-8 accepted without replace_invalid_utf8: \"" + escaped(text) + "\"");
  check_output(c, text, out);

  const std::string again = n.normalize(out);
  FUZZ_CHECK(again == out, "not idempotent (options " + std::to_string(bits % 32) +
                               ")\n  input:  \"" + escaped(text) + "\"\n  once:   \"" +
                               escaped(out) + "\"\n  twice:  \"" + escaped(again) + "\"");
  return 0;
}
