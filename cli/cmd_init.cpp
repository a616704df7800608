// sembed init: a randomly initialised model directory.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/command.h"
#include "cli/model_flags.h"
#include "model/model_init.h"

namespace sembed::cli {
namespace {

class InitCommand : public Command {
 public:
  void setup(CLI::App& app) override {
    subcommand = app.add_subcommand(
        "init",
        "Create a model directory with random weights (config.json, model.safetensors, "
        "tokenizer.model), the start of training");
    subcommand->add_option("-t,--tokenizer", options_.tokenizer_path, "Tokenizer (PATH.model)")
        ->required();
    subcommand->add_option("-o,--output", options_.output_dir, "Model directory to create")
        ->required();
    flags_.add_to(subcommand);
    subcommand->add_option("--seed", options_.seed, "Initialisation seed")->capture_default_str();
    subcommand->add_option("--idf-corpus", options_.idf_corpus,
                           "With --pooling idf_mean: piece IDF from these text files");
  }

  int run() override {
    options_.encoder = flags_.encoder();
    options_.pooling = flags_.pooling_config();
    const ModelConfig config = init_model(options_);
    std::printf(
        "initialised %s: %d layers x %d hidden, %d heads, ffn %d, max_len %d, vocab %d "
        "(%.1fM parameters), pooling %s\n",
        options_.output_dir.c_str(), config.encoder.layers, config.encoder.hidden,
        config.encoder.heads, config.encoder.ffn, config.encoder.max_len, config.encoder.vocab_size,
        config.encoder.parameter_count() / 1e6, config.pooling.mode.c_str());
    if (token_weights_unset(config))
      std::printf(
          "no --idf-corpus: every piece weighs 1 until `sembed train --init %s` computes the "
          "IDF from its training texts\n",
          options_.output_dir.c_str());
    return 0;
  }

 private:
  InitOptions options_;
  ModelFlags flags_;
};

}  // namespace

std::unique_ptr<Command> make_init_command() {
  return std::make_unique<InitCommand>();
}

}  // namespace sembed::cli
