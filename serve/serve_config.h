#pragma once

// Everything `sembed serve` is configured with: plain fields, each with its default, checked once
// by validate(). The CLI maps its flags onto it and prints it (the API key redacted) at start.
#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace sembed::serve {

struct ServeConfig {
  std::string model_dir;           // model directory (required)
  std::string embeddings_dir;      // embedding set /search answers from ("" = no /search)
  std::string host = "127.0.0.1";  // address to bind; "0.0.0.0" listens on every interface
  int port = 8080;                 // 0 = any free port (Server::port() says which)
  int threads = 0;                 // CPU threads for the model and exact search (0 = all cores)
  int http_threads = 64;           // HTTP workers: parse, tokenize, wait (one per open connection)
  int64_t max_batch_tokens = 16384;  // padded tokens per forward pass ([CLS]/[SEP] included)
  int max_client_batch = 32;         // inputs per request (more: 422)
  int max_concurrent = 512;          // requests queued or running in the model (more: 429)
  int64_t max_body_bytes = 2 << 20;  // request body limit (more: 413)
  std::string api_key;               // "" = open; else "Authorization: Bearer KEY" everywhere but
                                     // /health and /metrics
  bool truncate = true;              // for requests that do not say: cut inputs longer than
                                     // max_len (false: answer 422)
  bool exact = false;                // search exactly even when DIR/index.hnsw exists
  int ef_search = 0;                 // HNSW candidate list at query time (0 = index.json's)
  int max_k = 1000;                  // largest k /search accepts
  std::string device = "auto";       // cpu, cuda, cuda:N or auto
  bool bf16 = false;                 // bf16 autocast for the model
  std::string model_name;            // OpenAI "model" answered when a request names none
                                     // ("" = the model directory's name)
  int keep_alive_timeout_s = 5;      // idle keep-alive connections are closed after this

  // Throws std::invalid_argument naming the field (in flag form, e.g. --max-batch-tokens).
  void validate() const;
};

// The effective configuration as JSON, with the API key redacted.
void to_json(nlohmann::json& j, const ServeConfig& c);

}  // namespace sembed::serve
