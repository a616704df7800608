#include "tokenizer/corpus.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/test_support.h"

namespace sembed {
namespace {

using test::read_text;
using test::write_text;

class PrepareCorpusTest : public ::testing::Test {
 protected:
  // A config reading `input.txt` (written with `text`) into `output.txt`.
  PrepareConfig config_for(const std::string& text) {
    write_text(input(), text);
    PrepareConfig config;
    config.inputs = {input()};
    config.output = output();
    config.threads = 2;
    return config;
  }
  std::string input() const { return dir_.file("input.txt"); }
  std::string output() const { return dir_.file("output.txt"); }
  // Names in the scratch directory: a failed run must not leave a temporary behind.
  std::vector<std::string> files() const {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir_.path()))
      names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  test::ScratchDir dir_{"corpus"};
};

TEST_F(PrepareCorpusTest, CountsEveryKindOfDroppedLine) {
  PrepareConfig config = config_for(
      "Hello world.\n"
      "  Hello\tworld.  \n"  // the same sentence once normalised
      "\n"
      "ab\n"
      "This line is far too long to keep.\n"
      "bad \xFF byte\n"
      "Second line.\n"
      "Hello world.\n"
      "\u200B\n");  // empty once the format character is removed
  config.dedupe = true;
  config.min_chars = 3;
  config.max_chars = 20;
  const PrepareStats stats = prepare_corpus(config, false);
  EXPECT_EQ(stats.lines_read, 9);
  EXPECT_EQ(stats.sentences, 8) << "every valid line is one candidate sentence";
  EXPECT_EQ(stats.written, 2);
  EXPECT_EQ(stats.dropped_duplicate, 2);
  EXPECT_EQ(stats.dropped_short, 3);
  EXPECT_EQ(stats.dropped_long, 1);
  EXPECT_EQ(stats.dropped_invalid, 1);
  EXPECT_EQ(stats.replaced_invalid, 0);
  EXPECT_EQ(read_text(output()), "Hello world.\nSecond line.\n");
}

TEST_F(PrepareCorpusTest, DuplicatesAreKeptWithoutDedupe) {
  PrepareConfig config = config_for("Same.\nSame.\n Same. \n");
  const PrepareStats stats = prepare_corpus(config, false);
  EXPECT_EQ(stats.written, 3);
  EXPECT_EQ(stats.dropped_duplicate, 0);
  EXPECT_EQ(read_text(output()), "Same.\nSame.\nSame.\n");
}

TEST_F(PrepareCorpusTest, NormalisesEveryLine) {
  PrepareConfig config = config_for("ＡＢＣ１２３\r\n\uFB01ne\ttuned\u00A0text\n");
  prepare_corpus(config, false);
  EXPECT_EQ(read_text(output()), "ABC123\nfine tuned text\n");
}

TEST_F(PrepareCorpusTest, LowercaseIsApplied) {
  PrepareConfig config = config_for("Straße IS Long\n");
  config.normalizer.lowercase = true;
  prepare_corpus(config, false);
  EXPECT_EQ(read_text(output()), "strasse is long\n");
}

TEST_F(PrepareCorpusTest, LengthLimitsCountCodePointsNotBytes) {
  PrepareConfig config = config_for("éé\néééé\nééééé\n");  // 2, 4 and 5 code points
  config.min_chars = 3;
  config.max_chars = 4;
  const PrepareStats stats = prepare_corpus(config, false);
  EXPECT_EQ(read_text(output()), "éééé\n");
  EXPECT_EQ(stats.dropped_short, 1);
  EXPECT_EQ(stats.dropped_long, 1);
}

TEST_F(PrepareCorpusTest, SplitsSentences) {
  PrepareConfig config =
      config_for("Mr. Smith went to Washington. He arrived at noon.\nOne. Two.\n");
  config.split_sentences = true;
  const PrepareStats stats = prepare_corpus(config, false);
  EXPECT_EQ(stats.lines_read, 2);
  EXPECT_EQ(stats.sentences, 4);
  EXPECT_EQ(stats.written, 4);
  EXPECT_EQ(read_text(output()),
            "Mr. Smith went to Washington.\nHe arrived at noon.\nOne.\nTwo.\n");
}

TEST_F(PrepareCorpusTest, SplitsSentencesBeforeLowercasing) {
  // ICU finds sentence ends partly by the capital letter that follows; folding case first
  // would hide every one of them.
  PrepareConfig config = config_for("Mr. Smith went to Washington. He arrived at noon.\n");
  config.split_sentences = true;
  config.normalizer.lowercase = true;
  const PrepareStats stats = prepare_corpus(config, false);
  EXPECT_EQ(stats.written, 2);
  EXPECT_EQ(read_text(output()), "mr. smith went to washington.\nhe arrived at noon.\n");
}

TEST_F(PrepareCorpusTest, EmptyLinesCountAsTooShortWhenSplitting) {
  PrepareConfig config = config_for("One.\n\n   \nTwo.\n");
  config.split_sentences = true;
  const PrepareStats stats = prepare_corpus(config, false);
  EXPECT_EQ(stats.written, 2);
  EXPECT_EQ(stats.dropped_short, 2) << "as documented, and as without --split-sentences";
  EXPECT_EQ(stats.sentences, stats.written + stats.dropped_short);
}

TEST_F(PrepareCorpusTest, InvalidLinesAreSkippedByDefault) {
  PrepareConfig config = config_for("good\nbad \xFF\nalso good\n");
  const PrepareStats stats = prepare_corpus(config, false);
  EXPECT_EQ(stats.dropped_invalid, 1);
  EXPECT_EQ(read_text(output()), "good\nalso good\n");
}

TEST_F(PrepareCorpusTest, InvalidBytesCanBeReplaced) {
  PrepareConfig config = config_for("good\nbad \xFF byte\n");
  config.on_invalid = InvalidLinePolicy::kReplace;
  const PrepareStats stats = prepare_corpus(config, false);
  EXPECT_EQ(stats.replaced_invalid, 1);
  EXPECT_EQ(stats.dropped_invalid, 0);
  EXPECT_EQ(stats.written, 2);
  EXPECT_EQ(read_text(output()), "good\nbad \uFFFD byte\n");
}

TEST_F(PrepareCorpusTest, InvalidLineErrorNamesFileLineAndByte) {
  PrepareConfig config = config_for("one\ntwo\nthree\nfour\nbad \xFF\nsix\n");
  config.on_invalid = InvalidLinePolicy::kError;
  config.chunk_lines = 2;  // the bad line is in the third chunk: line numbers must carry over
  try {
    prepare_corpus(config, false);
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(input() + ":5"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("byte 4"), std::string::npos) << e.what();
  }
  EXPECT_EQ(files(), std::vector<std::string>{"input.txt"}) << "no output, no temporary";
}

TEST_F(PrepareCorpusTest, FailedRunKeepsThePreviousOutput) {
  PrepareConfig config = config_for("fine\nbad \xFF\n");
  write_text(output(), "previous result\n");
  config.on_invalid = InvalidLinePolicy::kError;
  EXPECT_THROW(prepare_corpus(config, false), std::invalid_argument);
  EXPECT_EQ(read_text(output()), "previous result\n");
  EXPECT_EQ(files(), (std::vector<std::string>{"input.txt", "output.txt"}));
}

TEST_F(PrepareCorpusTest, MissingInputThrowsAndWritesNothing) {
  PrepareConfig config = config_for("");
  config.inputs = {dir_.file("absent.txt")};
  try {
    prepare_corpus(config, false);
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("absent.txt"), std::string::npos) << e.what();
  }
  EXPECT_EQ(files(), std::vector<std::string>{"input.txt"});
}

