#include "model/config.h"

#include <stdexcept>

#include "sembed/version.h"

namespace sembed {

EncoderConfig EncoderConfig::preset(const std::string& name) {
  EncoderConfig c;
  if (name == "tiny") {
    c.hidden = 128, c.layers = 2, c.heads = 4, c.ffn = 512, c.max_len = 64;
  } else if (name == "small") {
    c.hidden = 384, c.layers = 6, c.heads = 12, c.ffn = 1536, c.max_len = 128;
  } else if (name == "base") {
    c.hidden = 768, c.layers = 12, c.heads = 12, c.ffn = 3072, c.max_len = 512;
  } else {
    throw std::invalid_argument("unknown preset '" + name + "' (tiny, small or base)");
  }
  return c;
}

void EncoderConfig::validate() const {
  auto require = [](bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument("encoder config: " + what);
  };
  require(vocab_size > kNumSpecialTokens,
          "vocab_size must be > " + std::to_string(kNumSpecialTokens));
  require(hidden > 0 && layers > 0 && heads > 0 && ffn > 0,
          "hidden, layers, heads, ffn must be > 0");
  require(hidden % heads == 0, "hidden (" + std::to_string(hidden) +
                                   ") must be divisible by heads (" + std::to_string(heads) + ")");
  require(max_len >= 3, "max_len must be >= 3");
  require(dropout >= 0 && dropout < 1, "dropout must be in [0, 1)");
  require(attention_dropout >= 0 && attention_dropout < 1, "attention_dropout must be in [0, 1)");
  require(layer_norm_eps > 0, "layer_norm_eps must be > 0");
}

int64_t EncoderConfig::parameter_count() const {
  const int64_t h = hidden, f = ffn;
  const int64_t emb =
      static_cast<int64_t>(vocab_size) * h + static_cast<int64_t>(max_len) * h + 2 * h;
  const int64_t layer =
      (3 * h * h + 3 * h) + (h * h + h) + 2 * h + (h * f + f) + (f * h + h) + 2 * h;
  return emb + layers * layer + 2 * h;
}

void to_json(nlohmann::json& j, const EncoderConfig& c) {
  j = nlohmann::json{{"vocab_size", c.vocab_size},
                     {"hidden", c.hidden},
                     {"layers", c.layers},
                     {"heads", c.heads},
                     {"ffn", c.ffn},
                     {"max_len", c.max_len},
                     {"dropout", c.dropout},
                     {"attention_dropout", c.attention_dropout},
                     {"layer_norm_eps", c.layer_norm_eps},
                     {"architecture", "pre-ln-transformer"},
                     {"activation", "gelu"}};
}

void from_json(const nlohmann::json& j, EncoderConfig& c) {
  c.vocab_size = j.at("vocab_size").get<int>();
  c.hidden = j.at("hidden").get<int>();
  c.layers = j.at("layers").get<int>();
  c.heads = j.at("heads").get<int>();
  c.ffn = j.at("ffn").get<int>();
  c.max_len = j.at("max_len").get<int>();
  c.dropout = j.value("dropout", 0.1);
  c.attention_dropout = j.value("attention_dropout", c.dropout);
  c.layer_norm_eps = j.value("layer_norm_eps", 1e-5);
}

void PoolingConfig::validate() const {
  if (mode != "cls" && mode != "mean" && mode != "cls_mlp" && mode != "idf_mean")
    throw std::invalid_argument("pooling mode must be cls, mean, cls_mlp or idf_mean, got '" +
                                mode + "'");
  if (!(lexical_weight >= 0 && lexical_weight < 1))
    throw std::invalid_argument("pooling lexical_weight must be in [0, 1), got " +
                                std::to_string(lexical_weight));
}

std::string PoolingConfig::inference_mode() const {
  if (mode == "cls_mlp" && !mlp_at_inference) return "cls";
  return mode;
}

void to_json(nlohmann::json& j, const PoolingConfig& c) {
  j = nlohmann::json{
      {"mode", c.mode}, {"mlp_at_inference", c.mlp_at_inference}, {"normalize", c.normalize}};
  if (c.has_lexical_path()) j["lexical_weight"] = c.lexical_weight;
}

void from_json(const nlohmann::json& j, PoolingConfig& c) {
  PoolingConfig d;
  c.mode = j.value("mode", d.mode);
  c.mlp_at_inference = j.value("mlp_at_inference", d.mlp_at_inference);
  c.normalize = j.value("normalize", d.normalize);
  c.lexical_weight = j.value("lexical_weight", d.lexical_weight);
}

void ModelConfig::validate() const {
  if (format_version != kModelFormatVersion)
    throw std::invalid_argument("unsupported model format_version " +
                                std::to_string(format_version));
  tokenizer.validate();
  encoder.validate();
  pooling.validate();
  if (encoder.vocab_size != tokenizer.vocab_size)
    throw std::invalid_argument("encoder vocab_size (" + std::to_string(encoder.vocab_size) +
                                ") differs from the tokenizer's (" +
                                std::to_string(tokenizer.vocab_size) + ")");
}

void to_json(nlohmann::json& j, const ModelConfig& c) {
  j = nlohmann::json{{"format_version", c.format_version},
                     {"sembed_version", SEMBED_VERSION},
                     {"tokenizer", c.tokenizer},
                     {"encoder", c.encoder},
                     {"pooling", c.pooling},
                     {"provenance", c.provenance}};
}

void from_json(const nlohmann::json& j, ModelConfig& c) {
  if (!j.is_object() || !j.contains("format_version"))
    throw std::runtime_error("config.json has no format_version: not a sembed model directory");
  c.format_version = j.at("format_version").get<int>();
  if (c.format_version != kModelFormatVersion)
    throw std::runtime_error("model format_version " + std::to_string(c.format_version) +
                             " is not supported (this sembed reads version " +
                             std::to_string(kModelFormatVersion) + ")");
  c.tokenizer = j.at("tokenizer").get<TokenizerConfig>();
  c.encoder = j.at("encoder").get<EncoderConfig>();
  c.pooling = j.at("pooling").get<PoolingConfig>();
  c.provenance = j.value("provenance", nlohmann::json::object());
}

}  // namespace sembed
