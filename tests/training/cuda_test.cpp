// GPU against CPU: the same weights give the same vectors, and training runs on CUDA. Skipped
// without a CUDA device (these run on the CUDA machine from scripts/cuda_check.sh).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "model/batch_embed.h"
#include "model/encoder.h"
#include "model/torch_compat.h"
#include "training/losses.h"

namespace sembed {
namespace {

#define SKIP_WITHOUT_CUDA() \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device"

Encoder tiny_encoder() {
  EncoderConfig c = EncoderConfig::preset("tiny");
  c.vocab_size = 300;
  Encoder e(c, PoolingConfig{});
  e->reset_parameters(3);
  e->eval();
  return e;
}

std::vector<std::vector<int>> some_pieces() {
  std::vector<std::vector<int>> p;
  for (int i = 0; i < 37; ++i) {
    std::vector<int> s;
    for (int k = 0; k < 3 + (i * 7) % 40; ++k)
      s.push_back(kNumSpecialTokens + (i * 31 + k * 17) % 290);
    p.push_back(s);
  }
  return p;
}

TEST(Cuda, GpuVectorsMatchCpuVectors) {
  SKIP_WITHOUT_CUDA();
  Encoder cpu = tiny_encoder();
  Encoder gpu = tiny_encoder();
  gpu->to(torch::Device(torch::kCUDA, 0));
  BatchEmbedOptions o;
  o.max_len = 64;
  o.batch_size = 8;
  const auto a = embed_piece_lists(cpu, some_pieces(), o, torch::kCPU);
  const auto b = embed_piece_lists(gpu, some_pieces(), o, torch::Device(torch::kCUDA, 0));
  ASSERT_EQ(a.size(), b.size());
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(double(a[i]) - b[i]));
  EXPECT_LT(worst, 2e-3);  // TF32 / kernel differences only
  // bf16 autocast on the GPU stays close to fp32.
  o.bf16 = true;
  const auto c = embed_piece_lists(gpu, some_pieces(), o, torch::Device(torch::kCUDA, 0));
  const int64_t d = 128;
  for (size_t r = 0; r < a.size() / d; ++r) {
    double dot = 0;
    for (int64_t k = 0; k < d; ++k) dot += double(a[r * d + k]) * c[r * d + k];
    EXPECT_GT(dot, 0.99) << "row " << r;
  }
}

TEST(Cuda, FusedAttentionMatchesManualOnGpu) {
  SKIP_WITHOUT_CUDA();
  Encoder e = tiny_encoder();
  const torch::Device dev(torch::kCUDA, 0);
  e->to(dev);
  auto ids = torch::randint(kNumSpecialTokens, 300, {4, 20}, torch::kLong).to(dev);
  auto mask = torch::ones({4, 20}, torch::kBool);
  mask.narrow(1, 12, 8).select(0, 1).fill_(false);
  mask = mask.to(dev);
  torch::NoGradGuard g;
  e->set_attention_kernel(AttentionKernel::kFused);
  auto fused = e->forward(ids, mask);
  e->set_attention_kernel(AttentionKernel::kManual);
  auto manual = e->forward(ids, mask);
  auto m = mask.unsqueeze(-1);
  EXPECT_LT((fused - manual).abs().masked_select(m).max().item<double>(), 1e-3);
}

TEST(Cuda, TrainingStepsReduceLossOnGpu) {
  SKIP_WITHOUT_CUDA();
  const torch::Device dev(torch::kCUDA, 0);
  Encoder e = tiny_encoder();
  e->to(dev);
  e->train();
  torch::optim::AdamW opt(e->parameters(), torch::optim::AdamWOptions(1e-3));
  torch::manual_seed(1);
  auto ids = torch::randint(kNumSpecialTokens, 300, {32, 16}, torch::kLong).to(dev);
  auto ids2 = torch::cat({ids, ids});
  auto mask = torch::ones({64, 16}, torch::kBool).to(dev);
  double first = 0, last = 0;
  for (int s = 0; s < 30; ++s) {
    opt.zero_grad();
    torch::Tensor loss;
    {
      compat::AutocastGuard ac(at::kCUDA, true);
      auto z = e->encode(ids2, mask, true);
      loss = info_nce_loss(z.narrow(0, 0, 32), z.narrow(0, 32, 32), 0.05);
    }
    loss.backward();
    opt.step();
    if (s == 0) first = loss.item<double>();
    last = loss.item<double>();
  }
  EXPECT_LT(last, first);
}

}  // namespace
}  // namespace sembed
