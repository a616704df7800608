#pragma once

// The transformer encoder (LibTorch). Registered module names are checkpoint keys: a frozen API.
//   embeddings.token.weight [V, H]      embeddings.position.weight [L, H]
//   embeddings.norm.{weight,bias}
//   layers.N.attention_norm.{weight,bias}  layers.N.attention.qkv.{weight,bias} [3H, H]
//   layers.N.attention.out.{weight,bias}   layers.N.ffn_norm.{weight,bias}
//   layers.N.ffn.up.{weight,bias} [F, H]   layers.N.ffn.down.{weight,bias} [H, F]
//   final_norm.{weight,bias}               pooler.dense.{weight,bias} (cls_mlp only)
//   token_weights [V] (idf_mean or lexical path: per-piece IDF weights, a buffer, not trained)
//   lexical_table [V, H] (lexical path only: fixed random piece vectors, a buffer, not trained)
#include <torch/torch.h>

#include "model/config.h"

namespace sembed {

// Dropout for training: zeroes each element with probability p and scales the rest by the inverse
// of the kept fraction; identity when !training or p == 0. On the CPU the mask comes from a
// counter-based hash (splitmix64) seeded by one draw from torch's default CPU generator (so
// torch::manual_seed still fixes it): LibTorch's CPU bernoulli_ draws one element at a time and
// was a quarter of a bf16 training step. Keep probabilities are quantised to 1/65536. Other
// devices use torch::dropout.
torch::Tensor train_dropout(const torch::Tensor& x, double p, bool training);

enum class AttentionKernel {
  kFused,   // scaled_dot_product_attention (model/torch_compat.h)
  kManual,  // softmax(QK^T / sqrt(d)) V written out; the reference the fused path is tested on
};

class AttentionImpl : public torch::nn::Module {
 public:
  explicit AttentionImpl(const EncoderConfig& config);
  // x: [B, T, H]; attend: bool [B, 1, 1, T] (true = real token). Returns [B, T, H].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& attend);
  AttentionKernel kernel = AttentionKernel::kFused;

  torch::nn::Linear qkv{nullptr}, out{nullptr};

 private:
  int heads_;
  double dropout_;
};
TORCH_MODULE(Attention);

class FeedForwardImpl : public torch::nn::Module {
 public:
  explicit FeedForwardImpl(const EncoderConfig& config);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Linear up{nullptr}, down{nullptr};
};
TORCH_MODULE(FeedForward);

// Pre-LN block: x + drop(attn(LN(x))), then h + drop(ffn(LN(h))).
class EncoderLayerImpl : public torch::nn::Module {
 public:
  explicit EncoderLayerImpl(const EncoderConfig& config);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& attend);
  torch::nn::LayerNorm attention_norm{nullptr}, ffn_norm{nullptr};
  Attention attention{nullptr};
  FeedForward ffn{nullptr};
  torch::nn::Dropout dropout{nullptr};
};
TORCH_MODULE(EncoderLayer);

class EmbeddingsImpl : public torch::nn::Module {
 public:
  explicit EmbeddingsImpl(const EncoderConfig& config);
  torch::Tensor forward(const torch::Tensor& ids);
  torch::nn::Embedding token{nullptr}, position{nullptr};
  torch::nn::LayerNorm norm{nullptr};
  torch::nn::Dropout dropout{nullptr};
};
TORCH_MODULE(Embeddings);

// Linear + tanh over the [CLS] state (SimCSE's MLP head).
class PoolerImpl : public torch::nn::Module {
 public:
  explicit PoolerImpl(int hidden);
  torch::Tensor forward(const torch::Tensor& x) { return torch::tanh(dense(x)); }
  torch::nn::Linear dense{nullptr};
};
TORCH_MODULE(Pooler);

class EncoderImpl : public torch::nn::Module {
 public:
  EncoderImpl(const EncoderConfig& config, const PoolingConfig& pooling);

  // ids: int64 [B, T]; mask: [B, T] (bool or integer, nonzero = real token). T <= max_len.
  // Returns the final hidden states [B, T, H].
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& mask);
  // Sentence vectors [B, D] from hidden states of `ids`. `training_head`: apply the cls_mlp head
  // even when inference would drop it. Not normalised (see embed()), except with the lexical path:
  // then D = 2H and the vector is [sqrt(w) unit(lexical), sqrt(1-w) unit(pooled)] (fp32).
  torch::Tensor pool(const torch::Tensor& hidden, const torch::Tensor& ids,
                     const torch::Tensor& mask, bool training_head);
  // forward + pool.
  torch::Tensor encode(const torch::Tensor& ids, const torch::Tensor& mask, bool training_head) {
    return pool(forward(ids, mask), ids, mask, training_head);
  }
  // forward + pool (+ L2 normalisation when the pooling config says so).
  torch::Tensor embed(const torch::Tensor& ids, const torch::Tensor& mask);

  // Normal(0, 0.02) weights, zero biases, unit LayerNorms; residual output projections scaled by
  // 1/sqrt(2 * layers) (keeps a deep pre-LN stack's activations bounded at init).
  void reset_parameters(uint64_t seed);
  // The lexical path's random table as reset_parameters(seed) draws it (no-op without the path).
  void draw_lexical_table(uint64_t seed);
  void set_attention_kernel(AttentionKernel kernel);
  // idf_mean / lexical path: sets the per-piece IDF weights (vocab_size values, >= 0; special
  // tokens other than [UNK] are forced to 0). Throws std::invalid_argument for a wrong size or a
  // model without token weights.
  void set_token_weights(const std::vector<float>& weights);

  const EncoderConfig& config() const { return config_; }
  const PoolingConfig& pooling_config() const { return pooling_; }

  Embeddings embeddings{nullptr};
  torch::nn::ModuleList layers{nullptr};
  torch::nn::LayerNorm final_norm{nullptr};
  Pooler pooler{nullptr};       // null unless pooling mode is cls_mlp
  torch::Tensor token_weights;  // undefined unless pooling_config().uses_token_weights()
  torch::Tensor lexical_table;  // undefined unless pooling_config().has_lexical_path()
  // Length of the vectors pool() returns.
  int64_t output_dim() const { return pooling_.vector_dim(config_.hidden); }

 private:
  // Per-token IDF pooling weights [B, T] (fp32, rows sum to 1).
  torch::Tensor idf_weights(const torch::Tensor& ids, const torch::Tensor& mask) const;

  EncoderConfig config_;
  PoolingConfig pooling_;
};
TORCH_MODULE(Encoder);

// A model whose shape options (dropout) and pooling follow `config` / `pooling`, drawn with `seed`,
// then every parameter and buffer it shares by name with `from` copied over (a new cls_mlp pooler,
// IDF or lexical table keeps its fresh value).
Encoder rebuild_encoder(const Encoder& from, const EncoderConfig& config,
                        const PoolingConfig& pooling, uint64_t seed);

// Mask-aware mean of hidden [B, T, H] over positions where mask != 0.
torch::Tensor mean_pool(const torch::Tensor& hidden, const torch::Tensor& mask);

// "cpu", "cuda", "cuda:N" or "auto" (CUDA when available). Throws std::invalid_argument for
// unknown names or CUDA without a GPU.
torch::Device resolve_device(const std::string& name);

}  // namespace sembed
