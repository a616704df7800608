#pragma once

// Creating a randomly initialised model directory (std types only; usable from the CLI).
#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"

namespace sembed {

struct InitOptions {
  std::string tokenizer_path;  // PATH.model with its PATH.model.json sidecar
  std::string output_dir;      // written atomically
  EncoderConfig encoder;       // vocab_size is taken from the tokenizer
  PoolingConfig pooling;
  uint64_t seed = 42;                   // weight initialisation seed
  std::vector<std::string> idf_corpus;  // idf_mean pooling: piece IDF from these files
  void validate() const;
};

// Writes a model directory with random weights. Returns the config written.
ModelConfig init_model(const InitOptions& options);

}  // namespace sembed
