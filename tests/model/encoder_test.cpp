// The transformer encoder on its own (no tokenizer, no files): determinism, dropout, the two
// attention kernels, padding, pooling, initialisation and the frozen checkpoint names.
#include "model/encoder.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace sembed {
namespace {

EncoderConfig tiny_config() {
  EncoderConfig c = EncoderConfig::preset("tiny");
  c.vocab_size = 300;
  return c;
}

// A padded batch: row r holds lengths[r] real tokens ([CLS] ids... [SEP]) then [PAD]s.
struct Batch {
  torch::Tensor ids, mask;
};
Batch make_batch(const std::vector<int64_t>& lengths, int vocab, uint64_t seed) {
  const int64_t T = *std::max_element(lengths.begin(), lengths.end());
  const int64_t B = static_cast<int64_t>(lengths.size());
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  Batch b;
  b.ids = at::randint(5, vocab, {B, T}, gen, torch::TensorOptions().dtype(torch::kLong));
  b.mask = torch::zeros({B, T}, torch::kBool);
  for (int64_t r = 0; r < B; ++r) {
    b.ids[r][0] = 2;
    b.ids[r][lengths[r] - 1] = 3;
    b.ids[r].slice(0, lengths[r]).fill_(0);
    b.mask[r].slice(0, 0, lengths[r]).fill_(true);
  }
  return b;
}

float max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<float>();
}

TEST(EncoderTest, DeterministicInEvalModeDropoutInTrainMode) {
  {  // eval mode: two forwards are equal
    torch::NoGradGuard no_grad;
    Encoder encoder(tiny_config(), PoolingConfig{});
    encoder->eval();
    const Batch b = make_batch({12, 7, 3}, 300, 1);
    const auto first = encoder->forward(b.ids, b.mask);
    const auto second = encoder->forward(b.ids, b.mask);
    EXPECT_EQ(first.sizes(), (std::vector<int64_t>{3, 12, 128}));
    EXPECT_TRUE(torch::equal(first, second));
    EXPECT_TRUE(torch::equal(encoder->embed(b.ids, b.mask), encoder->embed(b.ids, b.mask)));
  }

  {  // train mode: dropout makes them differ
    torch::NoGradGuard no_grad;
    Encoder encoder(tiny_config(), PoolingConfig{});
    encoder->train();
    const Batch b = make_batch({12, 7, 3}, 300, 2);
    const auto first = encoder->embed(b.ids, b.mask);
    const auto second = encoder->embed(b.ids, b.mask);
    EXPECT_GT(max_abs_diff(first, second), 1e-3) << "two dropout masks: SimCSE's positive pairs";
    // Back in eval mode the two agree again.
    encoder->eval();
    EXPECT_TRUE(torch::equal(encoder->embed(b.ids, b.mask), encoder->embed(b.ids, b.mask)));
  }
}

TEST(TrainDropout, RateScaleSeedDtypeAndGradient) {
  const double p = 0.1;
  auto x = torch::ones({200, 500}, torch::kFloat32).requires_grad_(true);
  torch::manual_seed(11);
  const auto y = train_dropout(x, p, true);
  const double zeros = y.eq(0).to(torch::kFloat64).mean().item<double>();
  EXPECT_NEAR(zeros, p, 0.005);  // 100k draws: sd 0.001
  // The kept values carry the inverse of the kept fraction, so the mean stays 1.
  const double kept = y.masked_select(y.ne(0)).mean().item<double>();
  EXPECT_NEAR(kept, 1.0 / (1.0 - p), 1e-4);
  EXPECT_NEAR(y.mean().item<double>(), 1.0, 0.01);
  // Gradient: the same mask and scale.
  y.sum().backward();
  EXPECT_TRUE(torch::equal(x.grad(), y.detach()));
  // torch::manual_seed fixes the mask; another draw differs.
  torch::manual_seed(11);
  EXPECT_TRUE(torch::equal(train_dropout(x, p, true), y));
  EXPECT_FALSE(torch::equal(train_dropout(x, p, true), y));
  // bf16 stays bf16 (under autocast residual branches are bf16); eval and p 0 are the identity.
  const auto xb = torch::ones({64, 64}, torch::kBFloat16);
  const auto yb = train_dropout(xb, 0.5, true);
  EXPECT_EQ(yb.scalar_type(), torch::kBFloat16);
  EXPECT_NEAR(yb.eq(0).to(torch::kFloat64).mean().item<double>(), 0.5, 0.05);
  EXPECT_TRUE(yb.masked_select(yb.ne(0)).eq(2).all().item<bool>());
  EXPECT_TRUE(train_dropout(x, p, false).is_same(x));
  EXPECT_TRUE(train_dropout(x, 0.0, true).is_same(x));
}

