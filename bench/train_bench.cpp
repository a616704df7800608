// Training throughput of one SimCSE (unsup) step: tokens/s and model-FLOPs utilisation.
//   train_bench --preset base --batch-size 128 --seq-len 32 --steps 30 --device cuda [--fp32]
// Each step encodes batch-size sentences twice (two dropout views), so it processes
// 2 * batch * seq_len tokens. Model FLOPs per token (forward): per layer 2*(4H^2 + 2HF) for the
// projections plus 4*T*H for attention scores and mixing; a training step costs 3x forward.
// MFU is reported against --peak-tflops (990: H100/H200 dense bf16); peak_rss_mb is the
// process's peak resident memory (getrusage), model, optimizer state and activations included.
#include <sys/resource.h>
#include <torch/torch.h>
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/cpu.h"
#include "model/encoder.h"
#include "model/runtime.h"
#include "model/torch_compat.h"
#include "training/losses.h"

int main(int argc, char** argv) {
  using namespace sembed;
  CLI::App app{"sembed training-step benchmark"};
  std::string preset = "base", device_name = "auto", json_path;
  int batch = 128, seq_len = 32, steps = 30, warmup = 5, vocab = 16000, threads = 0, layers = 0;
  bool fp32 = false;
  double peak_tflops = 990.0, dropout = 0.1;
  app.add_option("--preset", preset, "tiny, small or base")->capture_default_str();
  app.add_option("--batch-size", batch, "Sentences per step")->capture_default_str();
  app.add_option("--seq-len", seq_len, "Tokens per sentence")->capture_default_str();
  app.add_option("--steps", steps, "Timed steps")->capture_default_str();
  app.add_option("--warmup-steps", warmup, "Untimed steps first")->capture_default_str();
  app.add_option("--layers", layers, "Override the preset's layer count (0: keep)");
  app.add_option("--vocab", vocab, "Vocabulary size")->capture_default_str();
  app.add_option("--device", device_name, "cpu, cuda or auto")->capture_default_str();
  app.add_option("--threads", threads, "CPU threads (0 = all)")->capture_default_str();
  app.add_flag("--fp32", fp32, "No bf16 autocast");
  app.add_option("--dropout", dropout, "Dropout on embeddings, residuals and attention")
      ->capture_default_str();
  app.add_option("--peak-tflops", peak_tflops, "Dense peak for MFU")->capture_default_str();
  app.add_option("--json", json_path, "Also write the result here");
  CLI11_PARSE(app, argc, argv);

  configure_torch_threads(threads);
  const torch::Device device = resolve_device(device_name);
  const bool bf16 = bf16_autocast_for(!fp32, device.is_cuda());  // fp32 where bf16 is emulated
  EncoderConfig cfg = EncoderConfig::preset(preset);
  cfg.vocab_size = vocab;
  if (layers > 0) cfg.layers = layers;
  cfg.max_len = std::max(cfg.max_len, seq_len);
  cfg.dropout = cfg.attention_dropout = dropout;
  PoolingConfig pooling;
  pooling.mode = "cls_mlp";
  Encoder encoder(cfg, pooling);
  encoder->to(device);
  encoder->train();
  torch::optim::AdamW opt(encoder->parameters(),
                          torch::optim::AdamWOptions(1e-4).weight_decay(0.01));
  auto ids = torch::randint(kNumSpecialTokens, vocab, {batch, seq_len}, torch::kLong);
  ids.select(1, 0).fill_(kClsId);
  ids.select(1, seq_len - 1).fill_(kSepId);
  ids = torch::cat({ids, ids}).to(device);
  auto mask = torch::ones({2 * batch, seq_len}, torch::kBool).to(device);
  auto sync = [&] {
    if (device.is_cuda()) torch::cuda::synchronize();
  };
  double loss_value = 0;
  auto step = [&] {
    opt.zero_grad();
    torch::Tensor loss;
    {
      compat::AutocastGuard autocast(device.is_cuda() ? at::kCUDA : at::kCPU, bf16);
      auto z = encoder->encode(ids, mask, true);
      loss = info_nce_loss(z.narrow(0, 0, batch), z.narrow(0, batch, batch), 0.05);
    }
    loss.backward();
    torch::nn::utils::clip_grad_norm_(encoder->parameters(), 1.0);
    opt.step();
    return loss;
  };
  for (int i = 0; i < warmup; ++i) loss_value = step().item<double>();
  sync();
  const auto t0 = std::chrono::steady_clock::now();
  torch::Tensor last;
  for (int i = 0; i < steps; ++i) last = step();
  sync();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  loss_value = last.item<double>();
  const double H = cfg.hidden, F = cfg.ffn, L = cfg.layers, T = seq_len;
  const double fwd_per_token = L * (2.0 * (4 * H * H + 2 * H * F) + 4.0 * T * H);
  const double tokens = 2.0 * batch * seq_len * steps;
  const double flops = 3.0 * fwd_per_token * tokens;
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  nlohmann::json out = {{"preset", preset},
                        {"layers", cfg.layers},
                        {"device", device.str()},
                        {"bf16", bf16},
                        {"dropout", dropout},
                        {"batch_size", batch},
                        {"seq_len", seq_len},
                        {"steps", steps},
                        {"seconds", secs},
                        {"steps_per_s", steps / secs},
                        {"sentences_per_s", batch * steps / secs},
                        {"tokens_per_s", tokens / secs},
                        {"model_tflops_per_s", flops / secs / 1e12},
                        {"mfu", flops / secs / (peak_tflops * 1e12)},
                        {"peak_tflops", peak_tflops},
                        {"parameters", cfg.parameter_count()},
                        {"final_loss", loss_value},
                        {"peak_rss_mb", usage.ru_maxrss / 1024.0},
                        {"torch", TORCH_VERSION}};
  std::printf("%s\n", out.dump(2).c_str());
  if (!json_path.empty()) std::ofstream(json_path) << out.dump(2) << "\n";
  return 0;
}
