#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "tokenizer/tokenizer.h"

namespace sembed {

// Current model directory format. Loading refuses any other value.
inline constexpr int kModelFormatVersion = 1;

// Shape of the transformer encoder. Pre-LayerNorm (LN inside each residual branch, plus a final
// LN): it trains stably from scratch without the careful warm-up post-LN needs, which matters
// because sembed trains its encoders from random init.
struct EncoderConfig {
  int vocab_size = 8000;  // taken from the tokenizer
  int hidden = 384;       // model width
  int layers = 6;         // transformer layers
  int heads = 12;         // attention heads (hidden % heads == 0)
  int ffn = 1536;         // feed-forward inner width
  int max_len = 128;      // learned positions = longest input in tokens ([CLS]/[SEP] incl.)
  double dropout = 0.1;   // on embeddings and residual branches
  double attention_dropout = 0.1;  // on attention probabilities
  double layer_norm_eps = 1e-5;    // LayerNorm epsilon

  // "tiny" (2x128, for tests), "small" (6x384, 12 heads, ffn 1536), "base" (12x768, BERT-base).
  // Throws std::invalid_argument for unknown names.
  static EncoderConfig preset(const std::string& name);
  void validate() const;
  // Parameter count (embeddings included, pooler excluded).
  int64_t parameter_count() const;
};
void to_json(nlohmann::json& j, const EncoderConfig& c);
void from_json(const nlohmann::json& j, EncoderConfig& c);

// How token states become one sentence vector.
struct PoolingConfig {
  // "cls": the [CLS] state; "mean": mask-aware mean of all real tokens; "cls_mlp": [CLS] through
  // Linear+tanh (SimCSE's training head; see mlp_at_inference); "idf_mean": mean of the real
  // tokens weighted by each piece's inverse document frequency (stored with the model as the
  // "token_weights" tensor). At random init an idf_mean encoder is close to TF-IDF over pieces,
  // so training starts from the lexical baseline instead of far below it.
  std::string mode = "mean";
  // For cls_mlp: also apply the MLP at inference. SimCSE drops it (plain [CLS]) by default.
  bool mlp_at_inference = false;
  bool normalize = true;  // L2-normalise sentence vectors
  // Lexical residual path, weight w in [0, 1): 0 = off. When on, a sentence vector is
  // [sqrt(w) * unit(lexical), sqrt(1 - w) * unit(pooled)] (2 x hidden values, unit length), so
  // its cosine is w * lexical cosine + (1 - w) * transformer cosine. "lexical" is the IDF-weighted
  // mean of a fixed random table ("lexical_table" buffer, never trained): a random projection of
  // TF-IDF over pieces. Training then refines the transformer part on top of lexical overlap
  // instead of having to keep it. Needs the token_weights (IDF) like idf_mean.
  double lexical_weight = 0.0;
  void validate() const;
  bool has_lexical_path() const { return lexical_weight > 0; }
  // Length of a sentence vector from a `hidden`-wide encoder: 2 x hidden with the lexical path.
  int vector_dim(int hidden) const { return hidden * (has_lexical_path() ? 2 : 1); }
  // idf_mean pooling or the lexical path: the model holds per-piece IDF weights.
  bool uses_token_weights() const { return mode == "idf_mean" || has_lexical_path(); }
  // Pooling actually used for inference ("cls" for cls_mlp without mlp_at_inference).
  std::string inference_mode() const;
};
void to_json(nlohmann::json& j, const PoolingConfig& c);
void from_json(const nlohmann::json& j, PoolingConfig& c);

// Everything a model directory's config.json holds.
struct ModelConfig {
  int format_version = kModelFormatVersion;
  TokenizerConfig tokenizer;
  EncoderConfig encoder;
  PoolingConfig pooling;
  nlohmann::json provenance = nlohmann::json::object();  // how the model was made (free form)

  void validate() const;
  // Length of a sentence vector: hidden, or 2 x hidden with the lexical path.
  int embedding_dim() const { return pooling.vector_dim(encoder.hidden); }
};
void to_json(nlohmann::json& j, const ModelConfig& c);
// Throws std::runtime_error for a missing or unsupported format_version.
void from_json(const nlohmann::json& j, ModelConfig& c);

}  // namespace sembed
