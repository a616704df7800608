#pragma once

// Turning request inputs into the piece lists the batching worker takes: texts tokenised with the
// model's tokenizer, pre-tokenized inputs taken as they are, each cut to the model's limit or
// refused (422) when it is longer. Shared by the HTTP handlers and `sembed search`, so both feed
// the model the same pieces.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "serve/requests.h"
#include "tokenizer/tokenizer.h"

namespace sembed::serve {

struct TokenizedInputs {
  std::vector<std::vector<int>> pieces;  // per input, at most max_len - 2 ids
  int64_t tokens = 0;                    // fed to the model, [CLS]/[SEP] included
  int64_t truncated = 0;                 // inputs that were cut
};

// `name(i)` names input i in error messages ("inputs[3]"). `default_truncate` applies when the
// request does not say. Throws RequestError 422 for an input longer than max_len - 2 pieces that
// may not be truncated.
TokenizedInputs tokenize_inputs(const Tokenizer& tokenizer, int max_len,
                                const std::vector<EmbedInput>& inputs,
                                const TruncationOptions& truncation, bool default_truncate,
                                const std::function<std::string(size_t)>& name);

}  // namespace sembed::serve
