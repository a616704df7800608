// Losses against values computed by hand.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "tokenizer/tokenizer.h"
#include "training/losses.h"

namespace sembed {
namespace {

// Cross-entropy of row `i` of a logits matrix with target `i`, by hand.
double row_ce(const std::vector<std::vector<double>>& logits, size_t i) {
  double mx = -1e300;
  for (double v : logits[i]) mx = std::max(mx, v);
  double s = 0;
  for (double v : logits[i]) s += std::exp(v - mx);
  return -(logits[i][i] - mx - std::log(s));
}

TEST(InfoNce, MatchesHandComputedValue) {
  // Two anchors, two candidates; cosines worked out by hand.
  // a0 = (1, 0), a1 = (0, 2); c0 = (3, 4), c1 = (0, -1).
  // cos(a0,c0) = 0.6, cos(a0,c1) = 0, cos(a1,c0) = 0.8, cos(a1,c1) = -1.
  auto a = torch::tensor({{1.0f, 0.0f}, {0.0f, 2.0f}});
  auto c = torch::tensor({{3.0f, 4.0f}, {0.0f, -1.0f}});
  const double tau = 0.05;
  std::vector<std::vector<double>> logits = {{0.6 / tau, 0.0 / tau}, {0.8 / tau, -1.0 / tau}};
  const double expected = (row_ce(logits, 0) + row_ce(logits, 1)) / 2;
  const double got = info_nce_loss(a, c, tau).item<double>();
  EXPECT_NEAR(got, expected, 1e-4 * std::max(1.0, expected));
  // Sanity of the hand value itself: anchor 1's positive (cos -1) is far worse than its
  // negative (0.8), so the loss is large: (0.6/tau ... ) -> about 18.
  EXPECT_GT(expected, 17.0);
}

TEST(InfoNce, HardNegativeWeightAddsToOwnHardNegativeLogit) {
  // One anchor, one positive, one hard negative (column 1).
  auto a = torch::tensor({{1.0f, 0.0f}});
  auto c = torch::tensor({{1.0f, 1.0f}, {1.0f, -1.0f}});  // cos = 0.7071 both
  const double tau = 1.0, w = 2.0;
  const double cs = 1.0 / std::sqrt(2.0);
  std::vector<std::vector<double>> plain = {{cs, cs}};
  std::vector<std::vector<double>> weighted = {{cs, cs + w}};
  auto hard = torch::tensor({1}, torch::kLong);
  EXPECT_NEAR(info_nce_loss(a, c, tau).item<double>(), row_ce(plain, 0), 1e-5);
  EXPECT_NEAR(info_nce_loss(a, c, tau, hard, w).item<double>(), row_ce(weighted, 0), 1e-5);
  auto none = torch::tensor({-1}, torch::kLong);
  EXPECT_NEAR(info_nce_loss(a, c, tau, none, w).item<double>(), row_ce(plain, 0), 1e-5);
}

TEST(InfoNce, PerfectAlignmentGivesLowLoss) {
  auto eye = torch::eye(8);
  EXPECT_LT(info_nce_loss(eye, eye, 0.05).item<double>(), 1e-6);
  // Swapped positives: high loss.
  EXPECT_GT(info_nce_loss(eye, eye.flip({0}), 0.05).item<double>(), 10.0);
}

TEST(CoSent, MatchesHandComputedValue) {
  // Pairs: cos = [0.6, 0.0, 1.0]; gold = [2, 1, 3]. Ordered pairs with gold_i > gold_j:
  // (0,1): cos1-cos0 = -0.6; (2,0): 0.6-1 = -0.4; (2,1): 0-1 = -1.
  auto a = torch::tensor({{1.0f, 0.0f}, {1.0f, 0.0f}, {0.0f, 1.0f}});
  auto b = torch::tensor({{3.0f, 4.0f}, {0.0f, 1.0f}, {0.0f, 5.0f}});
  auto gold = torch::tensor({2.0f, 1.0f, 3.0f});
  const double s = 20.0;
  const double expected =
      std::log(1 + std::exp(-0.6 * s) + std::exp(-0.4 * s) + std::exp(-1.0 * s));
  EXPECT_NEAR(cosent_loss(a, b, gold, s).item<double>(), expected, 1e-5);
  // Reversed gold order: every pair is now wrong, the loss is large.
  auto reversed = torch::tensor({2.0f, 3.0f, 1.0f});
  EXPECT_GT(cosent_loss(a, b, reversed, s).item<double>(), 5.0);
}

TEST(CoSent, GroupsCompareOnlyPairsOfTheSameGroup) {
  // cos = [0.6, 0.0, 1.0], gold = [2, 1, 3] as above; groups [0, 0, 1]: only (0,1) is compared.
  auto a = torch::tensor({{1.0f, 0.0f}, {1.0f, 0.0f}, {0.0f, 1.0f}});
  auto b = torch::tensor({{3.0f, 4.0f}, {0.0f, 1.0f}, {0.0f, 5.0f}});
  auto gold = torch::tensor({2.0f, 1.0f, 3.0f});
  const double s = 20.0;
  auto group = torch::tensor({0L, 0L, 1L});
  const double only_01 = std::log(1 + std::exp(-0.6 * s));
  EXPECT_NEAR(cosent_loss(a, b, gold, s, group).item<double>(), only_01, 1e-5);
  // Pair 2 is ranked wrongly against pair 0 (gold 0 > gold 2 now), but it is in another group:
  // the loss does not see it, while the ungrouped loss does.
  auto gold2 = torch::tensor({4.0f, 1.0f, 3.0f});
  EXPECT_NEAR(cosent_loss(a, b, gold2, s, group).item<double>(), only_01, 1e-5);
  EXPECT_GT(cosent_loss(a, b, gold2, s).item<double>(), 7.0);
  // One group each: nothing to compare, loss log(1) = 0.
  EXPECT_NEAR(cosent_loss(a, b, gold, s, torch::tensor({0L, 1L, 2L})).item<double>(), 0.0, 1e-6);
}

TEST(ScoredInBatch, MatchesHandComputedValue) {
  // Pairs 0 and 2 reach min_score 4 and are positives; pair 1 serves only as a negative.
  auto a = torch::tensor({{1.0f, 0.0f}, {0.0f, 1.0f}, {1.0f, 1.0f}});
  auto b = torch::tensor({{2.0f, 0.0f}, {0.0f, 1.0f}, {-1.0f, 1.0f}});
  auto gold = torch::tensor({5.0f, 1.0f, 4.5f});
  const double r = 1 / std::sqrt(2.0), t = 0.5;
  // Cross-entropy of one anchor: its positive's cosine against all three candidates'.
  auto ce = [t](double pos, double n1, double n2) {
    return -pos / t + std::log(std::exp(pos / t) + std::exp(n1 / t) + std::exp(n2 / t));
  };
  // a -> b: a0 (b0 1, b2 -r, b1 0), a2 (b2 0, b0 r, b1 r); b -> a: b0 (a0 1, a2 r, a1 0),
  // b2 (a2 0, a0 -r, a1 r).
  const double ab = (ce(1, -r, 0) + ce(0, r, r)) / 2, ba = (ce(1, r, 0) + ce(0, -r, r)) / 2;
  EXPECT_NEAR(scored_in_batch_loss(a, b, gold, 4.0, t).item<double>(), (ab + ba) / 2, 1e-5);
  // Every pair a positive: pair 1 becomes one too, and its near-perfect match lowers the loss.
  EXPECT_LT(scored_in_batch_loss(a, b, gold, 0.0, t).item<double>(), (ab + ba) / 2);
  // No positive: zero, and still differentiable.
  auto x = a.clone().requires_grad_(true);
  auto none = scored_in_batch_loss(x, b, gold, 6.0, t);
  EXPECT_EQ(none.item<double>(), 0.0);
  none.backward();
  EXPECT_TRUE(x.grad().defined());
}

// The augmentation tests' batch: B rows of T positions, [CLS] at 0, real pieces at 1-28, [SEP] at
// 29, padding at 30-39.
constexpr int64_t B = 64, T = 40, V = 500;
std::pair<torch::Tensor, torch::Tensor> augmentation_batch() {
  auto ids = torch::randint(kNumSpecialTokens, V, {B, T}, torch::kLong);
  ids.select(1, 0).fill_(kClsId);
  auto mask = torch::ones({B, T}, torch::kBool);
  mask.narrow(1, 30, 10).fill_(false);  // padding
  ids.narrow(1, 30, 10).fill_(kPadId);
  ids.select(1, 29).fill_(kSepId);
  return {ids, mask};
}

TEST(Mlm, MasksOnlyRealPiecesAtTheRequestedRate) {
  const auto [ids, mask] = augmentation_batch();
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  auto [input, labels] = mask_tokens(ids, mask, V, 0.15, gen);
  auto chosen = labels.ne(-100);
  // Never a special token or padding.
  EXPECT_FALSE(chosen.narrow(1, 0, 1).any().item<bool>());
  EXPECT_FALSE(chosen.narrow(1, 29, 11).any().item<bool>());
  const double rate = chosen.sum().item<double>() / (B * 28.0);
  EXPECT_NEAR(rate, 0.15, 0.03);
  // Labels hold the original ids; ~80% of chosen inputs are [MASK].
  EXPECT_TRUE(labels.masked_select(chosen).equal(ids.masked_select(chosen)));
  const double masked =
      input.masked_select(chosen).eq(kMaskId).sum().item<double>() / chosen.sum().item<double>();
  EXPECT_NEAR(masked, 0.8, 0.06);
  // Unchosen positions are untouched.
  EXPECT_TRUE(
      input.masked_select(chosen.logical_not()).equal(ids.masked_select(chosen.logical_not())));
  // Same generator seed -> same masks.
  auto gen2 = at::make_generator<at::CPUGeneratorImpl>(7);
  EXPECT_TRUE(mask_tokens(ids, mask, V, 0.15, gen2).first.equal(input));
}

TEST(TokenCutoff, DropsOnlyRealPiecesAtTheRequestedRate) {
  const auto [ids, mask] = augmentation_batch();
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  auto kept = drop_tokens(ids, mask, 0.2, gen);
  ASSERT_EQ(kept.scalar_type(), torch::kBool);
  // [CLS] and [SEP] stay; padding stays out.
  EXPECT_TRUE(kept.select(1, 0).all().item<bool>());
  EXPECT_TRUE(kept.select(1, 29).all().item<bool>());
  EXPECT_FALSE(kept.narrow(1, 30, 10).any().item<bool>());
  const double rate = 1.0 - kept.narrow(1, 1, 28).sum().item<double>() / (B * 28.0);
  EXPECT_NEAR(rate, 0.2, 0.03);
  // Same generator seed -> same cut-off; probability 0 keeps the mask as it was.
  auto gen2 = at::make_generator<at::CPUGeneratorImpl>(7);
  EXPECT_TRUE(drop_tokens(ids, mask, 0.2, gen2).equal(kept));
  auto gen3 = at::make_generator<at::CPUGeneratorImpl>(7);
  EXPECT_TRUE(drop_tokens(ids, mask, 0.0, gen3).equal(mask));
}

}  // namespace
}  // namespace sembed
