// sembed embed: a text file -> an embedding file set.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "common/log.h"
#include "model/embedding_set.h"

namespace sembed::cli {
namespace {

class EmbedCommand : public Command {
 public:
  void setup(CLI::App& app) override {
    subcommand = app.add_subcommand(
        "embed",
        "Embed one text per line into DIR/embeddings.npy (float32 [N, D], row i = line i), "
        "DIR/texts.jsonl and DIR/meta.json. Empty lines are embedded as the empty text and keep "
        "their row (counted in meta.json 'empty_lines'); rows never shift. Lines longer than "
        "--max-len tokens are truncated for embedding and counted ('truncated_lines'). Invalid "
        "UTF-8 stops with an error naming the line. DIR appears complete or not at all.");
    auto* s = subcommand;
    s->add_option("-m,--model", model_, "Model directory")->required();
    s->add_option("-i,--input", file_.input, "Text file, one text per line ('-' = stdin)")
        ->required();
    s->add_option("-o,--output", file_.output_dir, "Output directory (replaced atomically)")
        ->required();
    s->add_option("--batch-size", opts_.batch_size, "Texts per forward pass")
        ->capture_default_str();
    s->add_option("--max-len", opts_.max_len, "Tokens per text incl. [CLS]/[SEP] (0 = model's)")
        ->capture_default_str();
    s->add_option("--dtype", file_.dtype,
                  "Stored dtype: float32, or int8 (scale 1/127 in meta.json)")
        ->check(CLI::IsMember({"float32", "int8"}))
        ->capture_default_str();
    s->add_option("--device", opts_.device, "cpu, cuda, cuda:N or auto")->capture_default_str();
    s->add_flag("--bf16", opts_.bf16,
                "bf16 autocast (about 2x faster on CPUs with AVX512-BF16/AMX; other CPUs "
                "only emulate bf16 and run fp32 instead)");
    s->add_option("--threads", opts_.threads, "CPU threads (0 = all cores)")->capture_default_str();
    s->add_option("--chunk-lines", file_.chunk_lines, "Lines held in memory at a time")
        ->capture_default_str();
  }

  int run() override {
    try {
      opts_.validate();
      file_.validate();
    } catch (const std::invalid_argument& e) {
      throw UsageError(e.what());
    }
    Embedder embedder(model_, opts_);
    log_info("embed config: " + nlohmann::json({{"model", model_},
                                                {"device", embedder.device()},
                                                {"bf16", opts_.bf16},
                                                {"batch_size", opts_.batch_size},
                                                {"max_len", embedder.max_len()},
                                                {"dtype", file_.dtype},
                                                {"dim", embedder.dim()}})
                                    .dump());
    const EmbedFileStats s = embed_file(embedder, file_);
    std::printf(
        "embedded %lld lines (%d dims, %s) in %.1fs: %.1f lines/s, %lld empty, %lld "
        "truncated -> %s\n",
        (long long)s.rows, embedder.dim(), file_.dtype.c_str(), s.seconds,
        s.seconds > 0 ? s.rows / s.seconds : 0.0, (long long)s.empty, (long long)s.truncated,
        file_.output_dir.c_str());
    return 0;
  }

 private:
  std::string model_;
  EmbedderOptions opts_;
  EmbedFileOptions file_;
};

}  // namespace

std::unique_ptr<Command> make_embed_command() {
  return std::make_unique<EmbedCommand>();
}

}  // namespace sembed::cli