TEST_F(PrepareCorpusTest, SeveralInputsAreReadInOrderAndDedupedTogether) {
  PrepareConfig config = config_for("a first\nshared\n");
  write_text(dir_.file("second.txt"), "shared\nz last\n");
  config.inputs.push_back(dir_.file("second.txt"));
  config.dedupe = true;
  const PrepareStats stats = prepare_corpus(config, false);
  EXPECT_EQ(stats.lines_read, 4);
  EXPECT_EQ(stats.dropped_duplicate, 1);
  EXPECT_EQ(read_text(output()), "a first\nshared\nz last\n");
}

TEST_F(PrepareCorpusTest, OutputDoesNotDependOnThreadsOrChunks) {
  std::string text;
  for (const auto& s : test::synthetic_corpus(600, 7)) text += s + " " + s + "\n";
  PrepareConfig config = config_for(text);
  config.split_sentences = true;
  config.dedupe = true;
  config.threads = 1;
  const PrepareStats serial = prepare_corpus(config, false);
  const std::string expected = read_text(output());
  config.threads = 4;
  config.chunk_lines = 7;
  const PrepareStats parallel = prepare_corpus(config, false);
  EXPECT_EQ(read_text(output()), expected);
  EXPECT_EQ(parallel.written, serial.written);
  EXPECT_EQ(parallel.dropped_duplicate, serial.dropped_duplicate);
  EXPECT_GE(serial.dropped_duplicate, 600) << "every line repeats its sentence";
}

TEST_F(PrepareCorpusTest, InvalidConfigIsRejectedBeforeAnythingIsWritten) {
  const PrepareConfig valid = config_for("text\n");
  auto expect_rejected = [&](PrepareConfig config, const std::string& why) {
    EXPECT_THROW(prepare_corpus(config, false), std::invalid_argument) << why;
    EXPECT_FALSE(std::filesystem::exists(output())) << why;
  };
  PrepareConfig c = valid;
  c.inputs.clear();
  expect_rejected(c, "no input");
  c = valid;
  c.output.clear();
  expect_rejected(c, "no output");
  c = valid;
  c.output = input();
  expect_rejected(c, "output overwrites its input");
  c = valid;
  c.min_chars = -1;
  expect_rejected(c, "negative min_chars");
  c = valid;
  c.min_chars = 10;
  c.max_chars = 5;
  expect_rejected(c, "max_chars < min_chars");
  c = valid;
  c.chunk_lines = 0;
  expect_rejected(c, "zero chunk");
  EXPECT_EQ(read_text(input()), "text\n");
}

}  // namespace
}  // namespace sembed
