#include "model/encoder.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <mutex>

#include "model/torch_compat.h"

namespace sembed {

namespace {

// fp32 inference on the CPU: oneDNN's inner product. Debian's LibTorch sends fp32 GEMMs to
// OpenBLAS, whose run-time CPU detection falls back to its SSE3 ("Prescott") kernels on CPUs it
// does not know (0.3.21 on Sapphire Rapids: ~11 GFLOP/s a core where oneDNN's AVX-512 code does
// ~50). Training (autograd) and autocast keep ATen's path.
bool use_onednn(const torch::Tensor& x) {
  return x.is_cpu() && x.scalar_type() == torch::kFloat32 && !torch::GradMode::is_enabled() &&
         at::hasMKLDNN() && at::globalContext().userEnabledMkldnn() &&
         !compat::autocast_enabled(at::kCPU);
}

// y = x W^T + b. Not torch::nn::Linear::forward: in LibTorch 1.13 that runs matmul(x, W.t()) and
// then `+= b` for 3-D inputs, which under bf16 autocast recasts W on every call (W.t() is a view,
// so autocast's weight cache misses) and adds the fp32 bias into the bf16 result on a slow
// mixed-type path, together half the bf16 forward time. at::linear is one fused addmm, and
// autocast casts each weight once per autocast region.
torch::Tensor linear(const torch::nn::Linear& layer, const torch::Tensor& x) {
  if (use_onednn(x)) {
    const int64_t in = x.size(-1);
    auto y =
        at::mkldnn_linear(x.reshape({-1, in}).contiguous().to_mkldnn(), layer->weight, layer->bias)
            .to_dense();
    std::vector<int64_t> sizes = x.sizes().vec();
    sizes.back() = y.size(1);
    return y.view(sizes);
  }
  return at::linear(x, layer->weight, layer->bias);
}

uint64_t splitmix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// mask[i] = scale where the i-th 16-bit draw is below `keep` (of 65536), else 0.
template <typename T>
void fill_dropout_mask(T* mask, int64_t n, uint64_t seed, uint32_t keep, float scale) {
  const T on = static_cast<T>(scale), off = static_cast<T>(0.0f);
  int64_t i = 0;
  for (uint64_t block = 0; i < n; ++block) {
    uint64_t bits = splitmix64(seed + block);
    for (int k = 0; k < 4 && i < n; ++k, ++i, bits >>= 16)
      mask[i] = (bits & 0xffff) < keep ? on : off;
  }
}

}  // namespace

torch::Tensor train_dropout(const torch::Tensor& x, double p, bool training) {
  if (!training || p <= 0.0) return x;
  const auto type = x.scalar_type();
  if (!x.is_cpu() || p >= 1.0 || (type != torch::kFloat32 && type != torch::kBFloat16))
    return torch::dropout(x, p, training);
  const auto keep = static_cast<uint32_t>(std::lround((1.0 - p) * 65536.0));
  if (keep == 0) return x * 0;
  uint64_t seed;
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    seed = at::check_generator<at::CPUGeneratorImpl>(gen)->random64();
  }
  const float scale = static_cast<float>(65536.0 / keep);
  torch::Tensor mask = torch::empty(x.sizes(), x.options().requires_grad(false));
  if (type == torch::kFloat32)
    fill_dropout_mask(mask.data_ptr<float>(), mask.numel(), seed, keep, scale);
  else
    fill_dropout_mask(mask.data_ptr<at::BFloat16>(), mask.numel(), seed, keep, scale);
  return x * mask;
}

