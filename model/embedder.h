#pragma once

// Strings in, unit vectors out. The public face of a model directory for inference: std types
// only, the model behind a pimpl.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/config.h"
#include "tokenizer/tokenizer.h"

namespace sembed {

struct EmbedderOptions {
  std::string device = "auto";  // cpu, cuda, cuda:N or auto
  bool bf16 = false;            // bf16 autocast (CPU via oneDNN, CUDA)
  int threads = 0;              // CPU intra-op threads (0 = all cores)
  int batch_size = 64;          // texts per forward pass (length-sorted, dynamically padded)
  int max_len = 0;              // tokens per text incl. [CLS]/[SEP] (0 = the model's max_len)
  int normalize = -1;           // -1: as the model's pooling config says; 0/1 override

  void validate() const;
};

struct EmbedStats {
  int64_t texts = 0;
  int64_t tokens = 0;     // real tokens fed to the model
  int64_t truncated = 0;  // texts cut to max_len
  int64_t batches = 0;    // forward passes
};

class Embedder {
 public:
  // Loads a model directory. Throws std::runtime_error (bad directory) or std::invalid_argument
  // (bad options, e.g. max_len above the model's).
  Embedder(const std::string& model_dir, const EmbedderOptions& options = {});
  ~Embedder();
  Embedder(const Embedder&) = delete;
  Embedder& operator=(const Embedder&) = delete;

  // Row-major [texts.size(), dim()] vectors, row i for texts[i]. Texts are normalised and
  // tokenised on all cores, sorted by length, batched with padding to each batch's longest text,
  // and put back in input order, so a text's vector does not depend on its batch. Texts longer
  // than max_len are truncated and counted in `stats`. Safe to call from several threads.
  std::vector<float> embed(const std::vector<std::string>& texts,
                           EmbedStats* stats = nullptr) const;

  // Same for texts already tokenised with tokenizer() (piece ids, no special tokens; each list at
  // most max_len() - 2 long, else it is truncated and counted). `max_batch_tokens` > 0 caps
  // padded tokens per forward pass instead of batch_size.
  std::vector<float> embed_pieces(const std::vector<std::vector<int>>& pieces, bool normalize,
                                  int64_t max_batch_tokens = 0, EmbedStats* stats = nullptr) const;

  int dim() const;
  int max_len() const;
  bool normalizes() const;
  std::string device() const;
  const ModelConfig& config() const;
  const Tokenizer& tokenizer() const;
  // hash of model.safetensors (identifies the weights in embedding files' meta.json)
  const std::string& weights_hash() const;
  const EmbedderOptions& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sembed
