// sembed eval sts: Spearman / Pearson of cosine similarity against gold scores.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
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
    sts_->add_option("--batch-size", opts_.batch_size, "Texts per forward pass")
        ->capture_default_str();

    bench_ = subcommand->add_subcommand(
        "benchmark",
        "STS-B dev and SICK-R (SICK test) together: Spearman x100 of cosine similarity. Data from "
        "--data-dir, else $SEMBED_DATA_DIR, else ../shared/data next to the working directory or "
        "the repository.");
    bench_->add_option("-m,--model", model_, "Model directory")->required();
    bench_->add_option("--data-dir", data_dir_, "Folder holding stsbenchmark/ and sick/");
    bench_->add_flag("--json", json_, "Print one JSON object");
    bench_->add_option("--device", opts_.device, "cpu, cuda or auto")->capture_default_str();
    bench_->add_flag("--bf16", opts_.bf16, "bf16 autocast");
  }

  int run() override {
    if (bench_->parsed()) return run_benchmark();
    const auto pairs = read_sts_file(input_);
    Embedder embedder(model_, opts_);
    const StsResult r = evaluate_sts(pairs, embedder);
    if (json_) {
      std::printf("%s\n", nlohmann::json(r).dump().c_str());
    } else {
      std::printf("%s: spearman %.2f  pearson %.2f  (%lld pairs)\n", input_.c_str(), r.spearman,
                  r.pearson, (long long)r.pairs);
    }
    return 0;
  }

 private:
  static std::string find_data_dir(const std::string& given) {
    namespace fs = std::filesystem;
    std::vector<std::string> candidates;
    if (!given.empty()) return given;
    if (const char* env = std::getenv("SEMBED_DATA_DIR")) candidates.push_back(env);
    candidates.push_back("../shared/data");
    char exe[4096];
    const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
      exe[n] = '\0';
      // build/sembed -> <repo>/../shared/data
      candidates.push_back((fs::path(exe).parent_path() / "../../shared/data").string());
    }
    for (const auto& c : candidates)
      if (fs::is_directory(fs::path(c) / "stsbenchmark")) return fs::canonical(c).string();
    throw std::runtime_error("no data folder with stsbenchmark/ found (give --data-dir)");
  }

  int run_benchmark() {
    const std::string dir = find_data_dir(data_dir_);
    const std::vector<std::pair<std::string, std::string>> sets = {
        {"stsb_dev", dir + "/stsbenchmark/sts-dev.csv"},
        {"sick_test", dir + "/sick/SICK_test_annotated.txt"}};
    Embedder embedder(model_, opts_);
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [name, path] : sets) {
      const StsResult r = evaluate_sts(read_sts_file(path), embedder);
      out[name] = r;
      if (!json_)
        std::printf("%-10s spearman %.2f  pearson %.2f  (%lld pairs)\n", name.c_str(), r.spearman,
                    r.pearson, (long long)r.pairs);
    }
    if (json_) std::printf("%s\n", out.dump().c_str());
    return 0;
  }

  CLI::App* sts_ = nullptr;
  CLI::App* bench_ = nullptr;
  std::string data_dir_;
  std::string model_, input_;
  bool json_ = false;
  EmbedderOptions opts_;
};

}  // namespace

std::unique_ptr<Command> make_eval_command() {
  return std::make_unique<EvalCommand>();
}

}  // namespace sembed::cli
