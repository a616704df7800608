#pragma once

// The one routine that turns token lists into sentence vectors with an Encoder: length-sorted
// batches, dynamic padding, inference-mode forward, pooling, optional L2 normalisation, input order
// restored. Used by the Embedder and by evaluation during training.
#include <vector>

#include "model/embedder.h"
#include "model/encoder.h"

namespace sembed {

struct BatchEmbedOptions {
  int max_len = 128;             // tokens incl. [CLS]/[SEP]; longer lists are truncated
  int batch_size = 64;           // texts per forward pass (when max_batch_tokens == 0)
  int64_t max_batch_tokens = 0;  // > 0: cap on padded tokens per forward pass instead
  bool bf16 = false;             // bf16 autocast
  bool normalize = true;         // L2-normalise each vector
};

// Row-major [pieces.size(), hidden] vectors. The encoder must be in eval mode for deterministic
// results (this function does not change its mode). Throws std::invalid_argument for ids out of
// the vocabulary.
std::vector<float> embed_piece_lists(Encoder& encoder, const std::vector<std::vector<int>>& pieces,
                                     const BatchEmbedOptions& options, const torch::Device& device,
                                     EmbedStats* stats = nullptr);

}  // namespace sembed