TEST(EncoderTest, FusedAndManualAttentionAgreeWithPadding) {
  torch::NoGradGuard no_grad;
  Encoder encoder(tiny_config(), PoolingConfig{});
  encoder->reset_parameters(7);
  encoder->eval();
  const Batch b = make_batch({20, 5, 13, 3, 20}, 300, 3);
  encoder->set_attention_kernel(AttentionKernel::kFused);
  const auto fused_hidden = encoder->forward(b.ids, b.mask);
  const auto fused = encoder->embed(b.ids, b.mask);
  encoder->set_attention_kernel(AttentionKernel::kManual);
  const auto manual_hidden = encoder->forward(b.ids, b.mask);
  const auto manual = encoder->embed(b.ids, b.mask);
  // Compare real positions only (padding rows' states are never used).
  const auto real = b.mask.unsqueeze(-1).to(torch::kFloat);
  EXPECT_LE(max_abs_diff(fused_hidden * real, manual_hidden * real), 1e-5);
  EXPECT_LE(max_abs_diff(fused, manual), 1e-5);
  EXPECT_GT(fused.abs().max().item<float>(), 0.01f) << "vectors are not all zero";
}

// Inference (no autograd) runs fp32 linears on oneDNN, training on ATen's linear: same numbers.
TEST(EncoderTest, InferenceAndTrainingPathsAgree) {
  Encoder encoder(tiny_config(), PoolingConfig{});
  encoder->reset_parameters(11);
  encoder->eval();
  const Batch b = make_batch({17, 9, 4}, 300, 12);
  const auto with_grad = encoder->embed(b.ids, b.mask);
  ASSERT_TRUE(with_grad.requires_grad());
  torch::Tensor inference;
  {
    torch::InferenceMode guard;
    inference = encoder->embed(b.ids, b.mask);
  }
  EXPECT_LE(max_abs_diff(with_grad.detach(), inference), 1e-5);
}

TEST(EncoderTest, PaddingDoesNotChangeRealTokenStates) {
  torch::NoGradGuard no_grad;
  Encoder encoder(tiny_config(), PoolingConfig{});
  encoder->reset_parameters(3);
  encoder->eval();
  for (AttentionKernel kernel : {AttentionKernel::kFused, AttentionKernel::kManual}) {
    encoder->set_attention_kernel(kernel);
    const Batch alone = make_batch({9}, 300, 4);
    // The same row padded to 30 positions with garbage ids under the padding.
    auto padded_ids = torch::randint(5, 300, {1, 30}, torch::kLong);
    padded_ids.slice(1, 0, 9).copy_(alone.ids);
    auto padded_mask = torch::zeros({1, 30}, torch::kBool);
    padded_mask.slice(1, 0, 9).fill_(true);
    const auto a = encoder->forward(alone.ids, alone.mask);
    const auto p = encoder->forward(padded_ids, padded_mask).slice(1, 0, 9);
    EXPECT_LE(max_abs_diff(a, p), 1e-5) << "kernel " << static_cast<int>(kernel);
    EXPECT_LE(max_abs_diff(encoder->embed(alone.ids, alone.mask),
                           encoder->embed(padded_ids, padded_mask)),
              1e-5);
  }
}

