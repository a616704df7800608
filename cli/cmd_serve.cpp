// sembed serve: the HTTP server (embeddings, similarity, semantic search).
#include <pthread.h>
#include <signal.h>
#include <CLI/CLI.hpp>

#include <atomic>
#include <cstdlib>
#include <ctime>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/command.h"
#include "common/log.h"
#include "serve/server.h"

namespace sembed::cli {
namespace {

class ServeCommand : public Command {
 public:
  void setup(CLI::App& app) override {
    subcommand = app.add_subcommand(
        "serve",
        "Serve a model over HTTP: POST /embed (TEI), /v1/embeddings (OpenAI), /similarity, "
        "/search (with --embeddings); GET / (search page), /health, /info, /metrics. Requests are "
        "batched "
        "dynamically under a token budget. SIGINT/SIGTERM stop accepting connections, answer "
        "the requests in flight and exit 0.");
    auto* s = subcommand;
    auto& c = config_;
    s->add_option("-m,--model", c.model_dir, "Model directory")->required();
    s->add_option("-e,--embeddings", c.embeddings_dir,
                  "Embedding set (sembed embed's output) that POST /search searches");
    s->add_option("--host", c.host, "Address to bind (0.0.0.0: every interface)")
        ->capture_default_str();
    s->add_option("-p,--port", c.port, "Port (0: any free port)")->capture_default_str();
    s->add_option("--threads", c.threads, "CPU threads for the model and exact search (0 = all)")
        ->capture_default_str();
    s->add_option("--http-threads", c.http_threads,
                  "HTTP worker threads; each holds one open connection")
        ->capture_default_str();
    s->add_option("--max-batch-tokens", c.max_batch_tokens,
                  "Padded tokens per forward pass ([CLS]/[SEP] included)")
        ->capture_default_str();
    s->add_option("--max-client-batch", c.max_client_batch, "Inputs per request (more: 422)")
        ->capture_default_str();
    s->add_option("--max-concurrent", c.max_concurrent,
                  "Requests queued or running in the model (more: 429)")
        ->capture_default_str();
    s->add_option("--max-body-bytes", c.max_body_bytes, "Request body limit in bytes (more: 413)")
        ->capture_default_str();
    s->add_option("--api-key", c.api_key,
                  "Require 'Authorization: Bearer KEY' on every route but /health and /metrics "
                  "(default: $SEMBED_API_KEY)")
        ->envname("SEMBED_API_KEY");
    s->add_flag("--no-truncate", no_truncate_,
                "Answer 422 for inputs longer than the model's max_len unless the request sends "
                "\"truncate\": true (default: cut them)");
    s->add_flag("--exact", c.exact, "Search exactly even when the embeddings have an HNSW index");
    s->add_option("--ef-search", c.ef_search, "HNSW candidate list at query time (0 = as built)")
        ->capture_default_str();
    s->add_option("--max-k", c.max_k, "Largest k /search accepts")->capture_default_str();
    s->add_option("--device", c.device, "cpu, cuda, cuda:N or auto")->capture_default_str();
    s->add_flag("--bf16", c.bf16, "bf16 autocast for the model");
    s->add_option("--model-name", c.model_name,
                  "Model name answered in OpenAI responses (default: the model directory's name)");
    s->add_option("--keep-alive-timeout", c.keep_alive_timeout_s,
                  "Seconds an idle keep-alive connection stays open")
        ->capture_default_str();
  }

  int run() override {
    config_.truncate = !no_truncate_;
    try {
      config_.validate();
    } catch (const std::invalid_argument& e) {
      throw UsageError(e.what());
    }
    // Signals go to one thread that stops the server: block them here, before any thread starts
    // (threads inherit the mask), and wait for them below.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    serve::Server server(config_);
    log_info("serve config: " + nlohmann::json(config_).dump());
    server.start();
    std::atomic<bool> done{false};
    std::thread watcher([&] {
      int received = 0;
      while (!done) {
        const timespec tick{0, 200 * 1000 * 1000};
        const int sig = sigtimedwait(&signals, nullptr, &tick);
        if (sig <= 0) continue;
        if (received++ == 0) {
          log_info(std::string(sig == SIGINT ? "SIGINT" : "SIGTERM") +
                   ": no new connections; finishing the requests in flight (again to quit now)");
          server.stop();
        } else {
          log_warning("second signal: exiting without finishing");
          std::_Exit(130);
        }
      }
    });
    try {
      server.wait();
    } catch (...) {
      done = true;
      watcher.join();
      throw;
    }
    done = true;
    watcher.join();
    log_info("stopped");
    return 0;
  }

 private:
  serve::ServeConfig config_;
  bool no_truncate_ = false;
};

}  // namespace

std::unique_ptr<Command> make_serve_command() {
  return std::make_unique<ServeCommand>();
}

}  // namespace sembed::cli
