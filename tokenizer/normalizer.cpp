#include "tokenizer/normalizer.h"

#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/uversion.h>

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <vector>

#include "tokenizer/utf8.h"

namespace sembed {

void NormalizerConfig::validate() const {
  // Every combination is meaningful; kept for the uniform config contract.
}

void to_json(nlohmann::json& j, const NormalizerConfig& c) {
  j = nlohmann::json{{"nfkc", c.nfkc},
                     {"lowercase", c.lowercase},
                     {"remove_control", c.remove_control},
                     {"collapse_whitespace", c.collapse_whitespace},
                     {"replace_invalid_utf8", c.replace_invalid_utf8}};
}

void from_json(const nlohmann::json& j, NormalizerConfig& c) {
  NormalizerConfig d;
  c.nfkc = j.value("nfkc", d.nfkc);
  c.lowercase = j.value("lowercase", d.lowercase);
  c.remove_control = j.value("remove_control", d.remove_control);
  c.collapse_whitespace = j.value("collapse_whitespace", d.collapse_whitespace);
  c.replace_invalid_utf8 = j.value("replace_invalid_utf8", d.replace_invalid_utf8);
}

std::string icu_version() {
  return U_ICU_VERSION;
}

struct Normalizer::Impl {
  const icu::Normalizer2* norm2 = nullptr;  // owned by ICU, thread-safe
};

Normalizer::Normalizer(const NormalizerConfig& config) : config_(config), impl_(new Impl) {
  config_.validate();
  if (config_.nfkc) {
    UErrorCode status = U_ZERO_ERROR;
    impl_->norm2 = config_.lowercase ? icu::Normalizer2::getNFKCCasefoldInstance(status)
                                     : icu::Normalizer2::getNFKCInstance(status);
    if (U_FAILURE(status))
      throw std::runtime_error(std::string("ICU normalizer unavailable: ") + u_errorName(status));
  }
}

Normalizer::~Normalizer() = default;
Normalizer::Normalizer(Normalizer&&) noexcept = default;
Normalizer& Normalizer::operator=(Normalizer&&) noexcept = default;

namespace {

inline bool is_space(UChar32 c) {
  return u_isUWhiteSpace(c) || c == '\t';
}

inline bool is_control_or_format(UChar32 c) {
  const int8_t t = u_charType(c);
  return t == U_CONTROL_CHAR || t == U_FORMAT_CHAR;
}

// Whitespace collapsing and trimming over valid UTF-8; `lower_ascii` for the ASCII fast path.
void append_collapsed(std::string& out, std::string_view text, bool collapse, bool remove_control,
                      bool lower_ascii) {
  bool pending_space = false;
  for (size_t i = 0; i < text.size();) {
    size_t len = 1;
    int32_t cp = static_cast<unsigned char>(text[i]);
    if (cp >= 0x80) cp = decode_utf8(text, i, len);
    i += len;
    if (collapse && is_space(cp)) {
      pending_space = !out.empty();
      continue;
    }
    if (remove_control && is_control_or_format(cp)) continue;
    if (pending_space) {
      out.push_back(' ');
      pending_space = false;
    }
    if (lower_ascii && cp >= 'A' && cp <= 'Z') cp += 'a' - 'A';
    append_utf8(out, cp);
  }
}

}  // namespace

std::string Normalizer::normalize(std::string_view text) const {
  // Fast path: printable ASCII is its own NFKC form; only spaces and case need work.
  bool ascii = true;
  for (unsigned char c : text) {
    if (c >= 0x80) {
      ascii = false;
      break;
    }
  }
  std::string out;
  out.reserve(text.size());
  if (ascii) {
    append_collapsed(out, text, config_.collapse_whitespace, config_.remove_control,
                     config_.lowercase);
    return out;
  }

  // 1. Decode (strictly), dropping control/format characters and unifying whitespace before NFKC
  //    so that removed characters cannot split what NFKC composes.
  icu::UnicodeString u;
  for (size_t i = 0; i < text.size();) {
    size_t len;
    int32_t cp = decode_utf8(text, i, len);
    if (cp < 0) {
      if (!config_.replace_invalid_utf8)
        throw InvalidUtf8Error("invalid UTF-8 at byte " + std::to_string(i), i);
      cp = 0xFFFD;
    }
    i += len;
    if (config_.collapse_whitespace && is_space(cp)) {
      u.append(static_cast<UChar32>(' '));
      continue;
    }
    if (config_.remove_control && is_control_or_format(cp)) continue;
    u.append(static_cast<UChar32>(cp));
  }
  // 2. NFKC (with case folding when asked), or plain case folding without NFKC.
  if (impl_->norm2 != nullptr) {
    UErrorCode status = U_ZERO_ERROR;
    icu::UnicodeString n = impl_->norm2->normalize(u, status);
    if (U_FAILURE(status))
      throw std::runtime_error(std::string("ICU normalization failed: ") + u_errorName(status));
    u = std::move(n);
  } else if (config_.lowercase) {
    u.foldCase();
  }
  std::string utf8;
  u.toUTF8String(utf8);
  // 3. NFKC can produce spaces (e.g. U+00A8) and NFKC_Casefold may drop ignorables: collapse last.
  append_collapsed(out, utf8, config_.collapse_whitespace, config_.remove_control, false);
  return out;
}

}  // namespace sembed
