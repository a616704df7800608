// sembed index: an HNSW index beside an embedding set.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>

#include "cli/command.h"
#include "common/progress.h"
#include "serve/search_corpus.h"

namespace sembed::cli {
namespace {

class IndexCommand : public Command {
 public:
  void setup(CLI::App& app) override {
    subcommand = app.add_subcommand(
        "index",
        "Build an HNSW index (inner product; hnswlib) over an embedding set and save it beside "
        "the embeddings as DIR/index.hnsw + DIR/index.json. `sembed serve` and `sembed search` "
        "use it when present (--exact searches exactly anyway). Re-embedding DIR removes it.");
    auto* s = subcommand;
    s->add_option("-e,--embeddings", dir_, "Embedding set directory (sembed embed's output)")
        ->required();
    s->add_option("--m", params_.m, "Graph degree: links per node (2m on the bottom layer)")
        ->capture_default_str();
    s->add_option("--ef-construction", params_.ef_construction,
                  "Candidate list while building: higher is slower and more accurate")
        ->capture_default_str();
    s->add_option("--ef-search", params_.ef_search,
                  "Default candidate list at query time (serve/search --ef-search override it)")
        ->capture_default_str();
    s->add_option("--threads", params_.threads, "Build threads (0 = all cores)")
        ->capture_default_str();
    s->add_option("--seed", params_.seed, "Level generator seed")->capture_default_str();
  }

  int run() override {
    try {
      params_.validate();
    } catch (const std::invalid_argument& e) {
      throw UsageError(e.what());
    }
    std::unique_ptr<Progress> progress;
    const nlohmann::json saved =
        serve::SearchCorpus::build_hnsw(dir_, params_, [&](int64_t done, int64_t total) {
          if (!progress) progress = std::make_unique<Progress>("index", total, "rows");
          progress->update(done);
        });
    if (progress) progress->finish(saved.value("rows", int64_t{0}));
    std::printf(
        "indexed %lld rows (dim %lld, m %d, ef_construction %d) in %.1fs on %d threads -> "
        "%s (%.1f MB)\n",
        (long long)saved.value("rows", int64_t{0}), (long long)saved.value("dim", int64_t{0}),
        params_.m, params_.ef_construction, saved.value("build_seconds", 0.0),
        saved.value("build_threads", 0), serve::HnswIndex::index_path(dir_).c_str(),
        saved.value("index_bytes", int64_t{0}) / 1e6);
    return 0;
  }

 private:
  std::string dir_;
  serve::HnswParams params_;
};

}  // namespace

std::unique_ptr<Command> make_index_command() {
  return std::make_unique<IndexCommand>();
}

}  // namespace sembed::cli
