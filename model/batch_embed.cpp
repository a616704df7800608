#include "model/batch_embed.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>

#include "common/cpu.h"
#include "model/torch_compat.h"
#include "tokenizer/tokenizer.h"

namespace sembed {

std::vector<float> embed_piece_lists(Encoder& encoder, const std::vector<std::vector<int>>& pieces,
                                     const BatchEmbedOptions& options, const torch::Device& device,
                                     EmbedStats* stats) {
  const int64_t max_batch_tokens = options.max_batch_tokens;
  const bool normalize = options.normalize;
  const int64_t n = static_cast<int64_t>(pieces.size());
  const int64_t d = encoder->output_dim();
  if (options.max_len < 3) throw std::invalid_argument("max_len must be >= 3");
  const int64_t room = options.max_len - 2;
  const int vocab = encoder->config().vocab_size;
  std::vector<float> out(static_cast<size_t>(n * d));
  if (n == 0) return out;
  auto length_of = [&](int64_t i) {
    return std::min<int64_t>(static_cast<int64_t>(pieces[i].size()), room) + 2;
  };
  // Longest first: the first batch fails fast on memory, and equal lengths pack tightly.
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return length_of(a) > length_of(b); });

  EmbedStats local;
  local.texts = n;
  torch::InferenceMode guard;
  compat::AutocastGuard autocast(device.is_cuda() ? at::kCUDA : at::kCPU,
                                 bf16_autocast_for(options.bf16, device.is_cuda()));
  for (int64_t start = 0; start < n;) {
    // Batch: up to batch_size texts, or up to max_batch_tokens padded tokens.
    const int64_t longest = length_of(order[start]);
    int64_t count;
    if (max_batch_tokens > 0) {
      count = std::max<int64_t>(1, max_batch_tokens / longest);
    } else {
      count = options.batch_size;
    }
    count = std::min(count, n - start);
    auto ids = torch::full({count, longest}, static_cast<int64_t>(kPadId), torch::kLong);
    auto mask = torch::zeros({count, longest}, torch::kBool);
    auto* ids_p = ids.data_ptr<int64_t>();
    auto* mask_p = mask.data_ptr<bool>();
    for (int64_t r = 0; r < count; ++r) {
      const auto& p = pieces[order[start + r]];
      const int64_t len = length_of(order[start + r]);
      int64_t* row = ids_p + r * longest;
      row[0] = kClsId;
      for (int64_t k = 0; k + 2 < len; ++k) {
        const int id = p[k];
        if (id < 0 || id >= vocab)
          throw std::invalid_argument("token id " + std::to_string(id) + " out of range");
        row[k + 1] = id;
      }
      row[len - 1] = kSepId;
      std::fill(mask_p + r * longest, mask_p + r * longest + len, true);
      local.tokens += len;
      if (static_cast<int64_t>(p.size()) > room) ++local.truncated;
    }
    ids = ids.to(device);
    mask = mask.to(device);
    auto v = encoder->encode(ids, mask, false).to(torch::kFloat32);
    if (normalize)
      v = torch::nn::functional::normalize(v, torch::nn::functional::NormalizeFuncOptions().dim(1));
    v = v.to(torch::kCPU).contiguous();
    const float* src = v.data_ptr<float>();
    for (int64_t r = 0; r < count; ++r)
      std::copy(src + r * d, src + (r + 1) * d, out.begin() + order[start + r] * d);
    ++local.batches;
    start += count;
  }
  if (stats) {
    stats->texts += local.texts;
    stats->tokens += local.tokens;
    stats->truncated += local.truncated;
    stats->batches += local.batches;
  }
  return out;
}

}  // namespace sembed