TEST(EncoderTest, PoolingAndNormalisation) {
  {  // mean pooling averages real tokens only
    // hidden [2, 3, 2]; row 0 has 2 real tokens, row 1 has 3.
    const auto hidden = torch::tensor({1.f, 2.f, 3.f, 4.f, 100.f, 100.f,  //
                                       1.f, 1.f, 2.f, 2.f, 6.f, 0.f})
                            .view({2, 3, 2});
    const auto mask = torch::tensor({1, 1, 0, 1, 1, 1}, torch::kLong).view({2, 3});
    const auto pooled = mean_pool(hidden, mask);
    const auto expected = torch::tensor({2.f, 3.f, 3.f, 1.f}).view({2, 2});
    EXPECT_LE(max_abs_diff(pooled, expected), 1e-6) << pooled;
  }

  {  // cls and cls_mlp pick the right state
    torch::NoGradGuard no_grad;
    const Batch b = make_batch({6, 4}, 300, 6);
    PoolingConfig cls;
    cls.mode = "cls";
    cls.normalize = false;
    Encoder encoder(tiny_config(), cls);
    encoder->eval();
    const auto hidden = encoder->forward(b.ids, b.mask);
    EXPECT_TRUE(torch::equal(encoder->embed(b.ids, b.mask), hidden.select(1, 0)));

    PoolingConfig mlp;
    mlp.mode = "cls_mlp";
    mlp.normalize = false;
    Encoder with_head(tiny_config(), mlp);
    with_head->eval();
    ASSERT_TRUE(with_head->pooler);
    const auto h = with_head->forward(b.ids, b.mask);
    // SimCSE: the MLP head in training only; plain [CLS] at inference.
    EXPECT_TRUE(torch::equal(with_head->pool(h, b.ids, b.mask, false), h.select(1, 0)));
    EXPECT_TRUE(
        torch::equal(with_head->pool(h, b.ids, b.mask, true), with_head->pooler(h.select(1, 0))));
  }

  {  // embed() rows are unit vectors when the config normalises
    torch::NoGradGuard no_grad;
    const Batch b = make_batch({10, 4, 7}, 300, 5);
    PoolingConfig pooling;
    pooling.normalize = true;
    Encoder normalized(tiny_config(), pooling);
    normalized->eval();
    const auto norms = normalized->embed(b.ids, b.mask).norm(2, 1);
    EXPECT_LE(max_abs_diff(norms, torch::ones({3})), 1e-5);

    pooling.normalize = false;
    Encoder raw(tiny_config(), pooling);
    raw->eval();
    const auto raw_norms = raw->embed(b.ids, b.mask).norm(2, 1);
    EXPECT_GT(max_abs_diff(raw_norms, torch::ones({3})), 0.1) << "without normalize: raw means";
  }
}

TEST(EncoderTest, IdfMeanPoolingWeightsRealPiecesByIdf) {
  torch::NoGradGuard no_grad;
  PoolingConfig idf;
  idf.mode = "idf_mean";
  idf.normalize = false;
  Encoder encoder(tiny_config(), idf);
  encoder->eval();
  std::vector<float> weights(300, 1.0f);
  weights[10] = 3.0f;
  weights[11] = 1.0f;
  weights[12] = 0.0f;
  encoder->set_token_weights(weights);
  // Special tokens are forced to 0 whatever the caller gives.
  EXPECT_EQ(encoder->token_weights[2].item<float>(), 0.0f);
  // hidden [1, 4, 2]: [CLS] 10 11 12; weights 0, 3, 1, 0 -> (3 h1 + h2) / 4
  const auto hidden = torch::tensor({9.f, 9.f, 4.f, 0.f, 0.f, 8.f, 7.f, 7.f}).view({1, 4, 2});
  const auto ids = torch::tensor({2, 10, 11, 12}, torch::kLong).view({1, 4});
  const auto mask = torch::ones({1, 4}, torch::kLong);
  EXPECT_LE(
      max_abs_diff(encoder->pool(hidden, ids, mask, false), torch::tensor({3.f, 2.f}).view({1, 2})),
      1e-6);
  // Only special tokens (the empty text): the plain mean instead of 0 / 0.
  const auto empty = torch::tensor({2, 3}, torch::kLong).view({1, 2});
  const auto pooled = encoder->pool(hidden.narrow(1, 0, 2), empty, torch::ones({1, 2}), false);
  EXPECT_LE(max_abs_diff(pooled, torch::tensor({6.5f, 4.5f}).view({1, 2})), 1e-6);

  Encoder mean(tiny_config(), PoolingConfig{});
  EXPECT_THROW(mean->set_token_weights(weights), std::invalid_argument);
  EXPECT_THROW(encoder->set_token_weights(std::vector<float>(299, 1.0f)), std::invalid_argument);
}

