#pragma once

// The model directory (no torch in this header):
//   config.json         ModelConfig + format_version + provenance + weights {file, bytes, hash}
//   model.safetensors   encoder weights; tensor names are the registered module names
//   tokenizer.model     the SentencePiece model
#include <cstdint>
#include <string>

#include "model/config.h"

namespace sembed {

inline constexpr const char* kConfigFile = "config.json";
inline constexpr const char* kWeightsFile = "model.safetensors";
inline constexpr const char* kTokenizerFile = "tokenizer.model";

// Reads and validates DIR/config.json. Throws std::runtime_error naming the file for a missing
// directory, bad JSON, an unsupported format_version or an invalid config.
ModelConfig read_model_config(const std::string& dir);
// DIR/tokenizer.model with the settings `config` records for it (a model directory keeps them in
// config.json, not in a .json beside the tokenizer). Throws std::runtime_error when it is missing.
Tokenizer load_model_tokenizer(const std::string& dir, const ModelConfig& config);
// The "weights" record of config.json: what model.safetensors must be.
struct WeightsRecord {
  int64_t bytes = -1;
  std::string hash;  // hex of hash64 over the file bytes
};
WeightsRecord read_weights_record(const std::string& dir);
// hex of hash64(bytes)
std::string content_hash(const std::string& bytes);

}  // namespace sembed
