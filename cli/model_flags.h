#pragma once

// The model-shape flags shared by `sembed init` and `sembed train --tokenizer`.
#include <string>

#include "model/config.h"

namespace CLI {
class App;
}

namespace sembed::cli {

struct ModelFlags {
  std::string preset = "small";
  int layers = 0, hidden = 0, heads = 0, ffn = 0, max_len = 0;  // 0 = from the preset
  double dropout = -1;                                          // <0 = from the preset
  std::string pooling = "mean";
  bool mlp_at_inference = false;
  double lexical_weight = 0;  // 0 = no lexical path

  // `with_max_len`: register --max-len as the position limit (init). `sembed train` uses --max-len
  // for its training length instead.
  void add_to(CLI::App* app, bool with_max_len = true);
  // The preset with explicit flags applied. Throws UsageError for an unknown preset.
  EncoderConfig encoder() const;
  PoolingConfig pooling_config() const;
};

}  // namespace sembed::cli
