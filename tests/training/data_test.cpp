// Dataset loading and batch sampling.
#include <gtest/gtest.h>

#include <set>

#include "tests/test_support.h"
#include "tests/training/training_fixture.h"
#include "training/data.h"

namespace sembed {
namespace {

using test::ScratchDir;
using test::write_text;

TEST(Data, LinesAreNormalisedTokenisedAndDeduplicated) {
  ScratchDir dir("data");
  const Tokenizer& tok = test::tiny_tokenizer();
  write_text(dir.file("lines.txt"),
             "The cat watches a red house.\n\nthe  cat watches a red house.\n"
             "The cat watches a red house.\nA dog follows the river.\n");
  DatasetStats stats;
  auto ex = load_examples({dir.file("lines.txt")}, DataFormat::kLines, tok, &stats, 2);
  EXPECT_EQ(stats.lines, 5);
  EXPECT_EQ(stats.duplicates, 1);  // exact repeat after normalisation (double space collapsed)
  EXPECT_EQ(stats.skipped_empty, 1);
  ASSERT_EQ(ex.size(), 3u);  // "the  cat" differs by case from "The cat"
  EXPECT_EQ(ex[0].texts[0], tok.encode("The cat watches a red house."));
}

TEST(Data, BadDataNamesFileAndLine) {
  ScratchDir dir("data");
  const Tokenizer& tok = test::tiny_tokenizer();
  write_text(dir.file("empty.txt"), "\n\n");
  EXPECT_THROW(load_examples({dir.file("empty.txt")}, DataFormat::kLines, tok),
               std::invalid_argument);
  write_text(dir.file("triplets.txt"), "a cat\ta dog\tthe river\njust one column\n");
  try {
    load_examples({dir.file("triplets.txt")}, DataFormat::kTriplets, tok);
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("triplets.txt:2"), std::string::npos) << e.what();
  }
  write_text(dir.file("utf8.txt"), "fine line\nanother fine line\nbad \xff byte\n");
  try {
    load_examples({dir.file("utf8.txt")}, DataFormat::kLines, tok);
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("utf8.txt:3"), std::string::npos) << e.what();
  }
  write_text(dir.file("scores.txt"), "a cat\ta dog\t3.5\na cat\ta bird\tlots\n");
  try {
    load_examples({dir.file("scores.txt")}, DataFormat::kScoredPairs, tok);
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("scores.txt:2"), std::string::npos) << e.what();
  }
}

TEST(Data, ScoredPairsReadStsbReleaseFormat) {
  ScratchDir dir("data");
  const Tokenizer& tok = test::tiny_tokenizer();
  write_text(dir.file("sts.csv"),
             "main-captions\tMSRvid\t2012test\t0001\t5.000\tA cat runs.\tA cat is running.\textra\n"
             "main-captions\tMSRvid\t2012test\t0002\t1.250\tA dog sits.\tThe sea is blue.\n");
  auto ex = load_examples({dir.file("sts.csv")}, DataFormat::kScoredPairs, tok);
  ASSERT_EQ(ex.size(), 2u);
  EXPECT_FLOAT_EQ(ex[0].score, 5.0f);
  EXPECT_FLOAT_EQ(ex[1].score, 1.25f);
  EXPECT_EQ(ex[1].texts[1], tok.encode("The sea is blue."));
  EXPECT_EQ(ex[0].source, 0);
  // A second file: its examples carry its index (cosent --cosent-within-files groups by it).
  write_text(dir.file("more.tsv"), "A bird flies.\tA bird is flying.\t4.5\n");
  auto both =
      load_examples({dir.file("sts.csv"), dir.file("more.tsv")}, DataFormat::kScoredPairs, tok);
  ASSERT_EQ(both.size(), 3u);
  EXPECT_EQ(both[1].source, 0);
  EXPECT_EQ(both[2].source, 1);
  EXPECT_FLOAT_EQ(both[2].score, 4.5f);
}

// The fingerprint --resume compares: stable for the same data, changed by any text, score or
// order change.
TEST(Data, FingerprintTracksTextsScoresAndOrder) {
  ScratchDir dir("data");
  const Tokenizer& tok = test::tiny_tokenizer();
  auto load = [&](const std::string& text) {
    write_text(dir.file("pairs.tsv"), text);
    return examples_fingerprint(
        load_examples({dir.file("pairs.tsv")}, DataFormat::kScoredPairs, tok));
  };
  const uint64_t base =
      load("A cat runs.\tA cat is running.\t4.5\nA dog sits.\tThe sea is blue.\t1\n");
  EXPECT_EQ(load("A cat runs.\tA cat is running.\t4.5\nA dog sits.\tThe sea is blue.\t1\n"), base);
  EXPECT_NE(load("A cat runs.\tA cat is running.\t4.0\nA dog sits.\tThe sea is blue.\t1\n"), base);
  EXPECT_NE(load("A cat runs.\tA cat is running.\t4.5\nA dog sits.\tThe sea is green.\t1\n"), base);
  EXPECT_NE(load("A dog sits.\tThe sea is blue.\t1\nA cat runs.\tA cat is running.\t4.5\n"), base);
  EXPECT_NE(load("A cat runs.\tA cat is running.\t4.5\n"), base);
}

TEST(BatchSampler, NeverPutsTheSameTextTwiceInABatch) {
  // Ten examples, but only four distinct anchors: a batch of 4 must hold 4 distinct keys.
  std::vector<Example> ex(10);
  for (size_t i = 0; i < ex.size(); ++i) {
    ex[i].texts = {{static_cast<int>(i % 4) + 10}};
    ex[i].key = 100 + i % 4;
    ex[i].key2 = 1000 + i;
  }
  BatchSampler sampler(&ex, 4, 3);
  for (int b = 0; b < 30; ++b) {
    auto batch = sampler.next();
    ASSERT_EQ(batch.size(), 4u);
    std::set<uint64_t> keys;
    for (size_t i : batch) keys.insert(ex[i].key);
    EXPECT_EQ(keys.size(), batch.size()) << "batch " << b;
  }
}

TEST(BatchSampler, SeekReplaysExactly) {
  std::vector<Example> ex(37);
  for (size_t i = 0; i < ex.size(); ++i) {
    ex[i].texts = {{5}};
    ex[i].key = i + 1;
  }
  BatchSampler a(&ex, 8, 11);
  std::vector<std::vector<size_t>> first;
  for (int i = 0; i < 12; ++i) first.push_back(a.next());
  BatchSampler b(&ex, 8, 11);
  b.seek(7);
  for (int i = 7; i < 12; ++i) EXPECT_EQ(b.next(), first[i]) << i;
  // Every example appears once per epoch (37 examples, batches of 8 cross epochs).
  BatchSampler c(&ex, 8, 11);
  std::multiset<size_t> seen;
  for (int i = 0; i < 4; ++i)
    for (size_t k : c.next()) seen.insert(k);
  EXPECT_EQ(seen.size(), 32u);
  for (auto k : seen) EXPECT_EQ(seen.count(k), 1u);
}

}  // namespace
}  // namespace sembed
