#include "tokenizer/sentence_splitter.h"

#include <unicode/brkiter.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include <stdexcept>

#include "tokenizer/utf8.h"

namespace sembed {

struct SentenceSplitter::Impl {
  std::unique_ptr<icu::BreakIterator> iter;
};

SentenceSplitter::SentenceSplitter(const std::string& locale) : impl_(new Impl) {
  UErrorCode status = U_ZERO_ERROR;
  impl_->iter.reset(
      icu::BreakIterator::createSentenceInstance(icu::Locale(locale.c_str()), status));
  if (U_FAILURE(status) || !impl_->iter)
    throw std::runtime_error("ICU sentence break iterator unavailable for locale '" + locale +
                             "': " + u_errorName(status));
}

SentenceSplitter::~SentenceSplitter() = default;
SentenceSplitter::SentenceSplitter(SentenceSplitter&&) noexcept = default;
SentenceSplitter& SentenceSplitter::operator=(SentenceSplitter&&) noexcept = default;

std::vector<std::string> SentenceSplitter::split(std::string_view text) {
  if (find_invalid_utf8(text) != std::string_view::npos)
    throw std::invalid_argument("sentence splitter: text is not valid UTF-8");
  icu::UnicodeString u = icu::UnicodeString::fromUTF8(
      icu::StringPiece(text.data(), static_cast<int32_t>(text.size())));
  impl_->iter->setText(u);
  std::vector<std::string> out;
  int32_t start = impl_->iter->first();
  for (int32_t end = impl_->iter->next(); end != icu::BreakIterator::DONE;
       start = end, end = impl_->iter->next()) {
    int32_t b = start, e = end;
    while (b < e && u_isUWhiteSpace(u.char32At(b))) b = u.moveIndex32(b, 1);
    while (e > b) {
      int32_t prev = u.moveIndex32(e, -1);
      if (!u_isUWhiteSpace(u.char32At(prev))) break;
      e = prev;
    }
    if (b >= e) continue;
    std::string piece;
    u.tempSubStringBetween(b, e).toUTF8String(piece);
    out.push_back(std::move(piece));
  }
  return out;
}

}  // namespace sembed
