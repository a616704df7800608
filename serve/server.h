#pragma once

// The HTTP server (TEI- and OpenAI-compatible embeddings, similarity, semantic search). The HTTP
// library stays behind the pimpl. Routes (one table in server.cpp):
//   POST /embed  /v1/embeddings (alias /embeddings)  /similarity  /search
//   GET  /health  /info  /metrics  /v1/models  / (the search page, serve/web_page.h)
// Every failure answers {"error": {"code", "type", "message"}}. HTTP threads parse, validate and
// tokenize; one batching worker runs the model (serve/batcher.h).
#include <memory>

#include "serve/serve_config.h"

namespace sembed::serve {

class Server {
 public:
  // Validates the config (std::invalid_argument). Loads nothing yet.
  explicit Server(ServeConfig config);
  // Stops (as stop()) and waits.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds host:port and starts answering at once (/health says 503 until ready) while the model,
  // the embedding set and its index load on a background thread. Throws std::runtime_error when
  // the address cannot be bound. Call once.
  void start();
  // The bound port (after start(); useful with port 0).
  int port() const;
  // True once everything is loaded and requests are served.
  bool ready() const;

  // Blocks until the server has stopped: after stop(), once in-flight requests are answered and
  // the batching worker has finished. Rethrows the loading error if loading failed (the server
  // stops by itself then).
  void wait();

  // Stops accepting connections; requests already received are answered. Returns at once (wait()
  // waits). Idempotent, callable from any thread (not from a signal handler: use a thread that
  // waits for signals).
  void stop();

  const ServeConfig& config() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sembed::serve
