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

// Writes a model directory with random weights. Returns the config written. A model that needs
// piece IDF (idf_mean pooling, lexical path) but got no idf_corpus has unit weights and is marked
// with provenance[kTokenWeightsUnset], so that training it computes the IDF from its data.
ModelConfig init_model(const InitOptions& options);
inline constexpr const char* kTokenWeightsUnset = "token_weights_unset";
inline bool token_weights_unset(const ModelConfig& config) {
  return config.provenance.value(kTokenWeightsUnset, false);
}

struct LexicalOptions {
  std::string model_dir;                // an existing model directory
  std::string output_dir;               // written atomically (may equal model_dir)
  double weight = 0.3;                  // lexical_weight in [0, 1); 0 removes the path
  std::vector<std::string> idf_corpus;  // piece IDF from these files; default: the model's own
                                        // token_weights (required when it has none)
  uint64_t seed = 42;                   // draws the lexical table when the model has none
  // The lexical table: "" keeps the model's own (a new path draws a random one), "random" draws
  // a new one with `seed`, "embeddings" copies the model's trained token embedding table (the
  // lexical half becomes an IDF-weighted bag of the model's learned piece vectors).
  std::string table;
};

// Copies a trained model with its lexical residual path added, re-weighted or removed
// (PoolingConfig::lexical_weight): the transformer's weights are unchanged, so this is a
// post-hoc mix of its cosine with TF-IDF's. Returns the config written.
ModelConfig set_lexical_path(const LexicalOptions& options);

}  // namespace sembed