TEST(EncoderTest, LexicalPathMixesTfIdfProjectionAndTransformerCosines) {
  torch::NoGradGuard no_grad;
  PoolingConfig lexical;
  lexical.mode = "mean";
  lexical.lexical_weight = 0.3;
  Encoder encoder(tiny_config(), lexical);
  encoder->reset_parameters(3);
  encoder->eval();
  std::vector<float> idf(300);
  for (int i = 0; i < 300; ++i) idf[i] = 0.5f + (i % 7);
  encoder->set_token_weights(idf);
  EXPECT_EQ(encoder->output_dim(), 256);
  EXPECT_FALSE(encoder->named_parameters().contains("lexical_table")) << "never trained";
  ASSERT_TRUE(encoder->named_buffers().contains("lexical_table"));

  const Batch b = make_batch({9, 6, 12}, 300, 8);
  const auto v = encoder->embed(b.ids, b.mask);
  ASSERT_EQ(v.sizes(), (std::vector<int64_t>{3, 256}));
  EXPECT_LE(max_abs_diff(v.norm(2, 1), torch::ones({3})), 1e-5);

  // cosine = w * cosine of the lexical halves + (1 - w) * cosine of the transformer's mean.
  const auto hidden = encoder->forward(b.ids, b.mask);
  namespace F = torch::nn::functional;
  const auto unit = F::NormalizeFuncOptions().dim(1);
  const auto model = F::normalize(mean_pool(hidden, b.mask), unit);
  const auto lex = F::normalize(v.narrow(1, 0, 128), unit);
  const auto cos = torch::mm(v, v.t());
  const auto expected = 0.3 * torch::mm(lex, lex.t()) + 0.7 * torch::mm(model, model.t());
  EXPECT_LE(max_abs_diff(cos, expected), 1e-5);

  // The lexical half is a bag of pieces: order does not matter, IDF does.
  auto ids = b.ids.narrow(0, 0, 1).clone();
  auto mask = b.mask.narrow(0, 0, 1);
  auto swapped = ids.clone();
  swapped[0][1] = ids[0][7];
  swapped[0][7] = ids[0][1];
  const auto a_lex = encoder->embed(ids, mask).narrow(1, 0, 128);
  const auto s_lex = encoder->embed(swapped, mask).narrow(1, 0, 128);
  EXPECT_LE(max_abs_diff(a_lex, s_lex), 1e-6);
  const auto rows = encoder->lexical_table.index_select(0, ids[0].narrow(0, 1, 7));
  const auto w = torch::tensor(idf).index_select(0, ids[0].narrow(0, 1, 7));
  const auto by_hand = F::normalize((rows * w.unsqueeze(1)).sum(0, true), unit) * std::sqrt(0.3);
  EXPECT_LE(max_abs_diff(a_lex, by_hand), 1e-5);

  // reset_parameters draws the table reproducibly, apart from the token embeddings.
  Encoder again(tiny_config(), lexical);
  again->reset_parameters(3);
  EXPECT_TRUE(torch::equal(again->lexical_table, encoder->lexical_table));
  EXPECT_FALSE(
      torch::equal(again->lexical_table.narrow(1, 0, 128), again->embeddings->token->weight));

  PoolingConfig bad = lexical;
  bad.lexical_weight = 1.0;
  EXPECT_THROW(bad.validate(), std::invalid_argument);
  bad.lexical_weight = -0.1;
  EXPECT_THROW(bad.validate(), std::invalid_argument);
}

