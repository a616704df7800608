// sembed eval sts: Spearman / Pearson of cosine similarity against gold scores.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "model/embedder.h"
#include "training/sts.h"

namespace sembed::cli {
namespace {

class EvalCommand : public Command {
 public:
  void setup(CLI::App& app) override {
    subcommand = app.add_subcommand("eval", "Evaluate a model");
    subcommand->require_subcommand(1, 1);
    sts_ = subcommand->add_subcommand(
        "sts",
        "STS: Spearman x100 and Pearson x100 of cosine similarity against gold scores. Input: the "
        "STS-B release format (score in column 5, sentences in 6 and 7), a SICK file with its "
        "header, or sentence1<TAB>sentence2<TAB>score.");
    sts_->add_option("-m,--model", model_, "Model directory")->required();
    sts_->add_option("-i,--input", input_, "Scored pairs file")->required();
    sts_->add_flag("--json", json_, "Print {\"spearman\", \"pearson\", \"pairs\"} as JSON");
    sts_->add_option("--device", opts_.device, "cpu, cuda or auto")->capture_default_str();
    sts_->add_flag("--bf16", opts_.bf16, "bf16 autocast");
    sts_->add_option("--batch-size", opts_.batch_size, "Texts per forward pass")->capture_default_str();
  }

  int run() override {
    const auto pairs = read_sts_file(input_);
    Embedder embedder(model_, opts_);
    const StsResult r = evaluate_sts(
        pairs, [&](const std::vector<std::string>& t) { return embedder.embed(t); }, embedder.dim());
    if (json_) {
      std::printf("%s\n", nlohmann::json({{"spearman", r.spearman}, {"pearson", r.pearson}, {"pairs", r.pairs}})
                              .dump()
                              .c_str());
    } else {
      std::printf("%s: spearman %.2f  pearson %.2f  (%lld pairs)\n", input_.c_str(), r.spearman,
                  r.pearson, (long long)r.pairs);
    }
    return 0;
  }

 private:
  CLI::App* sts_ = nullptr;
  std::string model_, input_;
  bool json_ = false;
  EmbedderOptions opts_;
};

}  // namespace

std::unique_ptr<Command> make_eval_command() { return std::make_unique<EvalCommand>(); }

}  // namespace sembed::cli