AttentionImpl::AttentionImpl(const EncoderConfig& c)
    : heads_(c.heads), dropout_(c.attention_dropout) {
  qkv = register_module("qkv", torch::nn::Linear(c.hidden, 3 * c.hidden));
  out = register_module("out", torch::nn::Linear(c.hidden, c.hidden));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& attend) {
  const int64_t B = x.size(0), T = x.size(1), H = x.size(2), d = H / heads_;
  // [B, T, 3, heads, d] -> 3 x [B, heads, T, d]
  auto parts = linear(qkv, x).view({B, T, 3, heads_, d}).permute({2, 0, 3, 1, 4}).unbind(0);
  const torch::Tensor &q = parts[0], &k = parts[1], &v = parts[2];
  const double p = is_training() ? dropout_ : 0.0;
  torch::Tensor ctx;
  // Training on the CPU with attention dropout: the written-out path, whose dropout is
  // train_dropout (the fused op would draw its mask with bernoulli_, one element at a time).
  if (kernel == AttentionKernel::kFused && !(p > 0 && x.is_cpu())) {
    ctx = compat::scaled_dot_product_attention(q, k, v, attend, p);
  } else {
    auto scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(d));
    scores = scores.masked_fill(attend.logical_not(), -std::numeric_limits<float>::infinity());
    auto probs = torch::softmax(scores, -1);
    if (p > 0) probs = train_dropout(probs, p, true);
    ctx = torch::matmul(probs.to(v.scalar_type()), v);
  }
  return linear(out, ctx.transpose(1, 2).reshape({B, T, H}));
}

FeedForwardImpl::FeedForwardImpl(const EncoderConfig& c) {
  up = register_module("up", torch::nn::Linear(c.hidden, c.ffn));
  down = register_module("down", torch::nn::Linear(c.ffn, c.hidden));
}

torch::Tensor FeedForwardImpl::forward(const torch::Tensor& x) {
  return linear(down, torch::gelu(linear(up, x)));
}

EncoderLayerImpl::EncoderLayerImpl(const EncoderConfig& c) {
  auto ln = torch::nn::LayerNormOptions({c.hidden}).eps(c.layer_norm_eps);
  attention_norm = register_module("attention_norm", torch::nn::LayerNorm(ln));
  attention = register_module("attention", Attention(c));
  ffn_norm = register_module("ffn_norm", torch::nn::LayerNorm(ln));
  ffn = register_module("ffn", FeedForward(c));
  dropout = register_module("dropout", torch::nn::Dropout(c.dropout));
}

torch::Tensor EncoderLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& attend) {
  const double p = dropout->options.p();
  auto h = x + train_dropout(attention(attention_norm(x), attend), p, is_training());
  return h + train_dropout(ffn(ffn_norm(h)), p, is_training());
}

EmbeddingsImpl::EmbeddingsImpl(const EncoderConfig& c) {
  token = register_module("token", torch::nn::Embedding(c.vocab_size, c.hidden));
  position = register_module("position", torch::nn::Embedding(c.max_len, c.hidden));
  norm = register_module(
      "norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.hidden}).eps(c.layer_norm_eps)));
  dropout = register_module("dropout", torch::nn::Dropout(c.dropout));
}

torch::Tensor EmbeddingsImpl::forward(const torch::Tensor& ids) {
  auto positions = torch::arange(ids.size(1), ids.options().dtype(torch::kLong));
  return train_dropout(norm(token(ids) + position(positions).unsqueeze(0)), dropout->options.p(),
                       is_training());
}

PoolerImpl::PoolerImpl(int hidden) {
  dense = register_module("dense", torch::nn::Linear(hidden, hidden));
}

EncoderImpl::EncoderImpl(const EncoderConfig& config, const PoolingConfig& pooling)
    : config_(config), pooling_(pooling) {
  config_.validate();
  pooling_.validate();
  embeddings = register_module("embeddings", Embeddings(config_));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int i = 0; i < config_.layers; ++i) layers->push_back(EncoderLayer(config_));
  final_norm = register_module(
      "final_norm", torch::nn::LayerNorm(
                        torch::nn::LayerNormOptions({config_.hidden}).eps(config_.layer_norm_eps)));
  if (pooling_.mode == "cls_mlp") pooler = register_module("pooler", Pooler(config_.hidden));
  if (pooling_.uses_token_weights()) {
    token_weights = register_buffer("token_weights", torch::ones({config_.vocab_size}));
    token_weights.narrow(0, 0, kNumSpecialTokens).zero_();
    token_weights[kUnkId] = 1.0;
  }
  if (pooling_.has_lexical_path())
    lexical_table =
        register_buffer("lexical_table", torch::zeros({config_.vocab_size, config_.hidden}));
  reset_parameters(0);
}

