#include "training/losses.h"

#include "tokenizer/tokenizer.h"

namespace sembed {

namespace F = torch::nn::functional;

namespace {

// Positions of a padded batch that hold a real piece (in the mask, not a special token).
torch::Tensor real_pieces(const torch::Tensor& ids, const torch::Tensor& mask) {
  return mask.to(torch::kBool) & ids.ge(kNumSpecialTokens);
}

// One uniform draw per position, from `generator` (CPU), on the ids' device.
torch::Tensor uniform_like(const torch::Tensor& ids, at::Generator& generator) {
  return at::rand(ids.sizes(), generator, torch::TensorOptions().dtype(torch::kFloat32))
      .to(ids.device());
}

}  // namespace

torch::Tensor info_nce_loss(const torch::Tensor& anchors, const torch::Tensor& candidates,
                            double temperature, const torch::Tensor& hard_index,
                            double hard_negative_weight) {
  TORCH_CHECK(anchors.dim() == 2 && candidates.dim() == 2, "info_nce: inputs must be 2-D");
  TORCH_CHECK(candidates.size(0) >= anchors.size(0), "info_nce: fewer candidates than anchors");
  TORCH_CHECK(temperature > 0, "info_nce: temperature must be > 0");
  auto a = F::normalize(anchors.to(torch::kFloat32), F::NormalizeFuncOptions().dim(1));
  auto c = F::normalize(candidates.to(torch::kFloat32), F::NormalizeFuncOptions().dim(1));
  auto logits = torch::matmul(a, c.t()) / temperature;  // [B, N]
  const int64_t B = anchors.size(0);
  if (hard_index.defined() && hard_negative_weight != 0.0) {
    auto idx = hard_index.to(torch::kLong).to(logits.device());
    auto has = idx.ge(0);
    auto rows = torch::arange(B, idx.options()).masked_select(has);
    auto cols = idx.masked_select(has);
    auto bonus = torch::zeros_like(logits);
    bonus.index_put_({rows, cols},
                     torch::full({rows.size(0)}, hard_negative_weight, logits.options()));
    logits = logits + bonus;
  }
  auto labels =
      torch::arange(B, torch::TensorOptions().dtype(torch::kLong).device(logits.device()));
  return F::cross_entropy(logits, labels);
}

torch::Tensor cosent_loss(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& gold,
                          double scale, const torch::Tensor& group) {
  auto cos = F::cosine_similarity(a.to(torch::kFloat32), b.to(torch::kFloat32),
                                  F::CosineSimilarityFuncOptions().dim(1)) *
             scale;  // [B]
  auto g = gold.to(cos.device()).to(torch::kFloat32);
  // diff[i][j] = cos[j] - cos[i], kept where gold[i] > gold[j].
  auto diff = cos.unsqueeze(0) - cos.unsqueeze(1);
  auto keep = g.unsqueeze(1) > g.unsqueeze(0);
  if (group.defined()) {
    auto k = group.to(cos.device());
    keep = keep & (k.unsqueeze(1) == k.unsqueeze(0));
  }
  auto masked = diff.masked_fill(keep.logical_not(), -1e12);
  auto flat = torch::cat({torch::zeros({1}, cos.options()), masked.flatten()});
  return torch::logsumexp(flat, 0);
}

torch::Tensor scored_in_batch_loss(const torch::Tensor& a, const torch::Tensor& b,
                                   const torch::Tensor& gold, double min_score,
                                   double temperature) {
  TORCH_CHECK(a.sizes() == b.sizes() && a.dim() == 2, "scored_in_batch: a and b must be [B, D]");
  auto positive = gold.to(torch::kFloat32).ge(min_score).cpu();
  auto hi = positive.nonzero().flatten();
  if (hi.numel() == 0) return (a.sum() + b.sum()) * 0.0;
  auto lo = positive.logical_not().nonzero().flatten();
  // Positives first, so that candidate i is anchor i's positive; the rest are negatives.
  auto order = torch::cat({hi, lo}).to(a.device());
  hi = hi.to(a.device());
  auto ab = info_nce_loss(a.index_select(0, hi), b.index_select(0, order), temperature);
  auto ba = info_nce_loss(b.index_select(0, hi), a.index_select(0, order), temperature);
  return (ab + ba) * 0.5;
}

torch::Tensor drop_tokens(const torch::Tensor& ids, const torch::Tensor& mask, double probability,
                          at::Generator generator) {
  auto dropped = real_pieces(ids, mask) & uniform_like(ids, generator).lt(probability);
  return mask.to(torch::kBool) & dropped.logical_not();
}

std::pair<torch::Tensor, torch::Tensor> mask_tokens(const torch::Tensor& ids,
                                                    const torch::Tensor& mask, int64_t vocab_size,
                                                    double probability, at::Generator generator) {
  auto real = real_pieces(ids, mask);
  auto r = uniform_like(ids, generator);
  auto chosen = real & r.lt(probability);
  // Ensure at least one target per batch so the loss is defined.
  if (!chosen.any().item<bool>())
    chosen = real & r.le(r.masked_fill(real.logical_not(), 2.0).min());
  auto labels = ids.masked_fill(chosen.logical_not(), -100);
  auto action = uniform_like(ids, generator);
  auto random_ids = at::randint(kNumSpecialTokens, vocab_size, ids.sizes(), generator,
                                torch::TensorOptions().dtype(torch::kLong))
                        .to(ids.device());
  auto input = ids.clone();
  input = torch::where(chosen & action.lt(0.8), torch::full_like(ids, kMaskId), input);
  input = torch::where(chosen & action.ge(0.8) & action.lt(0.9), random_ids, input);
  return {input, labels};
}

MlmHeadImpl::MlmHeadImpl(const EncoderConfig& c) {
  dense = register_module("dense", torch::nn::Linear(c.hidden, c.hidden));
  norm = register_module(
      "norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.hidden}).eps(c.layer_norm_eps)));
  bias = register_parameter("bias", torch::zeros({c.vocab_size}));
}

torch::Tensor MlmHeadImpl::forward(const torch::Tensor& hidden, const torch::Tensor& embedding) {
  auto x = norm(torch::gelu(dense(hidden)));
  return torch::matmul(x, embedding.t().to(x.scalar_type())) + bias.to(x.scalar_type());
}

}  // namespace sembed
