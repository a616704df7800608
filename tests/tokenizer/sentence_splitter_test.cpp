#include "tokenizer/sentence_splitter.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace sembed {
namespace {

using Sentences = std::vector<std::string>;

Sentences split(std::string_view text) {
  return SentenceSplitter().split(text);
}

TEST(SentenceSplitterTest, SplitsAtSentenceEnds) {
  EXPECT_EQ(split("The cat sat. The dog ran! Did it rain?"),
            (Sentences{"The cat sat.", "The dog ran!", "Did it rain?"}));
}

TEST(SentenceSplitterTest, AbbreviationsDoNotEndSentences) {
  EXPECT_EQ(split("Mr. Smith went to Washington. He arrived at noon."),
            (Sentences{"Mr. Smith went to Washington.", "He arrived at noon."}));
  EXPECT_EQ(split("Use a tool, e.g. a hammer. Then stop."),
            (Sentences{"Use a tool, e.g. a hammer.", "Then stop."}));
}

TEST(SentenceSplitterTest, ClosingQuotesStayWithTheirSentence) {
  EXPECT_EQ(split("He said \"Stop.\" Then he left."),
            (Sentences{"He said \"Stop.\"", "Then he left."}));
  EXPECT_EQ(split("She asked, \u201CWhere are you?\u201D Nobody answered."),
            (Sentences{"She asked, \u201CWhere are you?\u201D", "Nobody answered."}));
}

TEST(SentenceSplitterTest, CombinedTerminatorsEndOneSentence) {
  EXPECT_EQ(split("Really?! Yes."), (Sentences{"Really?!", "Yes."}));
  EXPECT_EQ(split("Wait... What?"), (Sentences{"Wait...", "What?"}));
}

TEST(SentenceSplitterTest, SentencesAreTrimmed) {
  EXPECT_EQ(split("   First one.    Second one.\t\u3000 "),
            (Sentences{"First one.", "Second one."}));
}

TEST(SentenceSplitterTest, TextWithoutTerminatorIsOneSentence) {
  EXPECT_EQ(split("no final punctuation here"), Sentences{"no final punctuation here"});
}

TEST(SentenceSplitterTest, EmptyOrBlankInputGivesNoSentences) {
  EXPECT_TRUE(split("").empty());
  EXPECT_TRUE(split("   \t ").empty());
}

TEST(SentenceSplitterTest, NonLatinScripts) {
  EXPECT_EQ(split("这是第一句。这是第二句。"), (Sentences{"这是第一句。", "这是第二句。"}));
}

TEST(SentenceSplitterTest, InvalidUtf8IsRejected) {
  EXPECT_THROW(split("Bad \xFF byte."), std::invalid_argument);
}

TEST(SentenceSplitterTest, ReusedSplitterStartsFreshEachCall) {
  SentenceSplitter splitter;
  EXPECT_EQ(splitter.split("One. Two."), (Sentences{"One.", "Two."}));
  EXPECT_EQ(splitter.split("Three."), Sentences{"Three."});
  EXPECT_TRUE(splitter.split("").empty());
  EXPECT_EQ(splitter.split("Four. Five."), (Sentences{"Four.", "Five."}));
}

TEST(SentenceSplitterTest, MovedSplitterStillWorks) {
  SentenceSplitter a;
  SentenceSplitter b(std::move(a));
  EXPECT_EQ(b.split("One. Two."), (Sentences{"One.", "Two."}));
}

}  // namespace
}  // namespace sembed
