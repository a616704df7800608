// Tokenizer encoding (tokenizer/tokenizer.h) on arbitrary bytes, with two small real SentencePiece
// models trained once at start-up (Tokenizer::train, ~1 s) from generated lines in a temporary
// directory that is removed again: a unigram model with the default normaliser and a BPE model
// with case folding that replaces malformed UTF-8. Nothing binary is committed.
//
// The first input byte picks the model (bit 0) and max_len (3 + (byte >> 1) % 40); the rest is the
// text. Checks: InvalidUtf8Error exactly for malformed input (default normaliser); ids are
// vocabulary ids but never [PAD]/[CLS]/[SEP]/[MASK]; encode == encode_normalized(normalize);
// encode_batch rows are [CLS] + the first max_len - 2 ids + [SEP] + padding, with the right
// mask, lengths and truncation flags; decode(encode(x)) == normalize(x) when no piece is [UNK]
// (and the text has no U+2581, see below).
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace sembed {
namespace {

constexpr int kVocab = 300;

// A few hundred lines of pseudo-words (shared sub-word pieces), digits, punctuation and some
// non-ASCII text, generated deterministically.
std::vector<std::string> training_lines() {
  static const char* syllables[] = {"ba", "ce", "di",  "fo", "gu", "ha", "je", "ki", "lo", "mu",
                                    "na", "pe", "qui", "ro", "su", "ti", "vo", "wa", "xe", "yu",
                                    "ze", "an", "el",  "is", "on", "ur", "st", "tr", "pl"};
  static const char* extra[] = {"café", "straße", "naïve",    "Ωmega",   "東京", "привет",
                                "ﬁn",   "½",      "Ｆｕｌｌ", "𝔘nicode", "año",  "€5"};
  static const char* separators[] = {" ", " ", " ", " ", ", ", "; ", ": ", " - ", " ("};
  static const char* ends[] = {".", "!", "?", "...", "?!", ")", "\""};
  std::mt19937 rng(7);
  auto pick = [&rng](size_t n) { return static_cast<size_t>(rng() % n); };
  std::vector<std::string> lines;
  for (int i = 0; i < 600; ++i) {
    std::string s;
    for (size_t w = 0, words = 3 + pick(8); w < words; ++w) {
      if (w > 0) s += separators[pick(9)];
      std::string word;
      if (pick(8) == 0) {
        word = std::to_string(pick(5000));
      } else if (pick(10) == 0) {
        word = extra[pick(12)];
      } else {
        for (size_t k = 1 + pick(4); k > 0; --k) word += syllables[pick(29)];
        if (pick(5) == 0) word[0] = static_cast<char>(word[0] - 'a' + 'A');
      }
      s += word;
    }
    lines.push_back(s + ends[pick(7)]);
  }
  return lines;
}

struct Models {
  std::vector<Tokenizer> tokenizers;
};

Models train_models() {
  char tmpl[] = "/tmp/sembed-fuzz-tokenizer-XXXXXX";
  const char* dir = mkdtemp(tmpl);
  if (dir == nullptr) {
    std::perror("mkdtemp");
    std::abort();
  }
  const std::string corpus = std::string(dir) + "/corpus.txt";
  {
    std::ofstream out(corpus);
    for (const std::string& line : training_lines()) out << line << "\n";
  }
  Models m;
  try {
    TokenizerConfig unigram;
    unigram.model_type = "unigram";
    unigram.vocab_size = kVocab;
    unigram.threads = 1;
    Tokenizer::train(corpus, std::string(dir) + "/unigram.model", unigram);
    m.tokenizers.push_back(Tokenizer::load(std::string(dir) + "/unigram.model"));

    TokenizerConfig bpe = unigram;
    bpe.model_type = "bpe";
    bpe.normalizer.lowercase = true;
    bpe.normalizer.replace_invalid_utf8 = true;
    Tokenizer::train(corpus, std::string(dir) + "/bpe.model", bpe);
    m.tokenizers.push_back(Tokenizer::load(std::string(dir) + "/bpe.model"));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_tokenizer: training failed: %s\n", e.what());
    std::abort();
  }
  std::filesystem::remove_all(dir);
  return m;
}

const Models& models() {
  static const Models m = train_models();
  return m;
}

// The longest prefix of valid UTF-8 `s` of at most `n` bytes that ends on a character boundary.
std::string_view utf8_prefix(std::string_view s, size_t n) {
  n = std::min(n, s.size());
  while (n > 0 && n < s.size() && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

void check_row(const TokenBatch& b, size_t row, const std::vector<int>& ids, int max_len) {
  const size_t room = static_cast<size_t>(max_len) - 2;
  const size_t kept = std::min(ids.size(), room);
  const std::string where = "row " + std::to_string(row) + " (max_len " + std::to_string(max_len) +
                            ", " + std::to_string(ids.size()) + " ids)";
  FUZZ_CHECK(b.lengths[row] == static_cast<int32_t>(kept + 2), "length of " + where);
  FUZZ_CHECK(b.lengths[row] <= max_len, "longer than max_len: " + where);
  FUZZ_CHECK(b.truncated[row] == (ids.size() > room ? 1 : 0), "truncation flag of " + where);
  const int64_t* r = b.ids.data() + row * b.seq_len;
  const uint8_t* m = b.mask.data() + row * b.seq_len;
  FUZZ_CHECK(r[0] == kClsId, "no [CLS] first in " + where);
  for (size_t k = 0; k < kept; ++k) FUZZ_CHECK(r[k + 1] == ids[k], "piece mismatch in " + where);
  FUZZ_CHECK(r[kept + 1] == kSepId, "no [SEP] after the pieces in " + where);
  for (int64_t k = 0; k < b.seq_len; ++k) {
    const bool real = k < static_cast<int64_t>(kept + 2);
    FUZZ_CHECK(m[k] == (real ? 1 : 0), "mask of " + where);
    if (!real) FUZZ_CHECK(r[k] == kPadId, "padding of " + where);
  }
}

}  // namespace
}  // namespace sembed

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  sembed::models();  // train before fuzzing starts
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sembed;
  if (size == 0) return 0;
  const Tokenizer& tok = models().tokenizers[data[0] & 1u];
  const int max_len = 3 + (data[0] >> 1) % 40;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  const bool valid = find_invalid_utf8(text) == std::string_view::npos;
  const bool replaces = tok.config().normalizer.replace_invalid_utf8;

  std::vector<int> ids;
  try {
    ids = tok.encode(text);
  } catch (const InvalidUtf8Error& e) {
    FUZZ_CHECK(!valid && !replaces, std::string("InvalidUtf8Error: ") + e.what());
    return 0;
  }
  FUZZ_CHECK(valid || replaces, "malformed UTF-8 encoded without replace_invalid_utf8");
  const int vocab = tok.vocab_size();
  FUZZ_CHECK(vocab == kVocab, "vocab_size " + std::to_string(vocab));
  bool unknown = false;
  for (int id : ids) {
    FUZZ_CHECK(id >= 0 && id < vocab, "id " + std::to_string(id) + " out of range");
    FUZZ_CHECK(id == kUnkId || id >= kNumSpecialTokens,
               "special token id " + std::to_string(id) + " from encode");
    unknown = unknown || id == kUnkId;
  }
  const std::string normalized = tok.normalizer().normalize(text);
  FUZZ_CHECK(tok.encode_normalized(normalized) == ids, "encode != encode_normalized(normalize)");
  // Known limitation, left to the project (reported, not fixed here): SentencePiece reads U+2581
  // ("▁", its whitespace meta symbol) in the text as a space, so decode gives ' ' back for it.
  const bool meta_space = normalized.find("\xE2\x96\x81") != std::string::npos;
  if (!unknown && !meta_space) {
    const std::string decoded = tok.decode(ids);
    FUZZ_CHECK(decoded == normalized,
               "decode(encode(x)) != normalize(x): \"" + decoded + "\" vs \"" + normalized + "\"");
  }

  // A batch of the text and a shorter one: padding, truncation and the mask.
  const std::string shorter(utf8_prefix(text, text.size() / 2));
  const std::vector<int> shorter_ids = tok.encode(shorter);
  const TokenBatch b = tok.encode_batch({text, shorter}, max_len, 1);
  FUZZ_CHECK(b.batch_size == 2 && b.lengths.size() == 2 && b.truncated.size() == 2, "batch size");
  FUZZ_CHECK(b.seq_len == std::max(b.lengths[0], b.lengths[1]), "seq_len is not the longest row");
  FUZZ_CHECK(b.ids.size() == static_cast<size_t>(2 * b.seq_len) && b.mask.size() == b.ids.size(),
             "ids/mask size");
  FUZZ_CHECK(b.num_tokens() == b.lengths[0] + b.lengths[1], "num_tokens");
  check_row(b, 0, ids, max_len);
  check_row(b, 1, shorter_ids, max_len);
  return 0;
}
