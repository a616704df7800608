#pragma once

// Training objectives (LibTorch). Each is written once and shared by every trainer path.
#include <torch/torch.h>

#include "model/config.h"

namespace sembed {

// InfoNCE over cosine similarities. anchors: [B, D]; candidates: [N, D], N >= B, where
// candidates[i] is anchors[i]'s positive and every other candidate is a negative (in-batch
// negatives, plus hard negatives appended after the positives). logits = cos / temperature;
// loss = mean_i cross_entropy(logits[i], i). `hard_index` (optional, int64 [B], -1 = none) names
// each anchor's own hard negative column, whose logit gets `hard_negative_weight` added (SimCSE's
// hard_negative_weight; 0 = plain).
torch::Tensor info_nce_loss(const torch::Tensor& anchors, const torch::Tensor& candidates,
                            double temperature, const torch::Tensor& hard_index = {},
                            double hard_negative_weight = 0.0);

// CoSENT: for every pair of pairs (i, j) with gold[i] > gold[j], penalise cos[j] > cos[i]:
// loss = log(1 + sum exp(scale * (cos[j] - cos[i]))). a, b: [B, D]; gold: [B].
// `group` (optional, int [B]): only pairs of the same group are compared (scores from different
// datasets need not share a scale: SICK's relatedness is not STS-B's similarity).
torch::Tensor cosent_loss(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& gold,
                          double scale = 20.0, const torch::Tensor& group = {});

// In-batch negatives for scored pairs: each pair with gold >= min_score is a positive, every
// other pair's sentence in the batch a negative (symmetric InfoNCE, a -> b and b -> a, at
// `temperature`). Pairs below min_score serve only as negatives. Returns 0 (with a gradient
// path) when no pair reaches min_score.
torch::Tensor scored_in_batch_loss(const torch::Tensor& a, const torch::Tensor& b,
                                   const torch::Tensor& gold, double min_score, double temperature);

// Token cut-off (a data augmentation): each real, non-special token leaves the attention mask
// with `probability`, so attention and pooling skip it ([CLS] and [SEP] always stay). Returns the
// new mask (bool). Uses `generator` so that it is reproducible.
torch::Tensor drop_tokens(const torch::Tensor& ids, const torch::Tensor& mask, double probability,
                          at::Generator generator);

// BERT-style masking: of the real, non-special tokens, `probability` are chosen; 80% become
// [MASK], 10% a random piece, 10% stay. Returns {input ids, labels (-100 where not chosen)}.
// Uses `generator` so that masking is reproducible.
std::pair<torch::Tensor, torch::Tensor> mask_tokens(const torch::Tensor& ids,
                                                    const torch::Tensor& mask, int64_t vocab_size,
                                                    double probability, at::Generator generator);

// MLM head: dense + GELU + LayerNorm, then logits against the (tied) token embedding matrix.
// Registered names (checkpoint keys under "mlm_head."): dense, norm, bias.
class MlmHeadImpl : public torch::nn::Module {
 public:
  explicit MlmHeadImpl(const EncoderConfig& config);
  // hidden: [M, H] (selected positions); embedding: [V, H]. Returns logits [M, V].
  torch::Tensor forward(const torch::Tensor& hidden, const torch::Tensor& embedding);
  torch::nn::Linear dense{nullptr};
  torch::nn::LayerNorm norm{nullptr};
  torch::Tensor bias;
};
TORCH_MODULE(MlmHead);

}  // namespace sembed
