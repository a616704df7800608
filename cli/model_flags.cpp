#include "cli/model_flags.h"

#include <CLI/CLI.hpp>

#include "cli/command.h"

namespace sembed::cli {

void ModelFlags::add_to(CLI::App* app, bool with_max_len) {
  app->add_option("--preset", preset, "Encoder shape: tiny (2x128), small (6x384), base (12x768)")
      ->check(CLI::IsMember({"tiny", "small", "base"}))
      ->capture_default_str();
  app->add_option("--layers", layers, "Transformer layers (overrides the preset)");
  app->add_option("--hidden", hidden, "Hidden width (overrides the preset)");
  app->add_option("--heads", heads, "Attention heads (overrides the preset)");
  app->add_option("--ffn", ffn, "Feed-forward width (overrides the preset)");
  if (with_max_len)
    app->add_option("--max-len", max_len, "Position limit in tokens (overrides the preset)");
  app->add_option("--dropout", dropout, "Dropout on embeddings, attention, residuals");
  app->add_option("--pooling", pooling,
                  "Sentence pooling: mean, idf_mean (IDF-weighted mean), cls or cls_mlp")
      ->check(CLI::IsMember({"mean", "idf_mean", "cls", "cls_mlp"}))
      ->capture_default_str();
  app->add_flag("--mlp-at-inference", mlp_at_inference,
                "With cls_mlp: keep the MLP head at inference (SimCSE drops it)");
  app->add_option("--lexical-weight", lexical_weight,
                  "Lexical residual path: weight w in [0, 1) of a fixed TF-IDF random projection "
                  "beside the transformer (cosine = w lexical + (1-w) transformer; vectors get "
                  "2 x hidden values; 0 = off)")
      ->check(CLI::Range(0.0, 0.999))
      ->capture_default_str();
}

EncoderConfig ModelFlags::encoder() const {
  EncoderConfig c;
  try {
    c = EncoderConfig::preset(preset);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  if (layers > 0) c.layers = layers;
  if (hidden > 0) c.hidden = hidden;
  if (heads > 0) c.heads = heads;
  if (ffn > 0) c.ffn = ffn;
  if (max_len > 0) c.max_len = max_len;
  if (dropout >= 0) c.dropout = c.attention_dropout = dropout;
  return c;
}

PoolingConfig ModelFlags::pooling_config() const {
  PoolingConfig p;
  p.mode = pooling;
  p.mlp_at_inference = mlp_at_inference;
  p.lexical_weight = lexical_weight;
  return p;
}

}  // namespace sembed::cli
