#include "serve/server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <exception>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string_view>
#include <thread>

#include "common/log.h"
#include "model/embedder.h"
#include "model/runtime.h"
#include "sembed/version.h"
#include "serve/batcher.h"
#include "serve/http_error.h"
#include "serve/metrics.h"
#include "serve/requests.h"
#include "serve/responses.h"
#include "serve/search_corpus.h"
#include "serve/tokenize.h"
#include "serve/web_page.h"

namespace sembed::serve {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Compares a presented key with the configured one in time that depends only on the lengths.
bool constant_time_equal(std::string_view given, std::string_view expected) {
  unsigned char diff = given.size() != expected.size() ? 1 : 0;
  const size_t n = std::max(given.size(), expected.size());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char a = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
    const unsigned char b = i < expected.size() ? static_cast<unsigned char>(expected[i]) : 0;
    diff |= static_cast<unsigned char>(a ^ b);
  }
  return diff == 0;
}

void set_error(httplib::Response& res, int status, const std::string& type,
               const std::string& message) {
  res.status = status;
  res.set_content(error_body(status, type, message), "application/json");
}

std::string indexed(const std::string& field, size_t i) {
  return field + "[" + std::to_string(i) + "]";
}

}  // namespace

struct Server::Impl {
  using Handler = void (Impl::*)(const httplib::Request&, httplib::Response&);
  struct Route {
    const char* method;
    const char* path;
    Handler handler;
    bool needs_model;  // answers 503 until loaded
  };

  ServeConfig config;
  httplib::Server http;
  Metrics metrics;
  std::thread listener;
  std::thread loader;
  int port = -1;
  int listen_socket = -1;  // seen in the socket-options callback, for the backlog
  std::atomic<bool> started{false};
  std::atomic<bool> ready{false};
  std::atomic<bool> load_failed{false};
  std::mutex wait_mutex;
  bool finished = false;
  std::exception_ptr load_error;
  std::string load_error_message;

  // Set by the loader before `ready` turns true; read-only afterwards.
  std::unique_ptr<Embedder> embedder;
  std::unique_ptr<Batcher> batcher;
  std::unique_ptr<SearchCorpus> corpus;
  RequestLimits limits;
  std::string model_name;
  std::string info_body;

  explicit Impl(ServeConfig c) : config(std::move(c)) {}

  // The one route table.
  static const std::vector<Route>& routes() {
    static const std::vector<Route> table = {
        {"POST", "/embed", &Impl::handle_embed, true},
        {"POST", "/v1/embeddings", &Impl::handle_openai_embeddings, true},
        {"POST", "/embeddings", &Impl::handle_openai_embeddings, true},
        {"POST", "/similarity", &Impl::handle_similarity, true},
        {"POST", "/search", &Impl::handle_search, true},
        {"GET", "/health", &Impl::handle_health, false},
        {"GET", "/info", &Impl::handle_info, true},
        {"GET", "/metrics", &Impl::handle_metrics, false},
        {"GET", "/v1/models", &Impl::handle_models, true},
        {"GET", "/", &Impl::handle_page, false},
    };
    return table;
  }

  // Metric label of a request path: the route, or "other" (keeps label sets bounded).
  static std::string route_label(const std::string& path) {
    for (const auto& r : routes())
      if (path == r.path) return r.path;
    return "other";
  }

  // The one wrapper every handler runs in: readiness, exceptions -> the error shape, metrics.
  httplib::Server::Handler ex_wrapper(
      std::string route, bool needs_model,
      std::function<void(const httplib::Request&, httplib::Response&)> fn) {
    return [this, route = std::move(route), needs_model, fn = std::move(fn)](
               const httplib::Request& req, httplib::Response& res) {
      const auto start = Clock::now();
      try {
        if (needs_model && !ready.load(std::memory_order_acquire))
          throw unavailable(load_failed ? "the server failed to load: " + load_error_message
                                        : "the model is still loading; retry shortly");
        fn(req, res);
        if (res.status == -1) res.status = 200;  // httplib fills it in only when writing
      } catch (const RequestError& e) {
        set_error(res, e.status(), e.type(), e.what());
      } catch (const ServiceError& e) {
        set_error(res, e.status(), e.type(), e.what());
        if (e.status() == 503) res.set_header("Retry-After", "1");
      } catch (const std::invalid_argument& e) {
        set_error(res, 422, "validation_error", e.what());
      } catch (const std::exception& e) {
        log_error(req.method + " " + route + ": " + e.what());
        set_error(res, 500, "internal_error", e.what());
      } catch (...) {
        log_error(req.method + " " + route + ": unknown exception");
        set_error(res, 500, "internal_error", "unknown error");
      }
      metrics.record_request(route, res.status, seconds_since(start));
    };
  }

