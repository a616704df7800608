// sembed lexical: add, re-weight or remove a model's lexical residual path.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/command.h"
#include "model/model_init.h"

namespace sembed::cli {
namespace {

class LexicalCommand : public Command {
 public:
  void setup(CLI::App& app) override {
    subcommand = app.add_subcommand(
        "lexical",
        "Copy a model with a lexical residual path: its vectors become [sqrt(w) lexical, "
        "sqrt(1-w) transformer], so cosine = w * lexical + (1-w) * transformer, where lexical is "
        "an IDF-weighted bag of piece vectors (a random TF-IDF projection, or with --table "
        "embeddings the model's own trained piece embeddings). The transformer is unchanged; "
        "--weight 0 removes the path");
    subcommand->add_option("-m,--model", options_.model_dir, "Model directory")->required();
    subcommand
        ->add_option("-o,--output", options_.output_dir,
                     "Model directory to write (may be --model itself)")
        ->required();
    subcommand->add_option("-w,--weight", options_.weight, "Lexical weight w in [0, 1)")
        ->check(CLI::Range(0.0, 0.999))
        ->capture_default_str();
    subcommand->add_option("--idf-corpus", options_.idf_corpus,
                           "Piece IDF from these text files (default: the model's own IDF)");
    subcommand
        ->add_option("--table", options_.table,
                     "Lexical table: random (a TF-IDF projection) or embeddings (the "
                     "model's trained token embeddings, an IDF-weighted bag of its learned "
                     "piece vectors); default: the model's own, else random")
        ->check(CLI::IsMember({"random", "embeddings"}));
    subcommand->add_option("--seed", options_.seed, "Seed of a new lexical table")
        ->capture_default_str();
  }

  int run() override {
    const ModelConfig config = set_lexical_path(options_);
    std::printf("wrote %s: lexical weight %.3g, %d-value vectors, pooling %s\n",
                options_.output_dir.c_str(), config.pooling.lexical_weight, config.embedding_dim(),
                config.pooling.mode.c_str());
    return 0;
  }

 private:
  LexicalOptions options_;
};

}  // namespace

std::unique_ptr<Command> make_lexical_command() {
  return std::make_unique<LexicalCommand>();
}

}  // namespace sembed::cli
