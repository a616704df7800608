// Subword regularisation: n-best segmentations and the per-word sampler.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "tests/training/training_fixture.h"
#include "training/subword.h"

namespace sembed {
namespace {

std::vector<Example> examples_of(const Tokenizer& tok, const std::vector<std::string>& texts) {
  std::vector<Example> out;
  for (const auto& t : texts) {
    Example ex;
    ex.texts.push_back(tok.encode(t));
    out.push_back(ex);
  }
  return out;
}

TEST(Subword, NbestStartsWithTheBestSegmentation) {
  const Tokenizer& tok = test::tiny_tokenizer();
  const std::string text = tok.normalizer().normalize("the painters were watching a river");
  const auto nbest = tok.nbest_encode_normalized(text, 8);
  ASSERT_GE(nbest.size(), 2u);
  EXPECT_LE(nbest.size(), 8u);
  EXPECT_EQ(nbest[0], tok.encode_normalized(text));
  std::set<std::vector<int>> distinct(nbest.begin(), nbest.end());
  EXPECT_EQ(distinct.size(), nbest.size());
  for (const auto& seg : nbest) EXPECT_EQ(tok.decode(seg), text);
  // Scores are log-probabilities: the best segmentation scores highest.
  auto score = [&](const std::vector<int>& seg) {
    double s = 0;
    for (int id : seg) s += tok.piece_score(id);
    return s;
  };
  for (const auto& seg : nbest) EXPECT_LE(score(seg), score(nbest[0]) + 1e-4);
  EXPECT_LT(tok.piece_score(nbest[0][0]), 0.0f);
  EXPECT_THROW(tok.nbest_encode_normalized(text, 0), std::invalid_argument);
  EXPECT_THROW(tok.piece_score(tok.vocab_size()), std::invalid_argument);
}

TEST(Subword, SamplesKeepTheTextAndVary) {
  const Tokenizer& tok = test::tiny_tokenizer();
  const std::vector<std::string> texts = {"the painters were watching a river",
                                          "a dog follows the children across the bridge"};
  auto ex = examples_of(tok, texts);
  SubwordSampler sampler(tok, 8, 0.0);  // uniform among each word's 8 best
  sampler.add(ex, 2);
  EXPECT_GT(sampler.words(), 8u);
  EXPECT_GT(sampler.words_with_alternatives(), 0u);
  std::mt19937_64 rng(7);
  std::set<std::vector<int>> seen;
  for (int i = 0; i < 50; ++i) {
    const auto s = sampler.sample(ex[0].texts[0], rng);
    EXPECT_EQ(tok.decode(s), tok.decode(ex[0].texts[0]));
    seen.insert(s);
  }
  EXPECT_GT(seen.size(), 3u);
  EXPECT_TRUE(seen.count(ex[0].texts[0]) == 0 || seen.size() > 1);
  // The same seed draws the same segmentations.
  std::mt19937_64 a(11), b(11);
  EXPECT_EQ(sampler.sample(ex[1].texts[0], a), sampler.sample(ex[1].texts[0], b));
}

TEST(Subword, LargeAlphaKeepsTheBestSegmentationAndUnknownWordsStay) {
  const Tokenizer& tok = test::tiny_tokenizer();
  auto ex = examples_of(tok, {"the painters were watching a river"});
  SubwordSampler sharp(tok, 8, 1000.0);
  sharp.add(ex, 1);
  std::mt19937_64 rng(3);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(sharp.sample(ex[0].texts[0], rng), ex[0].texts[0]);
  // Words added later, words never added and [UNK] pass through unchanged.
  const std::vector<int> unseen = tok.encode("zebras quietly jumped");
  EXPECT_EQ(sharp.sample(unseen, rng), unseen);
  const std::vector<int> with_unk = {kUnkId, ex[0].texts[0][0]};
  SubwordSampler uniform(tok, 8, 0.0);
  uniform.add({Example{{with_unk}}}, 1);
  EXPECT_EQ(uniform.sample({kUnkId}, rng), std::vector<int>{kUnkId});
}

TEST(Subword, BadSettingsAreRefused) {
  const Tokenizer& tok = test::tiny_tokenizer();
  EXPECT_THROW(SubwordSampler(tok, 1, 0.1), std::invalid_argument);
  EXPECT_THROW(SubwordSampler(tok, 65, 0.1), std::invalid_argument);
  EXPECT_THROW(SubwordSampler(tok, 8, -1.0), std::invalid_argument);
  EXPECT_THROW(SubwordSampler(tok, 8, std::nan("")), std::invalid_argument);
}

}  // namespace
}  // namespace sembed