void EncoderImpl::reset_parameters(uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const double residual_scale = 1.0 / std::sqrt(2.0 * config_.layers);
  for (auto& item : named_parameters()) {
    const std::string& name = item.key();
    torch::Tensor p = item.value();
    const bool is_norm = name.find("norm") != std::string::npos;
    const bool is_bias = name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0;
    // Draw on the CPU generator for reproducibility across devices, then copy.
    if (is_norm) {
      p.fill_(is_bias ? 0.0 : 1.0);
    } else if (is_bias) {
      p.zero_();
    } else {
      double std = 0.02;
      if (name.find("attention.out.weight") != std::string::npos ||
          name.find("ffn.down.weight") != std::string::npos)
        std *= residual_scale;
      // Small positions at init: every sentence shares them, so at full scale they would drown
      // the token identities that mean / idf_mean pooling start from.
      if (name == "embeddings.position.weight") std *= 0.1;
      auto t = at::normal(0.0, std, p.sizes(), gen, torch::TensorOptions().dtype(torch::kFloat32));
      p.copy_(t);
    }
  }
  draw_lexical_table(seed);
}

void EncoderImpl::draw_lexical_table(uint64_t seed) {
  // Any fixed random table works (the lexical part is a random projection of TF-IDF); its own
  // stream keeps it independent of the token embeddings, so at init the two halves are two
  // different projections of the same bag.
  if (!lexical_table.defined()) return;
  torch::NoGradGuard no_grad;
  auto lex_gen = at::make_generator<at::CPUGeneratorImpl>(seed ^ 0x9e3779b97f4a7c15ULL);
  lexical_table.copy_(at::normal(0.0, 1.0, lexical_table.sizes(), lex_gen,
                                 torch::TensorOptions().dtype(torch::kFloat32)));
}

void EncoderImpl::set_token_weights(const std::vector<float>& weights) {
  if (!pooling_.uses_token_weights())
    throw std::invalid_argument("token weights need pooling mode idf_mean or a lexical path, not " +
                                pooling_.mode);
  if (static_cast<int>(weights.size()) != config_.vocab_size)
    throw std::invalid_argument("token weights: " + std::to_string(weights.size()) +
                                " values for a vocabulary of " +
                                std::to_string(config_.vocab_size));
  torch::NoGradGuard no_grad;
  auto w = torch::tensor(weights).clamp_min(0.0);
  w.narrow(0, 0, kNumSpecialTokens).zero_();
  w[kUnkId] = std::max(0.0f, weights[kUnkId]);
  token_weights.copy_(w.to(token_weights.device()));
}

void EncoderImpl::set_attention_kernel(AttentionKernel kernel) {
  for (auto& m : *layers) m->as<EncoderLayer>()->attention->kernel = kernel;
}

torch::Tensor EncoderImpl::forward(const torch::Tensor& ids, const torch::Tensor& mask) {
  TORCH_CHECK(ids.dim() == 2, "ids must be [batch, seq_len]");
  TORCH_CHECK(ids.size(1) <= config_.max_len, "sequence length ", ids.size(1),
              " exceeds the model's max_len ", config_.max_len);
  auto attend = mask.to(torch::kBool).unsqueeze(1).unsqueeze(2);  // [B, 1, 1, T]
  auto x = embeddings(ids);
  for (auto& m : *layers) x = m->as<EncoderLayer>()->forward(x, attend);
  return final_norm(x);
}