TEST(EncoderTest, CheckpointNamesAndParameterCount) {
  {  // registered names are the checkpoint keys
    Encoder encoder(tiny_config(), PoolingConfig{});
    std::set<std::string> names;
    for (const auto& p : encoder->named_parameters()) names.insert(p.key());
    std::set<std::string> expected = {"embeddings.token.weight", "embeddings.position.weight",
                                      "embeddings.norm.weight",  "embeddings.norm.bias",
                                      "final_norm.weight",       "final_norm.bias"};
    for (int layer = 0; layer < 2; ++layer) {
      const std::string p = "layers." + std::to_string(layer) + ".";
      for (const char* suffix :
           {"attention_norm.weight", "attention_norm.bias", "attention.qkv.weight",
            "attention.qkv.bias", "attention.out.weight", "attention.out.bias", "ffn_norm.weight",
            "ffn_norm.bias", "ffn.up.weight", "ffn.up.bias", "ffn.down.weight", "ffn.down.bias"})
        expected.insert(p + suffix);
    }
    EXPECT_EQ(names, expected);
    EXPECT_EQ(encoder->named_parameters()["layers.0.attention.qkv.weight"].sizes(),
              (std::vector<int64_t>{3 * 128, 128}));
    EXPECT_EQ(encoder->named_parameters()["layers.1.ffn.up.weight"].sizes(),
              (std::vector<int64_t>{512, 128}));
    EXPECT_EQ(encoder->named_parameters()["embeddings.position.weight"].sizes(),
              (std::vector<int64_t>{64, 128}));

    PoolingConfig mlp;
    mlp.mode = "cls_mlp";
    Encoder with_head(tiny_config(), mlp);
    EXPECT_TRUE(with_head->named_parameters().contains("pooler.dense.weight"));
    EXPECT_TRUE(with_head->named_parameters().contains("pooler.dense.bias"));
  }

  {  // EncoderConfig::parameter_count() counts the module's parameters
    for (const char* preset : {"tiny", "small"}) {
      EncoderConfig c = EncoderConfig::preset(preset);
      c.vocab_size = 300;
      Encoder encoder(c, PoolingConfig{});
      int64_t n = 0;
      for (const auto& p : encoder->parameters()) n += p.numel();
      EXPECT_EQ(n, c.parameter_count()) << preset;
    }
  }
}

TEST(EncoderTest, ResetParametersIsReproducible) {
  Encoder a(tiny_config(), PoolingConfig{}), b(tiny_config(), PoolingConfig{}),
      c(tiny_config(), PoolingConfig{});
  a->reset_parameters(5);
  b->reset_parameters(5);
  c->reset_parameters(6);
  const auto pa = a->named_parameters(), pb = b->named_parameters(), pc = c->named_parameters();
  for (const auto& item : pa) {
    EXPECT_TRUE(torch::equal(item.value(), pb[item.key()])) << item.key();
  }
  EXPECT_FALSE(torch::equal(pa["layers.0.ffn.up.weight"], pc["layers.0.ffn.up.weight"]));
  // Unit LayerNorms, zero biases, N(0, 0.02) weights with scaled residual projections.
  EXPECT_TRUE(torch::equal(pa["final_norm.weight"], torch::ones({128})));
  EXPECT_TRUE(torch::equal(pa["layers.1.attention.qkv.bias"], torch::zeros({384})));
  const double up_std = pa["layers.0.ffn.up.weight"].std().item<double>();
  const double down_std = pa["layers.0.ffn.down.weight"].std().item<double>();
  EXPECT_NEAR(up_std, 0.02, 0.002);
  EXPECT_NEAR(down_std, 0.02 / 2.0, 0.001) << "scaled by 1/sqrt(2 * layers) = 1/2";
}

TEST(EncoderTest, RejectsBadInputs) {
  {  // sequences longer than max_len
    Encoder encoder(tiny_config(), PoolingConfig{});
    encoder->eval();
    const Batch b = make_batch({65}, 300, 8);
    EXPECT_THROW(encoder->forward(b.ids, b.mask), c10::Error);
  }

  {  // device names
    EXPECT_EQ(resolve_device("cpu"), torch::Device(torch::kCPU));
    EXPECT_THROW(resolve_device("tpu"), std::invalid_argument);
    if (!torch::cuda::is_available()) {
      EXPECT_EQ(resolve_device("auto"), torch::Device(torch::kCPU));
      EXPECT_THROW(resolve_device("cuda"), std::invalid_argument);
    }
  }
}

}  // namespace
}  // namespace sembed