  void setup_http() {
    const auto& table = routes();
    std::set<std::string> paths;
    for (const auto& r : table) {
      Handler h = r.handler;
      auto handler = ex_wrapper(
          r.path, r.needs_model,
          [this, h](const httplib::Request& req, httplib::Response& res) { (this->*h)(req, res); });
      if (std::string(r.method) == "POST")
        http.Post(r.path, handler);
      else
        http.Get(r.path, handler);
      paths.insert(r.path);
    }
    // Known paths with another method: 405 with the methods they take.
    for (const auto& path : paths) {
      std::string allow;
      for (const auto& r : table)
        if (path == r.path) allow += (allow.empty() ? "" : ", ") + std::string(r.method);
      auto refuse = ex_wrapper(
          path, false, [path, allow](const httplib::Request& req, httplib::Response& res) {
            res.set_header("Allow", allow);
            throw method_not_allowed(req.method + " is not allowed on " + path + "; use " + allow);
          });
      const bool has_get = allow.find("GET") != std::string::npos;
      const bool has_post = allow.find("POST") != std::string::npos;
      if (!has_get) http.Get(path, refuse);
      if (!has_post) http.Post(path, refuse);
      http.Put(path, refuse);
      http.Patch(path, refuse);
      http.Delete(path, refuse);
    }

    // Authentication runs before the body is read.
    http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      // The page (GET /) holds no data: it asks for the key itself.
      if (config.api_key.empty() || req.path == "/health" || req.path == "/metrics" ||
          req.path == "/")
        return httplib::Server::HandlerResponse::Unhandled;
      const std::string header = req.get_header_value("Authorization");
      std::string scheme = header.substr(0, 7);
      for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      const bool ok = scheme == "bearer " &&
                      constant_time_equal(std::string_view(header).substr(7), config.api_key);
      if (ok) return httplib::Server::HandlerResponse::Unhandled;
      set_error(res, 401, "authentication_error",
                header.empty() ? "missing API key: send the header 'Authorization: Bearer KEY'"
                               : "invalid API key");
      res.set_header("WWW-Authenticate", "Bearer");
      metrics.record_request(route_label(req.path), 401, -1);
      return httplib::Server::HandlerResponse::Handled;
    });

    // Errors httplib answers itself (no route, body too large, malformed request) get the error
    // shape too. Responses from our handlers already have a body and pass through.
    http.set_error_handler(httplib::Server::HandlerWithResponse(
        [this](const httplib::Request& req, httplib::Response& res) {
          if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
          switch (res.status) {
            case 404:
              set_error(res, 404, "not_found",
                        "no route " + req.method + " " + req.path +
                            "; routes: POST /embed, /v1/embeddings, /similarity, /search; GET /, "
                            "/health, /info, /metrics, /v1/models");
              break;
            case 413:
              set_error(res, 413, "payload_too_large",
                        "the request body is larger than the limit of " +
                            std::to_string(config.max_body_bytes) + " bytes (--max-body-bytes)");
              break;
            case 400:
              set_error(res, 400, "invalid_request", "malformed HTTP request");
              break;
            default:
              set_error(res, res.status, "error", "HTTP error " + std::to_string(res.status));
          }
          metrics.record_request(route_label(req.path), res.status, -1);
          return httplib::Server::HandlerResponse::Handled;
        }));
    // Anything a handler lets escape (none should: the wrapper catches everything).
    http.set_exception_handler(
        [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
          std::string what = "unknown error";
          try {
            if (ep) std::rethrow_exception(ep);
          } catch (const std::exception& e) {
            what = e.what();
          } catch (...) {
          }
          set_error(res, 500, "internal_error", what);
        });
    http.set_logger([](const httplib::Request& req, const httplib::Response& res) {
      if (log_level() >= LogLevel::kDebug)
        log_debug(req.method + " " + req.path + " " + std::to_string(res.status));
    });

    const int threads = config.http_threads;
    http.new_task_queue = [threads] {
      return new httplib::ThreadPool(static_cast<size_t>(threads));
    };
    http.set_payload_max_length(static_cast<size_t>(config.max_body_bytes));
    http.set_keep_alive_max_count(1000);
    http.set_keep_alive_timeout(config.keep_alive_timeout_s);
    http.set_tcp_nodelay(true);
    // SO_REUSEADDR only: httplib's default also sets SO_REUSEPORT, which would let a second
    // server silently share this port.
    http.set_socket_options([this](socket_t sock) {
      int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
      listen_socket = sock;
    });

    metrics.set_gauge("sembed_ready", "1 once the model and the embeddings are loaded.",
                      [this] { return ready ? 1.0 : 0.0; });
    metrics.set_gauge("sembed_queue_depth", "Requests waiting for the batching worker.",
                      [this] { return ready ? static_cast<double>(batcher->queue_depth()) : 0.0; });
    metrics.set_gauge("sembed_requests_in_model",
                      "Requests queued for or inside the batching worker.",
                      [this] { return ready ? static_cast<double>(batcher->in_flight()) : 0.0; });
    metrics.set_gauge("sembed_index_size", "Rows searchable by /search.", [this] {
      return ready && corpus ? static_cast<double>(corpus->size()) : 0.0;
    });
  }

  void load() {
    try {
      const auto start = Clock::now();
      EmbedderOptions eo;
      eo.device = config.device;
      eo.bf16 = config.bf16;
      eo.threads = config.threads;
      embedder = std::make_unique<Embedder>(config.model_dir, eo);
      if (!config.embeddings_dir.empty()) {
        SearchCorpusOptions so;
        so.exact = config.exact;
        so.ef_search = config.ef_search;
        so.exact_options.threads = config.threads;
        corpus = SearchCorpus::load(config.embeddings_dir, so);
        if (corpus->dim() != embedder->dim())
          throw std::runtime_error("the embeddings in '" + config.embeddings_dir + "' have dim " +
                                   std::to_string(corpus->dim()) + " but the model gives " +
                                   std::to_string(embedder->dim()));
        const std::string hash = corpus->meta().value("model_hash", "");
        if (!hash.empty() && hash != embedder->weights_hash())
          log_warning("the embeddings in '" + config.embeddings_dir +
                      "' were made by another model (hash " + hash + ", this model " +
                      embedder->weights_hash() + "): search scores will be meaningless");
      }
      limits.max_client_batch = config.max_client_batch;
      limits.max_k = config.max_k;
      limits.vocab_size = embedder->tokenizer().vocab_size();
      limits.dim = embedder->dim();
      model_name = config.model_name;
      if (model_name.empty()) {
        std::string dir = config.model_dir;
        while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
        model_name = std::filesystem::path(dir).filename().string();
      }
      BatcherOptions bo;
      bo.max_batch_tokens = config.max_batch_tokens;
      bo.max_len = embedder->max_len();
      bo.max_queue = config.max_concurrent;
      const Embedder* e = embedder.get();
      const int threads = config.threads;
      batcher = std::make_unique<Batcher>(
          [e](const std::vector<std::vector<int>>& pieces, int64_t budget, EmbedStats* stats) {
            return e->embed_pieces(pieces, /*normalize=*/false, budget, stats);
          },
          embedder->dim(), bo, [this](const BatchReport& r) { metrics.record_batch(r); },
          [threads] { configure_torch_threads(threads); });
      info_body = make_info().dump();
      ready.store(true, std::memory_order_release);
      log_info("ready in " + std::to_string(seconds_since(start)).substr(0, 5) +
               " s: " + model_name + " (dim " + std::to_string(embedder->dim()) + ", max_len " +
               std::to_string(embedder->max_len()) + ", " + embedder->device() + ")" +
               (corpus ? ", " + std::to_string(corpus->size()) + " rows searchable (" +
                             corpus->index().kind() + ")"
                       : std::string()));
    } catch (const std::exception& e) {
      load_error_message = e.what();
      load_error = std::current_exception();
      load_failed = true;
      log_error(std::string("loading failed: ") + e.what());
      http.stop();
    } catch (...) {
      load_error_message = "unknown error";
      load_error = std::current_exception();
      load_failed = true;
      http.stop();
    }
  }

  nlohmann::json make_info() const {
    const ModelConfig& mc = embedder->config();
    nlohmann::json info = {
        {"model_id", model_name},
        {"model_dir", config.model_dir},
        {"model_hash", embedder->weights_hash()},
        {"model_config",
         {{"encoder", mc.encoder}, {"pooling", mc.pooling}, {"tokenizer", mc.tokenizer}}},
        {"dim", embedder->dim()},
        {"max_len", embedder->max_len()},
        {"max_input_length", embedder->max_len() - 2},
        {"device", embedder->device()},
        {"bf16", config.bf16},
        {"max_batch_tokens", config.max_batch_tokens},
        {"max_client_batch_size", config.max_client_batch},
        {"max_concurrent_requests", config.max_concurrent},
        {"max_body_bytes", config.max_body_bytes},
        {"max_k", config.max_k},
        {"auto_truncate", config.truncate},
        {"auth", !config.api_key.empty()},
        {"version", SEMBED_VERSION}};
    info["index"] = corpus ? corpus->describe() : nlohmann::json(nullptr);
    return info;
  }

  // ------------------------------------------------------------------------------ handlers

  TokenizedInputs tokenize(const std::vector<EmbedInput>& inputs, const TruncationOptions& t,
                           const std::function<std::string(size_t)>& name) const {
    return tokenize_inputs(embedder->tokenizer(), embedder->max_len(), inputs, t, config.truncate,
                           name);
  }

  void handle_embed(const httplib::Request& req, httplib::Response& res) {
    const EmbedRequest r = parse_embed_request(req.body, limits);
    const size_t n = r.inputs.size();
    TokenizedInputs t = tokenize(r.inputs, r.truncation, [n](size_t i) {
      return n == 1 ? std::string("inputs") : indexed("inputs", i);
    });
    const std::vector<float> v = batcher->embed(std::move(t.pieces), r.normalize);
    res.set_content(embeddings_body(v.data(), static_cast<int64_t>(n), embedder->dim()),
                    "application/json");
  }

  void handle_openai_embeddings(const httplib::Request& req, httplib::Response& res) {
    const OpenAiEmbeddingsRequest r = parse_openai_embeddings_request(req.body, limits);
    const size_t n = r.inputs.size();
    TokenizedInputs t = tokenize(r.inputs, r.truncation, [n](size_t i) {
      return n == 1 ? std::string("input") : indexed("input", i);
    });
    const int64_t tokens = t.tokens;
    const std::vector<float> v = batcher->embed(std::move(t.pieces), /*normalize=*/true);
    res.set_content(
        openai_embeddings_body(v.data(), static_cast<int64_t>(n), embedder->dim(), r.base64,
                               r.model.empty() ? model_name : r.model, tokens),
        "application/json");
  }

  void handle_similarity(const httplib::Request& req, httplib::Response& res) {
    const SimilarityRequest r = parse_similarity_request(req.body, limits);
    std::vector<EmbedInput> inputs(r.sentences.size() + 1);
    inputs[0].text = r.source;
    for (size_t i = 0; i < r.sentences.size(); ++i) inputs[i + 1].text = r.sentences[i];
    TokenizedInputs t = tokenize(inputs, r.truncation, [](size_t i) {
      return i == 0 ? std::string("inputs.source_sentence") : indexed("inputs.sentences", i - 1);
    });
    const std::vector<float> v = batcher->embed(std::move(t.pieces), /*normalize=*/true);
    const int64_t dim = embedder->dim();
    std::vector<float> scores(r.sentences.size());
    for (size_t i = 0; i < scores.size(); ++i)
      scores[i] = exact_dot(v.data(), v.data() + (i + 1) * dim, dim);
    res.set_content(float_list_body(scores), "application/json");
  }

  void handle_search(const httplib::Request& req, httplib::Response& res) {
    if (!corpus)
      throw not_found("no embedding set is loaded: start the server with --embeddings DIR");
    const SearchRequest r = parse_search_request(req.body, limits);
    std::vector<EmbedInput> inputs(r.queries.size());
    for (size_t i = 0; i < inputs.size(); ++i) inputs[i].text = r.queries[i];
    const bool batch = r.batch;
    TokenizedInputs t = tokenize(inputs, r.truncation, [batch](size_t i) {
      return batch ? indexed("queries", i) : std::string("query");
    });
    const std::vector<float> v = batcher->embed(std::move(t.pieces), /*normalize=*/true);
    const auto start = Clock::now();
    const auto hits = corpus->search(v.data(), static_cast<int64_t>(inputs.size()), r.k);
    metrics.record_search(static_cast<int64_t>(inputs.size()), seconds_since(start));
    std::string body;
    if (!batch) {
      body = corpus->hits_json(hits[0]);
    } else {
      body = "[";
      for (size_t i = 0; i < hits.size(); ++i) body += (i ? "," : "") + corpus->hits_json(hits[i]);
      body += "]";
    }
    res.set_content(body, "application/json");
  }

  void handle_health(const httplib::Request&, httplib::Response& res) {
    if (!ready.load(std::memory_order_acquire))
      throw unavailable(load_failed ? "the server failed to load: " + load_error_message
                                    : "the model is still loading");
    res.set_content("{\"status\":\"ok\"}", "application/json");
  }

  void handle_info(const httplib::Request&, httplib::Response& res) {
    res.set_content(info_body, "application/json");
  }

  void handle_metrics(const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics.render(), "text/plain; version=0.0.4; charset=utf-8");
  }

  // The search page: no external request of any kind (the policy makes that hold in the browser).
  void handle_page(const httplib::Request&, httplib::Response& res) {
    res.set_header("Content-Security-Policy",
                   "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                   "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'");
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Cache-Control", "no-cache");
    res.set_content(web_page(), "text/html; charset=utf-8");
  }

  void handle_models(const httplib::Request&, httplib::Response& res) {
    const nlohmann::json body = {
        {"object", "list"},
        {"data",
         {{{"id", model_name}, {"object", "model"}, {"created", 0}, {"owned_by", "sembed"}}}}};
    res.set_content(body.dump(), "application/json");
  }
};