Encoder rebuild_encoder(const Encoder& from, const EncoderConfig& config,
                        const PoolingConfig& pooling, uint64_t seed) {
  Encoder to(config, pooling);
  to->reset_parameters(seed);
  torch::NoGradGuard no_grad;
  const auto params = from->named_parameters(true);
  for (auto& p : to->named_parameters(true))
    if (const torch::Tensor* s = params.find(p.key())) p.value().copy_(*s);
  const auto buffers = from->named_buffers(true);
  for (auto& b : to->named_buffers(true))
    if (const torch::Tensor* s = buffers.find(b.key())) b.value().copy_(*s);
  return to;
}

torch::Tensor mean_pool(const torch::Tensor& hidden, const torch::Tensor& mask) {
  auto m = mask.to(hidden.scalar_type()).unsqueeze(-1);  // [B, T, 1]
  return (hidden * m).sum(1) / m.sum(1).clamp_min(1.0);
}

torch::Tensor EncoderImpl::idf_weights(const torch::Tensor& ids, const torch::Tensor& mask) const {
  auto m = mask.to(torch::kFloat32);
  auto w = token_weights.index_select(0, ids.reshape({-1})).view(ids.sizes()) * m;
  // A text of special tokens only (the empty text) falls back to the plain mean.
  auto total = w.sum(1, true);
  w = torch::where(total > 0, w, m);
  return w / w.sum(1, true).clamp_min(1e-6);
}

torch::Tensor EncoderImpl::pool(const torch::Tensor& hidden, const torch::Tensor& ids,
                                const torch::Tensor& mask, bool training_head) {
  const std::string mode = training_head ? pooling_.mode : pooling_.inference_mode();
  // [B, T, 1], shared by idf_mean and the lexical path.
  const torch::Tensor weights =
      pooling_.uses_token_weights() ? idf_weights(ids, mask).unsqueeze(-1) : torch::Tensor();
  torch::Tensor pooled;
  if (mode == "mean") {
    pooled = mean_pool(hidden, mask);
  } else if (mode == "idf_mean") {
    pooled = (hidden * weights.to(hidden.scalar_type())).sum(1);
  } else {
    auto cls = hidden.select(1, 0);
    pooled = mode == "cls_mlp" ? pooler(cls) : cls;
  }
  if (!pooling_.has_lexical_path()) return pooled;
  namespace F = torch::nn::functional;
  const auto unit = F::NormalizeFuncOptions().dim(1);
  // fp32 whatever autocast does: the table lookup and weighted sum are cheap.
  auto rows = lexical_table.index_select(0, ids.reshape({-1})).view({ids.size(0), ids.size(1), -1});
  auto lexical = (rows * weights).sum(1);
  const double w = pooling_.lexical_weight;
  return torch::cat({F::normalize(lexical, unit) * std::sqrt(w),
                     F::normalize(pooled.to(torch::kFloat32), unit) * std::sqrt(1.0 - w)},
                    1);
}

torch::Tensor EncoderImpl::embed(const torch::Tensor& ids, const torch::Tensor& mask) {
  auto v = encode(ids, mask, false).to(torch::kFloat32);
  if (pooling_.normalize || pooling_.has_lexical_path())
    v = torch::nn::functional::normalize(v, torch::nn::functional::NormalizeFuncOptions().dim(1));
  return v;
}

torch::Device resolve_device(const std::string& name) {
  if (name == "auto")
    return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::kCPU;
  if (name == "cpu") return torch::kCPU;
  if (name.rfind("cuda", 0) == 0) {
    if (!torch::cuda::is_available())
      throw std::invalid_argument("device '" + name + "' requested but no CUDA GPU is available " +
                                  "(this LibTorch: " + TORCH_VERSION + ")");
    int index = 0;
    if (name.size() > 5 && name[4] == ':') index = std::stoi(name.substr(5));
    if (index < 0 || index >= static_cast<int>(torch::cuda::device_count()))
      throw std::invalid_argument("device '" + name + "' does not exist");
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw std::invalid_argument("unknown device '" + name + "' (cpu, cuda, cuda:N or auto)");
}

}  // namespace sembed
