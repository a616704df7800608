#include "tokenizer/normalizer.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tokenizer/utf8.h"

namespace sembed {
namespace {

std::string normalize(std::string_view text, NormalizerConfig config = {}) {
  return Normalizer(config).normalize(text);
}

NormalizerConfig lowercase_config() {
  NormalizerConfig c;
  c.lowercase = true;
  return c;
}

// The offset InvalidUtf8Error reports for `text`, or -1 when nothing is thrown.
long invalid_offset(std::string_view text) {
  try {
    normalize(text);
  } catch (const InvalidUtf8Error& e) {
    return static_cast<long>(e.byte_offset());
  }
  return -1;
}

// ------------------------------------------------------------------------------ compatibility

TEST(NormalizerTest, FullwidthFormsBecomeAscii) {
  EXPECT_EQ(normalize("ＡＢＣ１２３"), "ABC123");
  EXPECT_EQ(normalize("ＡＢＣ１２３", lowercase_config()), "abc123");
}

TEST(NormalizerTest, LigaturesAreExpanded) {
  EXPECT_EQ(normalize("\uFB01ne"), "fine");  // U+FB01 LATIN SMALL LIGATURE FI
  EXPECT_EQ(normalize("\uFB00"), "ff");
}

TEST(NormalizerTest, ComposesDecomposedAccents) {
  // "e" + U+0301 COMBINING ACUTE ACCENT is canonically the precomposed U+00E9.
  EXPECT_EQ(normalize("caf"
                      "e\u0301"),
            "caf\u00E9");
}

TEST(NormalizerTest, WithoutNfkcCompatibilityFormsAreKept) {
  NormalizerConfig c;
  c.nfkc = false;
  EXPECT_EQ(normalize("ＡＢＣ\uFB01", c), "ＡＢＣ\uFB01");
}

// -------------------------------------------------------------------------------- case folding

TEST(NormalizerTest, CaseIsKeptUnlessLowercase) {
  EXPECT_EQ(normalize("Hello WORLD"), "Hello WORLD");
  EXPECT_EQ(normalize("Hello WORLD", lowercase_config()), "hello world");
  EXPECT_EQ(normalize("Straße"), "Straße");
}

TEST(NormalizerTest, LowercaseIsFullUnicodeCaseFolding) {
  // NFKC_Casefold folds, it does not lowercase: ß becomes "ss", and every sigma becomes σ
  // (folding has no word-final ς). Both are what ICU's NFKC_Casefold gives.
  EXPECT_EQ(normalize("Straße", lowercase_config()), "strasse");
  EXPECT_EQ(normalize("ΣΊΣΥΦΟΣ", lowercase_config()), "σίσυφοσ");
  EXPECT_EQ(normalize("ÉCOLE", lowercase_config()), "école");
}

TEST(NormalizerTest, CaseFoldingWithoutNfkc) {
  NormalizerConfig c;
  c.nfkc = false;
  c.lowercase = true;
  EXPECT_EQ(normalize("Straße ＡＢＣ", c), "strasse ａｂｃ") << "folded, but not NFKC-mapped";
}

// ------------------------------------------------------------------------ control and format

TEST(NormalizerTest, ControlCharactersAreRemoved) {
  EXPECT_EQ(normalize("bell\x07"
                      "ed"),
            "belled");
  EXPECT_EQ(normalize("a\x1b[0mb"), "a[0mb");
  EXPECT_EQ(normalize("a\u0085b"), "a b") << "NEL is a control but also whitespace";
}

TEST(NormalizerTest, FormatCharactersAreRemoved) {
  EXPECT_EQ(normalize("zero\u200Bwidth"), "zerowidth");    // ZERO WIDTH SPACE
  EXPECT_EQ(normalize("soft\u00ADhyphen"), "softhyphen");  // SOFT HYPHEN
  EXPECT_EQ(normalize("\uFEFFbom"), "bom");                // BYTE ORDER MARK
}

TEST(NormalizerTest, ControlCharactersKeptWhenAsked) {
  NormalizerConfig c;
  c.remove_control = false;
  EXPECT_EQ(normalize("a\x07"
                      "b",
                      c),
            "a\x07"
            "b");
  EXPECT_EQ(normalize("a\u200Bb", c), "a\u200Bb");
}

// ---------------------------------------------------------------------------------- whitespace

TEST(NormalizerTest, WhitespaceRunsCollapseToOneSpace) {
  EXPECT_EQ(normalize("a\t\tb"), "a b");
  EXPECT_EQ(normalize("a\u00A0b"), "a b");  // NO-BREAK SPACE
  EXPECT_EQ(normalize("a\u3000b"), "a b");  // IDEOGRAPHIC SPACE
  EXPECT_EQ(normalize("a\u2003b"), "a b");  // EM SPACE
  EXPECT_EQ(normalize("a\n\r\nb"), "a b");  // line breaks
  EXPECT_EQ(normalize("a \t\u00A0\u3000\n b"), "a b");
}

TEST(NormalizerTest, WhitespaceIsTrimmed) {
  EXPECT_EQ(normalize("  \t hello world \u3000\n"), "hello world");
  EXPECT_EQ(normalize(" \t\u00A0\u2003 "), "");
  EXPECT_EQ(normalize(""), "");
}

TEST(NormalizerTest, RemovedCharactersDoNotLeaveDoubleSpaces) {
  EXPECT_EQ(normalize("a \x07 b"), "a b");
  EXPECT_EQ(normalize("\u200B a \u200B"), "a");
}

TEST(NormalizerTest, CompatibilityMappingsThatProduceSpacesAreCollapsed) {
  // U+00A8 DIAERESIS maps to " " + U+0308 under NFKC: that space must not double up.
  const std::string out = normalize("a \u00A8");
  EXPECT_EQ(out.find("  "), std::string::npos) << out;
  EXPECT_EQ(out, "a \u0308");
}

TEST(NormalizerTest, WhitespaceKeptWhenNotCollapsing) {
  NormalizerConfig c;
  c.collapse_whitespace = false;
  c.remove_control = false;
  EXPECT_EQ(normalize(" a  b ", c), " a  b ");
}

// ---------------------------------------------------------------------------------- bad UTF-8

TEST(NormalizerTest, InvalidUtf8ThrowsWithTheByteOffset) {
  EXPECT_EQ(invalid_offset("ab\xFF"
                           "cd"),
            2)
      << "lone 0xFF";
  EXPECT_EQ(invalid_offset("abc\xE2\x82"), 3) << "truncated 3-byte sequence at the end";
  EXPECT_EQ(invalid_offset("abc\xE2\x82xyz"), 3) << "truncated 3-byte sequence in the middle";
  EXPECT_EQ(invalid_offset("\xC0\xAF"), 0) << "overlong encoding of '/'";
  EXPECT_EQ(invalid_offset("é\xED\xA0\x80"), 2) << "UTF-8-encoded surrogate U+D800";
  EXPECT_EQ(invalid_offset("\xF4\x90\x80\x80"), 0) << "beyond U+10FFFF";
  EXPECT_EQ(invalid_offset("ok \xE9t\xE9"), 3) << "Latin-1 text";
  EXPECT_EQ(invalid_offset("valid é ✓ 𝄞"), -1);
}

TEST(NormalizerTest, InvalidUtf8ErrorIsAnInvalidArgument) {
  EXPECT_THROW(normalize("\xFF"), std::invalid_argument);
  try {
    normalize("ab\xFF");
  } catch (const InvalidUtf8Error& e) {
    EXPECT_NE(std::string(e.what()).find("byte 2"), std::string::npos) << e.what();
  }
}

TEST(NormalizerTest, ReplaceInvalidUtf8UsesReplacementCharacter) {
  NormalizerConfig c;
  c.replace_invalid_utf8 = true;
  const std::string fffd = "\uFFFD";
  EXPECT_EQ(normalize("ab\xFF"
                      "cd",
                      c),
            "ab" + fffd + "cd");
  EXPECT_EQ(normalize("abc\xE2\x82", c), "abc" + fffd) << "one maximal subpart, one U+FFFD";
  // Unicode's recommended practice: each byte that cannot start or continue a sequence is its
  // own maximal subpart.
  EXPECT_EQ(normalize("\xC0\xAF", c), fffd + fffd);
  EXPECT_EQ(normalize("\xED\xA0\x80", c), fffd + fffd + fffd);
  EXPECT_EQ(normalize(" \xFF ", c), fffd) << "still trimmed";
}

// ------------------------------------------------------------------------ fast path vs. ICU

TEST(NormalizerTest, AsciiFastPathAgreesWithIcuPath) {
  // All of ASCII, with runs of spaces and controls in between. Prefixing U+200B (removed as a
  // format character) forces the ICU path without changing the expected result.
  std::string ascii = "  Mixed\tCASE\x01 text,\r\n with\x7f  punctuation!?";
  for (int c = 1; c < 128; ++c) ascii.push_back(static_cast<char>(c));
  ascii += "  tail  ";
  for (bool lowercase : {false, true}) {
    for (bool collapse : {false, true}) {
      for (bool nfkc : {false, true}) {
        NormalizerConfig c;
        c.lowercase = lowercase;
        c.collapse_whitespace = collapse;
        c.nfkc = nfkc;
        const Normalizer normalizer(c);
        EXPECT_EQ(normalizer.normalize("\u200B" + ascii), normalizer.normalize(ascii))
            << "lowercase=" << lowercase << " collapse=" << collapse << " nfkc=" << nfkc;
      }
    }
  }
}

TEST(NormalizerTest, MixedStringMatchesItsAsciiEquivalent) {
  // Fullwidth letters go through ICU and must come out exactly as the ASCII text does through
  // the fast path.
  for (bool lowercase : {false, true}) {
    NormalizerConfig c;
    c.lowercase = lowercase;
    const Normalizer normalizer(c);
    EXPECT_EQ(normalizer.normalize("  Ｈｅｌｌｏ,\t ＷＯＲＬＤ\x07 ４２ "),
              normalizer.normalize("  Hello,\t WORLD\x07 42 "))
        << "lowercase=" << lowercase;
  }
}

// ------------------------------------------------------------------------------------- general

TEST(NormalizerTest, IsIdempotent) {
  const Normalizer lower(lowercase_config()), plain;
  for (const std::string text :
       {"  ＡＢＣ \uFB01 Straße\u00A0ΣΊΣΥΦΟΣ\t\u200B!", "a \u00A8 b", "e\u0301\u0327"}) {
    EXPECT_EQ(plain.normalize(plain.normalize(text)), plain.normalize(text)) << text;
    EXPECT_EQ(lower.normalize(lower.normalize(text)), lower.normalize(text)) << text;
  }
}

TEST(NormalizerTest, ConcurrentCallsAgreeWithSerialOnes) {
  const Normalizer normalizer(lowercase_config());
  std::vector<std::string> texts;
  for (int i = 0; i < 200; ++i)
    texts.push_back("Ｌｉｎｅ " + std::to_string(i) + "\u00A0Straße\t\uFB01 " +
                    std::string(i % 7, ' '));
  std::vector<std::string> expected;
  for (const auto& t : texts) expected.push_back(normalizer.normalize(t));
  std::vector<std::vector<std::string>> results(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (const auto& text : texts) results[t].push_back(normalizer.normalize(text));
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(results[t], expected) << "thread " << t;
}

TEST(NormalizerTest, ConfigRoundTripsThroughJson) {
  NormalizerConfig c;
  c.nfkc = false;
  c.lowercase = true;
  c.remove_control = false;
  c.collapse_whitespace = false;
  c.replace_invalid_utf8 = true;
  const nlohmann::json j = c;
  const auto back = j.get<NormalizerConfig>();
  EXPECT_EQ(back.nfkc, false);
  EXPECT_EQ(back.lowercase, true);
  EXPECT_EQ(back.remove_control, false);
  EXPECT_EQ(back.collapse_whitespace, false);
  EXPECT_EQ(back.replace_invalid_utf8, true);
  // Missing keys take the defaults (configs written by older versions still load).
  const auto defaults = nlohmann::json::object().get<NormalizerConfig>();
  EXPECT_TRUE(defaults.nfkc);
  EXPECT_FALSE(defaults.lowercase);
}

TEST(NormalizerTest, IcuVersionLooksLikeAVersion) {
  const std::string v = icu_version();
  ASSERT_FALSE(v.empty());
  EXPECT_NE(v.find('.'), std::string::npos) << v;
}

}  // namespace
}  // namespace sembed