Server::Server(ServeConfig config) : impl_(new Impl(std::move(config))) {
  impl_->config.validate();
}

Server::~Server() {
  stop();
  try {
    wait();
  } catch (...) {
    // A loading error was the caller's to collect with wait().
  }
}

const ServeConfig& Server::config() const {
  return impl_->config;
}
int Server::port() const {
  return impl_->port;
}
bool Server::ready() const {
  return impl_->ready.load(std::memory_order_acquire);
}

void Server::start() {
  Impl& m = *impl_;
  if (m.started.exchange(true)) throw std::logic_error("Server::start called twice");
  m.setup_http();
  if (m.config.port == 0) {
    m.port = m.http.bind_to_any_port(m.config.host);
  } else {
    m.port = m.http.bind_to_port(m.config.host, m.config.port) ? m.config.port : -1;
  }
  // httplib listens with a backlog of 5: a burst of new connections (64 clients connecting at
  // once) overflows it and the kernel drops handshakes. Linux lets a listening socket be given a
  // larger backlog by calling listen() again.
  if (m.port >= 0 && m.listen_socket >= 0) ::listen(m.listen_socket, SOMAXCONN);
  if (m.port < 0) {
    std::lock_guard<std::mutex> lock(m.wait_mutex);
    m.finished = true;
    throw std::runtime_error("cannot listen on " + m.config.host + ":" +
                             std::to_string(m.config.port) +
                             " (address in use, or not an address of this machine?)");
  }
  m.listener = std::thread([&m] { m.http.listen_after_bind(); });
  // stop() is only heard once the accept loop runs.
  while (!m.http.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  log_info("listening on http://" + m.config.host + ":" + std::to_string(m.port) +
           (m.config.api_key.empty() ? "" : " (API key required)"));
  m.loader = std::thread([&m] { m.load(); });
}

void Server::stop() {
  Impl& m = *impl_;
  if (m.started) m.http.stop();
}

void Server::wait() {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.wait_mutex);
  if (!m.finished) {
    if (m.listener.joinable()) m.listener.join();  // in-flight requests are answered by now
    if (m.loader.joinable()) m.loader.join();
    if (m.batcher) m.batcher->stop();
    m.finished = true;
  }
  if (m.load_error) std::rethrow_exception(m.load_error);
}

}  // namespace sembed::serve
