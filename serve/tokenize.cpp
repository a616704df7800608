#include "serve/tokenize.h"

#include <algorithm>

#include "serve/http_error.h"

namespace sembed::serve {

TokenizedInputs tokenize_inputs(const Tokenizer& tokenizer, int max_len,
                                const std::vector<EmbedInput>& inputs,
                                const TruncationOptions& truncation, bool default_truncate,
                                const std::function<std::string(size_t)>& name) {
  const bool truncate = truncation.truncate.value_or(default_truncate);
  const size_t room = static_cast<size_t>(std::max(1, max_len - 2));
  TokenizedInputs out;
  out.pieces.reserve(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    std::vector<int> ids =
        inputs[i].pretokenized ? inputs[i].ids : tokenizer.encode(inputs[i].text);
    if (ids.size() > room) {
      if (!truncate)
        throw validation_error(name(i) + " is " + std::to_string(ids.size()) +
                               " tokens long; this model takes at most " + std::to_string(room) +
                               " (max_len " + std::to_string(max_len) +
                               " with [CLS] and [SEP]): shorten it or send \"truncate\": true");
      if (truncation.direction == TruncationDirection::kLeft)
        ids.erase(ids.begin(), ids.end() - static_cast<std::ptrdiff_t>(room));
      else
        ids.resize(room);
      ++out.truncated;
    }
    out.tokens += static_cast<int64_t>(ids.size()) + 2;
    out.pieces.push_back(std::move(ids));
  }
  return out;
}

}  // namespace sembed::serve
