#include "serve/serve_config.h"

#include <nlohmann/json.hpp>
#include <stdexcept>

namespace sembed::serve {

void ServeConfig::validate() const {
  auto at_least = [](const char* flag, int64_t value, int64_t min) {
    if (value < min)
      throw std::invalid_argument(std::string(flag) + " must be >= " + std::to_string(min) +
                                  ", got " + std::to_string(value));
  };
  if (model_dir.empty()) throw std::invalid_argument("--model is required");
  if (host.empty()) throw std::invalid_argument("--host must not be empty");
  if (port < 0 || port > 65535)
    throw std::invalid_argument("--port must be in [0, 65535], got " + std::to_string(port));
  at_least("--threads", threads, 0);
  at_least("--http-threads", http_threads, 1);
  at_least("--max-batch-tokens", max_batch_tokens, 3);
  at_least("--max-client-batch", max_client_batch, 1);
  at_least("--max-concurrent", max_concurrent, 1);
  at_least("--max-body-bytes", max_body_bytes, 64);
  at_least("--ef-search", ef_search, 0);
  at_least("--max-k", max_k, 1);
  at_least("--keep-alive-timeout", keep_alive_timeout_s, 1);
  if (api_key.find_first_of(" \t\r\n") != std::string::npos)
    throw std::invalid_argument("the API key must not contain whitespace");
}

void to_json(nlohmann::json& j, const ServeConfig& c) {
  j = {{"model", c.model_dir},
       {"embeddings", c.embeddings_dir},
       {"host", c.host},
       {"port", c.port},
       {"threads", c.threads},
       {"http_threads", c.http_threads},
       {"max_batch_tokens", c.max_batch_tokens},
       {"max_client_batch", c.max_client_batch},
       {"max_concurrent", c.max_concurrent},
       {"max_body_bytes", c.max_body_bytes},
       {"api_key", c.api_key.empty() ? "" : "<redacted>"},
       {"truncate", c.truncate},
       {"exact", c.exact},
       {"ef_search", c.ef_search},
       {"max_k", c.max_k},
       {"device", c.device},
       {"bf16", c.bf16},
       {"model_name", c.model_name},
       {"keep_alive_timeout_s", c.keep_alive_timeout_s}};
}

}  // namespace sembed::serve
