#pragma once

// Fixtures for the server tests, built by the tests themselves on first use (once per process:
// ctest runs every test in its own process): a 300-piece BPE tokenizer, a tiny model directory
// (2 layers x 128, max_len 64), an embedding set of a few hundred sentences, and a server started
// in-process on an ephemeral port.
#include <httplib.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "model/embedder.h"
#include "model/embedding_set.h"
#include "model/model_init.h"
#include "serve/server.h"
#include "tests/test_support.h"
#include "tokenizer/tokenizer.h"

namespace sembed::test {

// Sentences the embedding set holds (distinct, varied).
inline std::vector<std::string> corpus_sentences() {
  std::vector<std::string> lines = synthetic_corpus(150, 21);
  for (auto& s : subword_corpus(150, 21)) lines.push_back(std::move(s));
  return lines;
}

inline const ScratchDir& fixture_dir() {
  static const ScratchDir dir("serve-fixture");
  return dir;
}

inline const std::string& serve_tokenizer_path() {
  static const std::string path = [] {
    const ScratchDir& dir = fixture_dir();
    std::vector<std::string> lines = synthetic_corpus(300, 11);
    for (auto& s : subword_corpus(300, 11)) lines.push_back(std::move(s));
    write_lines(dir.file("train.txt"), lines);
    TokenizerConfig config;
    config.model_type = "bpe";
    config.vocab_size = 300;
    config.character_coverage = 1.0;
    config.threads = 2;
    Tokenizer::train(dir.file("train.txt"), dir.file("tok.model"), config);
    return dir.file("tok.model");
  }();
  return path;
}

// The tiny model directory (random weights, mean pooling, normalised vectors).
inline const std::string& serve_model_dir() {
  static const std::string path = [] {
    InitOptions options;
    options.tokenizer_path = serve_tokenizer_path();
    options.output_dir = fixture_dir().file("model");
    options.encoder = EncoderConfig::preset("tiny");
    options.seed = 7;
    init_model(options);
    return options.output_dir;
  }();
  return path;
}

// Writes an embedding set of `lines` made with the tiny model to `dir`.
inline std::string make_embedding_set(const std::string& dir,
                                      const std::vector<std::string>& lines) {
  const std::string input = dir + ".txt";
  write_lines(input, lines);
  EmbedderOptions eo;
  eo.threads = 2;
  Embedder embedder(serve_model_dir(), eo);
  EmbedFileOptions fo;
  fo.input = input;
  fo.output_dir = dir;
  fo.progress = false;
  embed_file(embedder, fo);
  return dir;
}

// The embedding set of corpus_sentences().
inline const std::string& serve_embeddings_dir() {
  static const std::string path =
      make_embedding_set(fixture_dir().file("embeddings"), corpus_sentences());
  return path;
}

// A server for the tests: defaults as `sembed serve`, port 0, 2 model threads.
inline serve::ServeConfig test_config(bool with_embeddings = true) {
  serve::ServeConfig c;
  c.model_dir = serve_model_dir();
  if (with_embeddings) c.embeddings_dir = serve_embeddings_dir();
  c.port = 0;
  c.threads = 2;
  c.http_threads = 16;
  return c;
}

inline httplib::Client client_for(int port) {
  httplib::Client cli("127.0.0.1", port);
  cli.set_read_timeout(30, 0);
  cli.set_write_timeout(30, 0);
  return cli;
}

// Polls /health until 200 (or throws after `timeout_s`).
inline void wait_until_ready(int port, double timeout_s = 60) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  httplib::Client cli = client_for(port);
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = cli.Get("/health");
    if (r && r->status == 200) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  throw std::runtime_error("server on port " + std::to_string(port) + " did not become ready");
}

// A started, ready server that stops when destroyed.
struct RunningServer {
  std::unique_ptr<serve::Server> server;
  explicit RunningServer(const serve::ServeConfig& config)
      : server(std::make_unique<serve::Server>(config)) {
    server->start();
    wait_until_ready(server->port());
  }
  int port() const { return server->port(); }
  httplib::Client client() const { return client_for(port()); }
};

// The value of a metric line `name` (exact name with labels, e.g.
// sembed_requests_total{route="/embed",status="200"}) in a Prometheus page; 0 if absent.
inline double metric_value(const std::string& page, const std::string& name) {
  size_t at = 0;
  while ((at = page.find(name + " ", at)) != std::string::npos) {
    if (at == 0 || page[at - 1] == '\n') {
      const size_t end = page.find('\n', at);
      return std::stod(page.substr(at + name.size() + 1, end - at - name.size() - 1));
    }
    at += name.size();
  }
  return 0;
}

}  // namespace sembed::test
