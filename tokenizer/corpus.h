#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/normalizer.h"

namespace sembed {

// What to do with a line that is not valid UTF-8.
enum class InvalidLinePolicy {
  kSkip,     // drop it, count it, warn with file:line (first few)
  kReplace,  // replace the bad bytes with U+FFFD and keep going
  kError,    // stop with an error naming file:line
};

// Turns raw text (a document or paragraph per line) into one normalised sentence per line.
struct PrepareConfig {
  std::vector<std::string> inputs;  // text files ("-" = stdin)
  std::string output;               // written atomically
  bool split_sentences = false;     // ICU sentence splitting of each line
  NormalizerConfig normalizer;      // applied to every line before splitting
  int min_chars = 1;                // drop sentences shorter than this (code points)
  int max_chars = 0;                // drop sentences longer than this (0 = no limit)
  bool dedupe = false;              // drop exact repeats (64-bit hashes, bounded memory)
  InvalidLinePolicy on_invalid = InvalidLinePolicy::kSkip;
  int threads = 0;            // 0 = all cores
  size_t chunk_lines = 8192;  // lines normalised per parallel chunk

  void validate() const;
};

struct PrepareStats {
  int64_t lines_read = 0;  // input lines
  int64_t sentences = 0;   // candidate sentences after splitting
  int64_t written = 0;     // lines written
  int64_t dropped_duplicate = 0;
  int64_t dropped_short = 0;  // includes lines that are empty after normalisation
  int64_t dropped_long = 0;
  int64_t dropped_invalid = 0;   // invalid UTF-8 lines (kSkip)
  int64_t replaced_invalid = 0;  // lines with bytes replaced (kReplace)
};

// Streams every input once, in chunks; memory is bounded by the chunk size plus 16 bytes per
// distinct sentence when de-duplicating. Throws std::invalid_argument for bad config or (with
// kError) bad input, std::runtime_error for I/O failures. The output is never half-written.
PrepareStats prepare_corpus(const PrepareConfig& config, bool show_progress = true);

}  // namespace sembed
