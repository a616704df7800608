// sembed search: top-k texts of an embedding set for a query, as POST /search answers.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>

#include "cli/command.h"
#include "common/log.h"
#include "model/embedder.h"
#include "model/runtime.h"
#include "serve/batcher.h"
#include "serve/search_corpus.h"
#include "serve/tokenize.h"

namespace sembed::cli {
namespace {

class SearchCommand : public Command {
 public:
  void setup(CLI::App& app) override {
    subcommand = app.add_subcommand(
        "search",
        "Print the k texts of an embedding set closest (cosine) to each query. Uses the same "
        "code path as `sembed serve`'s POST /search: --json prints exactly what the server "
        "answers ({\"query\": ...} for one --query, {\"queries\": [...]} for several).");
    auto* s = subcommand;
    s->add_option("-m,--model", model_, "Model directory")->required();
    s->add_option("-e,--embeddings", dir_, "Embedding set directory")->required();
    s->add_option("-q,--query", queries_, "Query text (repeat for several)")->required();
    s->add_option("-k", k_, "Hits per query")->capture_default_str();
    s->add_flag("--json", json_, "Print the JSON /search answers");
    s->add_flag("--exact", corpus_.exact, "Search exactly even when an HNSW index exists");
    s->add_option("--ef-search", corpus_.ef_search, "HNSW candidate list (0 = as built)")
        ->capture_default_str();
    s->add_flag("--no-truncate", no_truncate_, "Refuse queries longer than the model's max_len");
    s->add_option("--max-batch-tokens", batch_.max_batch_tokens,
                  "Padded tokens per forward pass (as serve's flag)")
        ->capture_default_str();
    s->add_option("--device", opts_.device, "cpu, cuda, cuda:N or auto")->capture_default_str();
    s->add_flag("--bf16", opts_.bf16, "bf16 autocast for the model");
    s->add_option("--threads", opts_.threads, "CPU threads (0 = all cores)")->capture_default_str();
  }

  int run() override {
    if (k_ < 1) throw UsageError("-k must be >= 1, got " + std::to_string(k_));
    for (const auto& q : queries_)
      if (q.empty()) throw UsageError("--query must not be empty");
    try {
      opts_.validate();
    } catch (const std::invalid_argument& e) {
      throw UsageError(e.what());
    }
    corpus_.exact_options.threads = opts_.threads;
    Embedder embedder(model_, opts_);
    auto corpus = serve::SearchCorpus::load(dir_, corpus_);
    if (corpus->dim() != embedder.dim())
      throw std::runtime_error("the embeddings in '" + dir_ + "' have dim " +
                               std::to_string(corpus->dim()) + " but the model gives " +
                               std::to_string(embedder.dim()));
    log_info("searching " + std::to_string(corpus->size()) + " rows (" + corpus->index().kind() +
             ")");

    // The server's path: same tokenisation and truncation, same batching worker, same index.
    std::vector<serve::EmbedInput> inputs(queries_.size());
    for (size_t i = 0; i < inputs.size(); ++i) inputs[i].text = queries_[i];
    serve::TokenizedInputs tokens;
    try {
      tokens = serve::tokenize_inputs(embedder.tokenizer(), embedder.max_len(), inputs, {},
                                      !no_truncate_, [](size_t) { return std::string("--query"); });
    } catch (const std::invalid_argument& e) {
      throw UsageError(e.what());
    }
    batch_.max_len = embedder.max_len();
    const int threads = opts_.threads;
    serve::Batcher batcher(
        [&embedder](const std::vector<std::vector<int>>& pieces, int64_t budget,
                    EmbedStats* stats) {
          return embedder.embed_pieces(pieces, /*normalize=*/false, budget, stats);
        },
        embedder.dim(), batch_, {}, [threads] { configure_torch_threads(threads); });
    const std::vector<float> vectors = batcher.embed(std::move(tokens.pieces), true);
    batcher.stop();
    const auto hits = corpus->search(vectors.data(), static_cast<int64_t>(queries_.size()), k_);

    if (json_) {
      std::string out;
      if (queries_.size() == 1) {
        out = corpus->hits_json(hits[0]);
      } else {
        out = "[";
        for (size_t i = 0; i < hits.size(); ++i) out += (i ? "," : "") + corpus->hits_json(hits[i]);
        out += "]";
      }
      std::printf("%s\n", out.c_str());
      return 0;
    }
    for (size_t i = 0; i < hits.size(); ++i) {
      if (queries_.size() > 1) std::printf("%squery: %s\n", i ? "\n" : "", queries_[i].c_str());
      int rank = 0;
      for (const auto& h : hits[i])
        std::printf("%2d. %.4f  [%s]  %s\n", ++rank, h.score, corpus->id(h.row).c_str(),
                    corpus->text(h.row).c_str());
    }
    return 0;
  }

 private:
  std::string model_, dir_;
  std::vector<std::string> queries_;
  int k_ = 10;
  bool json_ = false;
  bool no_truncate_ = false;
  EmbedderOptions opts_;
  serve::SearchCorpusOptions corpus_;
  serve::BatcherOptions batch_;
};

}  // namespace

std::unique_ptr<Command> make_search_command() {
  return std::make_unique<SearchCommand>();
}

}  // namespace sembed::cli
