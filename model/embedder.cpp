#include "model/embedder.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>

#include "common/parallel.h"
#include "model/batch_embed.h"
#include "model/model_io.h"
#include "model/runtime.h"

namespace sembed {

void EmbedderOptions::validate() const {
  if (batch_size <= 0) throw std::invalid_argument("batch_size must be > 0");
  if (max_len < 0) throw std::invalid_argument("max_len must be >= 0");
  if (max_len > 0 && max_len < 3) throw std::invalid_argument("max_len must be >= 3");
  if (threads < 0) throw std::invalid_argument("threads must be >= 0");
}

struct Embedder::Impl {
  EmbedderOptions options;
  LoadedModel model;
  torch::Device device = torch::kCPU;
  int max_len = 0;
  bool normalize = true;
};

Embedder::Embedder(const std::string& model_dir, const EmbedderOptions& options) : impl_(new Impl) {
  options.validate();
  impl_->options = options;
  configure_torch_threads(options.threads);
  impl_->device = resolve_device(options.device);
  impl_->model = load_model(model_dir, impl_->device);
  const int model_max = impl_->model.config.encoder.max_len;
  if (options.max_len > model_max)
    throw std::invalid_argument("max_len " + std::to_string(options.max_len) +
                                " exceeds the model's position limit " + std::to_string(model_max));
  impl_->max_len = options.max_len > 0 ? options.max_len : model_max;
  impl_->normalize =
      options.normalize < 0 ? impl_->model.config.pooling.normalize : options.normalize != 0;
}

Embedder::~Embedder() = default;

int Embedder::dim() const {
  return impl_->model.config.embedding_dim();
}
int Embedder::max_len() const {
  return impl_->max_len;
}
bool Embedder::normalizes() const {
  return impl_->normalize;
}
std::string Embedder::device() const {
  return impl_->device.str();
}
const ModelConfig& Embedder::config() const {
  return impl_->model.config;
}
const Tokenizer& Embedder::tokenizer() const {
  return *impl_->model.tokenizer;
}
const std::string& Embedder::weights_hash() const {
  return impl_->model.weights_hash;
}
const EmbedderOptions& Embedder::options() const {
  return impl_->options;
}

std::vector<float> Embedder::embed(const std::vector<std::string>& texts, EmbedStats* stats) const {
  std::vector<std::vector<int>> pieces(texts.size());
  const int workers = texts.size() < 64 ? 1 : resolve_threads(impl_->options.threads);
  const Tokenizer& tok = *impl_->model.tokenizer;
  parallel_for(texts.size(), workers, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) {
      try {
        pieces[i] = tok.encode(texts[i]);
      } catch (const std::invalid_argument& err) {
        throw std::invalid_argument("text " + std::to_string(i) + ": " + err.what());
      }
    }
  });
  return embed_pieces(pieces, impl_->normalize, 0, stats);
}

std::vector<float> Embedder::embed_pieces(const std::vector<std::vector<int>>& pieces,
                                          bool normalize, int64_t max_batch_tokens,
                                          EmbedStats* stats) const {
  BatchEmbedOptions o;
  o.max_len = impl_->max_len;
  o.batch_size = impl_->options.batch_size;
  o.max_batch_tokens = max_batch_tokens;
  o.bf16 = impl_->options.bf16;
  o.normalize = normalize;
  return embed_piece_lists(impl_->model.encoder, pieces, o, impl_->device, stats);
}

}  // namespace sembed
