#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sembed {

// Splits a paragraph into sentences with ICU's sentence BreakIterator for "en@ss=standard",
// which suppresses breaks after common abbreviations ("Mr.", "e.g.", ...). Each sentence is
// trimmed; empty pieces are dropped. Holds an ICU iterator: NOT thread-safe; use one splitter per
// thread (construction is cheap, it clones a cached prototype).
class SentenceSplitter {
 public:
  // `locale` is an ICU locale id; the "ss=standard" keyword enables abbreviation suppression.
  explicit SentenceSplitter(const std::string& locale = "en@ss=standard");
  ~SentenceSplitter();
  SentenceSplitter(SentenceSplitter&&) noexcept;
  SentenceSplitter& operator=(SentenceSplitter&&) noexcept;

  // `text` must be valid UTF-8 (normalise first). Throws std::invalid_argument otherwise.
  std::vector<std::string> split(std::string_view text);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sembed
