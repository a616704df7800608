// The HTTP server as a black box on an ephemeral port, in-process, with a tiny model the tests
// build: every endpoint, every error case, batching visible in /metrics, auth, 429, 503 while
// loading, graceful stop. Checks are grouped into few tests: each ctest process starts its own
// server.
#include "serve/server.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <unistd.h>
#include <atomic>
#include <cmath>
#include <cstring>
#include <future>

#include "model/embedder.h"
#include "model/embedding_set.h"
#include "serve/search_index.h"
#include "tests/serve/serve_fixtures.h"

namespace sembed::serve {
namespace {

using nlohmann::json;
using test::metric_value;
using test::RunningServer;

std::string describe(const httplib::Result& r) {
  if (!r) return "no response: " + httplib::to_string(r.error());
  return std::to_string(r->status) + " " + r->body.substr(0, 400);
}

httplib::Result post(httplib::Client& cli, const std::string& path, const std::string& body) {
  return cli.Post(path.c_str(), body, "application/json");
}

json post_json(httplib::Client& cli, const std::string& path, const json& body) {
  auto r = post(cli, path, body.dump());
  EXPECT_TRUE(r && r->status == 200) << path << " " << body.dump() << " -> " << describe(r);
  return r ? json::parse(r->body) : json();
}

// Checks the error shape, the status and that the message mentions `mention`.
void expect_error(const httplib::Result& r, int status, const std::string& mention,
                  const std::string& what) {
  ASSERT_TRUE(r) << what << ": " << describe(r);
  EXPECT_EQ(r->status, status) << what << ": " << describe(r);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json") << what;
  json j;
  try {
    j = json::parse(r->body);
  } catch (...) {
    FAIL() << what << ": error body is not JSON: " << r->body;
  }
  ASSERT_TRUE(j.contains("error")) << what << ": " << r->body;
  EXPECT_EQ(j["error"]["code"], status) << what;
  EXPECT_TRUE(j["error"]["type"].is_string()) << what;
  const std::string message = j["error"]["message"].get<std::string>();
  EXPECT_NE(message.find(mention), std::string::npos)
      << what << ": '" << message << "' should mention '" << mention << "'";
}

double norm(const json& v) {
  double s = 0;
  for (const auto& x : v) s += x.get<double>() * x.get<double>();
  return std::sqrt(s);
}

// Embeds texts offline, as `sembed embed` would (normalised).
std::vector<float> offline(const std::vector<std::string>& texts) {
  EmbedderOptions eo;
  eo.threads = 2;
  Embedder e(test::serve_model_dir(), eo);
  return e.embed(texts);
}

TEST(Server, EmbeddingEndpoints) {
  RunningServer s(test::test_config());
  auto cli = s.client();
  const std::vector<std::string> texts = {"The cat reads the blue sea after dinner.",
                                          "Bacedi fogu, hajeki!"};
  const std::vector<float> want = offline(texts);
  const int dim = 128;

  // POST /embed: a string, a list; normalised by default; matches offline embedding.
  json one = post_json(cli, "/embed", {{"inputs", texts[0]}});
  ASSERT_EQ(one.size(), 1u);
  ASSERT_EQ(one[0].size(), static_cast<size_t>(dim));
  EXPECT_NEAR(norm(one[0]), 1.0, 1e-5);
  json two = post_json(cli, "/embed", {{"inputs", texts}});
  ASSERT_EQ(two.size(), 2u);
  for (int r = 0; r < 2; ++r)
    for (int i = 0; i < dim; ++i)
      ASSERT_NEAR(two[r][i].get<float>(), want[r * dim + i], 2e-5) << "row " << r;
  json raw = post_json(cli, "/embed", {{"inputs", texts[0]}, {"normalize", false}});
  EXPECT_GT(std::fabs(norm(raw[0]) - 1.0), 1e-3) << "normalize=false gives the raw pooled vector";
  // Pre-tokenized input: the same vector as the text.
  EmbedderOptions eo;
  eo.threads = 1;
  const auto ids = Tokenizer::load(test::serve_model_dir() + "/tokenizer.model",
                                   Embedder(test::serve_model_dir(), eo).config().tokenizer)
                       .encode(texts[1]);
  json by_ids = post_json(cli, "/embed", {{"inputs", json::array({ids})}});
  for (int i = 0; i < dim; ++i)
    ASSERT_NEAR(by_ids[0][i].get<float>(), two[1][i].get<float>(), 1e-6);

  // Truncation: long inputs are cut by default, refused with truncate=false.
  std::string long_text;
  for (const auto& s : test::subword_corpus(10, 3)) long_text += s + " ";
  json cut = post_json(cli, "/embed", {{"inputs", long_text}});
  EXPECT_EQ(cut[0].size(), static_cast<size_t>(dim));
  json left = post_json(cli, "/embed", {{"inputs", long_text}, {"truncation_direction", "left"}});
  EXPECT_NE(left[0], cut[0]) << "left truncation keeps the other end";
  expect_error(post(cli, "/embed", json({{"inputs", long_text}, {"truncate", false}}).dump()), 422,
               "inputs is", "truncate=false");
  expect_error(
      post(cli, "/embed", json({{"inputs", {"ok", long_text}}, {"truncate", false}}).dump()), 422,
      "inputs[1]", "truncate=false, second input");

  // POST /v1/embeddings (and its alias /embeddings): float and base64, usage, model echo.
  json oa = post_json(cli, "/v1/embeddings", {{"input", texts}, {"model", "anything"}});
  EXPECT_EQ(oa["object"], "list");
  EXPECT_EQ(oa["model"], "anything");
  ASSERT_EQ(oa["data"].size(), 2u);
  EXPECT_EQ(oa["data"][1]["index"], 1);
  EXPECT_EQ(oa["data"][0]["embedding"], two[0]);
  const int64_t tokens = oa["usage"]["prompt_tokens"];
  EXPECT_GT(tokens, 4);
  EXPECT_EQ(oa["usage"]["total_tokens"], tokens);
  json b64 = post_json(cli, "/embeddings", {{"input", texts[0]}, {"encoding_format", "base64"}});
  EXPECT_EQ(b64["model"], "model") << "the model directory's name by default";
  const std::string encoded = b64["data"][0]["embedding"];
  EXPECT_EQ(encoded.size(), static_cast<size_t>((dim * 4 + 2) / 3 * 4));
  json models = json::parse(cli.Get("/v1/models")->body);
  EXPECT_EQ(models["data"][0]["id"], "model");

  // POST /similarity: cosines of the source with each sentence.
  json sim =
      post_json(cli, "/similarity",
                {{"inputs", {{"source_sentence", texts[0]}, {"sentences", {texts[0], texts[1]}}}}});
  ASSERT_EQ(sim.size(), 2u);
  EXPECT_NEAR(sim[0].get<double>(), 1.0, 1e-5);
  double dot = 0;
  for (int i = 0; i < dim; ++i) dot += double(want[i]) * want[dim + i];
  EXPECT_NEAR(sim[1].get<double>(), dot, 1e-4);
}

TEST(Server, SearchHealthInfoMetrics) {
  RunningServer s(test::test_config());
  auto cli = s.client();
  const auto sentences = test::corpus_sentences();

  // /search over the loaded set: ranked by cosine, equal to brute force.
  const std::string query = sentences[17];
  json hits = post_json(cli, "/search", {{"query", query}, {"k", 5}});
  ASSERT_EQ(hits.size(), 5u);
  EXPECT_EQ(hits[0]["id"], 17) << "a sentence of the set finds itself first";
  EXPECT_EQ(hits[0]["text"], query);
  EXPECT_NEAR(hits[0]["score"].get<double>(), 1.0, 1e-4);
  for (size_t i = 1; i < hits.size(); ++i)
    EXPECT_GE(hits[i - 1]["score"].get<double>(), hits[i]["score"].get<double>());
  EmbeddingSet set = load_embedding_set(test::serve_embeddings_dir());
  const auto qv = offline({query});
  std::vector<std::pair<float, int64_t>> truth;
  for (int64_t r = 0; r < set.rows; ++r)
    truth.push_back({exact_dot(qv.data(), set.vectors.data() + r * set.dim, set.dim), r});
  std::sort(truth.begin(), truth.end(), [](auto a, auto b) { return a.first > b.first; });
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(hits[i]["id"], truth[i].second) << "rank " << i;

  json many = post_json(cli, "/search", {{"queries", {sentences[3], sentences[200]}}});
  ASSERT_EQ(many.size(), 2u);
  EXPECT_EQ(many[0].size(), 10u) << "k defaults to 10";
  EXPECT_EQ(many[1][0]["id"], 200);
  json all = post_json(cli, "/search", {{"query", "x"}, {"k", 1000}});
  EXPECT_EQ(all.size(), sentences.size()) << "k above the set size returns every row";

  // /health, /info.
  auto health = cli.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  json info = json::parse(cli.Get("/info")->body);
  EXPECT_EQ(info["dim"], 128);
  EXPECT_EQ(info["max_len"], 64);
  EXPECT_EQ(info["model_config"]["encoder"]["layers"], 2);
  EXPECT_EQ(info["index"]["kind"], "exact");
  EXPECT_EQ(info["index"]["size"], static_cast<int64_t>(sentences.size()));
  EXPECT_EQ(info["max_client_batch_size"], 32);
  EXPECT_EQ(info["auth"], false);

  // /metrics: Prometheus text with requests by route and status, latency, batches, tokens.
  auto m = cli.Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->status, 200);
  EXPECT_NE(m->get_header_value("Content-Type").find("text/plain"), std::string::npos);
  const std::string& page = m->body;
  EXPECT_EQ(metric_value(page, "sembed_requests_total{route=\"/search\",status=\"200\"}"), 3)
      << page;
  EXPECT_EQ(metric_value(page, "sembed_request_duration_seconds_count{route=\"/search\"}"), 3);
  EXPECT_GE(metric_value(page, "sembed_forward_passes_total"), 3);
  EXPECT_GE(metric_value(page, "sembed_tokens_total"), 10);
  EXPECT_EQ(metric_value(page, "sembed_search_queries_total"), 4);
  EXPECT_EQ(metric_value(page, "sembed_queue_depth"), 0);
  EXPECT_EQ(metric_value(page, "sembed_ready"), 1);
  EXPECT_EQ(metric_value(page, "sembed_index_size"), static_cast<double>(sentences.size()));
  EXPECT_NE(page.find("# TYPE sembed_batch_size histogram"), std::string::npos);
}

TEST(Server, EveryErrorAnswersTheErrorShape) {
  auto config = test::test_config();
  config.max_client_batch = 3;
  config.max_body_bytes = 4096;
  RunningServer s(config);
  auto cli = s.client();
  struct Case {
    std::string path, body;
    int status;
    std::string mention;
  };
  const std::vector<Case> cases = {
      {"/embed", "", 400, "empty"},
      {"/embed", "{\"inputs\": [", 400, "not valid JSON"},
      {"/embed", "{\"inputs\": \"bad \xC3\x28 utf8\"}", 400, "inputs"},
      {"/embed", "[]", 422, "JSON object"},
      {"/embed", "{}", 422, "inputs"},
      {"/embed", "{\"inputs\": 5}", 422, "inputs"},
      {"/embed", "{\"inputs\": \"\"}", 422, "inputs"},
      {"/embed", "{\"inputs\": []}", 422, "inputs"},
      {"/embed", "{\"inputs\": [\"a\", \"\"]}", 422, "inputs[1]"},
      {"/embed", "{\"inputs\": [\"a\", \"b\", \"c\", \"d\"]}", 422, "--max-client-batch"},
      {"/embed", "{\"inputs\": \"a\", \"normalize\": 1}", 422, "normalize"},
      {"/embed", "{\"inputs\": [1, 99999]}", 422, "token id 99999"},
      {"/v1/embeddings", "{\"input\": \"a\", \"encoding_format\": \"hex\"}", 422,
       "encoding_format"},
      {"/v1/embeddings", "{\"input\": \"a\", \"dimensions\": 3}", 422, "dimensions"},
      {"/v1/embeddings", "{\"inputs\": \"a\"}", 422, "input"},
      {"/similarity", "{\"inputs\": {\"source_sentence\": \"a\"}}", 422, "inputs.sentences"},
      {"/similarity", "{\"inputs\": {\"source_sentence\": \"a\", \"sentences\": [\"\"]}}", 422,
       "inputs.sentences[0]"},
      {"/search", "{\"query\": \"a\", \"k\": 0}", 422, "k must be between"},
      {"/search", "{\"query\": \"a\", \"k\": 1001}", 422, "k must be between"},
      {"/search", "{\"query\": \"a\", \"k\": \"5\"}", 422, "k must be an integer"},
      {"/search", "{\"k\": 5}", 422, "query"},
      {"/search", "{\"queries\": [\"a\", 3]}", 422, "queries[1]"},
      {"/embed", std::string(2000, '[') + "\"\xFF\"" + std::string(2000, ']'), 400, "UTF-8"},
      {"/embed", std::string(4000, '['), 400, "not valid JSON"},
      {"/embed", "{\"inputs\": \"" + std::string(5000, 'a') + "\"}", 413, "--max-body-bytes"},
  };
  for (const auto& c : cases)
    expect_error(post(cli, c.path, c.body), c.status, c.mention,
                 c.path + " " + c.body.substr(0, 80));
  expect_error(cli.Get("/nope"), 404, "/nope", "unknown route");
  expect_error(post(cli, "/v2/embed", "{}"), 404, "no route", "unknown POST route");
  auto wrong = cli.Get("/embed");
  expect_error(wrong, 405, "POST", "GET on a POST route");
  EXPECT_EQ(wrong->get_header_value("Allow"), "POST");
  expect_error(cli.Delete("/health"), 405, "GET", "DELETE /health");

  // Without --embeddings, /search says how to get it.
  RunningServer bare(test::test_config(/*with_embeddings=*/false));
  auto bare_cli = bare.client();
  expect_error(post(bare_cli, "/search", "{\"query\": \"a\"}"), 404, "--embeddings", "no set");
  EXPECT_TRUE(json::parse(bare_cli.Get("/info")->body)["index"].is_null());

  // Nothing above hurt the server.
  EXPECT_EQ(post_json(cli, "/embed", {{"inputs", "still alive"}}).size(), 1u);
  const std::string page = cli.Get("/metrics")->body;
  EXPECT_EQ(metric_value(page, "sembed_requests_total{route=\"/embed\",status=\"413\"}"), 1);
  EXPECT_EQ(metric_value(page, "sembed_requests_total{route=\"other\",status=\"404\"}"), 2);
  EXPECT_EQ(metric_value(page, "sembed_requests_total{route=\"/embed\",status=\"405\"}"), 1);
}

TEST(Server, ConcurrentRequestsShareForwardPasses) {
  auto config = test::test_config(/*with_embeddings=*/false);
  config.http_threads = 64;
  RunningServer s(config);
  auto before = s.client().Get("/metrics");
  const double passes_before = metric_value(before->body, "sembed_forward_passes_total");
  constexpr int kRequests = 48;
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::future<std::string>> statuses;
  const auto sentences = test::corpus_sentences();
  for (int i = 0; i < kRequests; ++i) {
    statuses.push_back(std::async(std::launch::async, [&, i] {
      auto cli = test::client_for(s.port());
      const std::string body = json({{"inputs", sentences[i] + " " + sentences[i + 50]}}).dump();
      ++ready;
      while (!go) std::this_thread::yield();
      auto r = post(cli, "/embed", body);
      return r && r->status == 200 ? std::string("ok") : describe(r);
    }));
  }
  while (ready < kRequests) std::this_thread::yield();
  go = true;
  for (auto& f : statuses) EXPECT_EQ(f.get(), "ok");
  const std::string page = s.client().Get("/metrics")->body;
  const double passes = metric_value(page, "sembed_forward_passes_total") - passes_before;
  EXPECT_EQ(metric_value(page, "sembed_inputs_total"), kRequests);
  EXPECT_LT(passes, kRequests) << "one-sentence requests arriving together are batched";
  EXPECT_GT(metric_value(page, "sembed_batch_requests_bucket{le=\"1\"}"), -1);
  EXPECT_LT(metric_value(page, "sembed_batch_size_bucket{le=\"1\"}"), passes)
      << "some forward passes held several inputs\n"
      << page;
  std::printf("%d concurrent one-sentence requests took %.0f forward passes\n", kRequests, passes);
}

TEST(Server, FullQueueAnswers429AndApiKeyIsChecked) {
  {
    auto config = test::test_config(/*with_embeddings=*/false);
    config.max_concurrent = 1;
    config.http_threads = 32;
    RunningServer s(config);
    // Long inputs keep the model busy; many arrive together on one slot.
    std::vector<std::string> inputs;
    for (int i = 0; i < 32; ++i)
      inputs.push_back(test::subword_corpus(12, 100 + i)[0] + " " +
                       test::subword_corpus(12, 200 + i)[1]);
    const std::string body = json({{"inputs", inputs}}).dump();
    std::atomic<bool> go{false};
    std::vector<std::future<httplib::Result>> results;
    for (int i = 0; i < 24; ++i)
      results.push_back(std::async(std::launch::async, [&] {
        auto cli = test::client_for(s.port());
        while (!go) std::this_thread::yield();
        return post(cli, "/embed", body);
      }));
    go = true;
    int ok = 0, overloaded = 0;
    for (auto& f : results) {
      auto r = f.get();
      ASSERT_TRUE(r) << describe(r);
      if (r->status == 200) {
        ++ok;
      } else {
        expect_error(r, 429, "--max-concurrent", "queue full");
        ++overloaded;
      }
    }
    EXPECT_GE(ok, 1);
    EXPECT_GE(overloaded, 1) << "24 requests at once with --max-concurrent 1";
  }
  {
    auto config = test::test_config(/*with_embeddings=*/false);
    config.api_key = "s3cret-key";
    RunningServer s(config);
    auto cli = s.client();
    EXPECT_EQ(cli.Get("/health")->status, 200) << "/health needs no key";
    EXPECT_EQ(cli.Get("/metrics")->status, 200) << "/metrics needs no key";
    auto missing = post(cli, "/embed", "{\"inputs\": \"a\"}");
    expect_error(missing, 401, "Authorization", "no key");
    EXPECT_EQ(missing->get_header_value("WWW-Authenticate"), "Bearer");
    expect_error(cli.Get("/info"), 401, "API key", "no key on /info");
    httplib::Headers wrong = {{"Authorization", "Bearer s3cret-kez"}};
    expect_error(cli.Post("/embed", wrong, "{\"inputs\": \"a\"}", "application/json"), 401,
                 "invalid API key", "wrong key");
    httplib::Headers prefix = {{"Authorization", "Bearer s3cret"}};
    expect_error(cli.Post("/embed", prefix, "{\"inputs\": \"a\"}", "application/json"), 401,
                 "invalid", "a prefix of the key");
    expect_error(cli.Get("/nope", wrong), 401, "invalid", "unknown route, wrong key");
    cli.set_bearer_token_auth("s3cret-key");
    auto good = post(cli, "/embed", "{\"inputs\": \"a\"}");
    ASSERT_TRUE(good);
    EXPECT_EQ(good->status, 200) << describe(good);
    EXPECT_EQ(json::parse(cli.Get("/info")->body)["auth"], true);
  }
}

TEST(Server, HealthIs503WhileLoadingAndStopFinishesInFlightRequests) {
  // meta.json is a FIFO: loading blocks reading it until the test writes it.
  test::ScratchDir dir("serve-loading");
  const std::string set = dir.file("set");
  std::filesystem::copy(test::serve_embeddings_dir(), set);
  const std::string meta = test::read_text(set + "/meta.json");
  std::filesystem::remove(set + "/meta.json");
  ASSERT_EQ(::mkfifo((set + "/meta.json").c_str(), 0644), 0);
  auto config = test::test_config(false);
  config.embeddings_dir = set;
  Server server(config);
  server.start();
  auto cli = test::client_for(server.port());
  expect_error(cli.Get("/health"), 503, "loading", "/health while loading");
  expect_error(post(cli, "/embed", "{\"inputs\": \"a\"}"), 503, "loading", "/embed while loading");
  expect_error(cli.Get("/info"), 503, "loading", "/info while loading");
  EXPECT_EQ(cli.Get("/metrics")->status, 200) << "/metrics answers while loading";
  EXPECT_FALSE(server.ready());
  {
    // Opening a FIFO's write end without blocking fails until the loader has opened it to read.
    int fd = -1;
    for (int i = 0; i < 6000 && fd < 0; ++i) {
      fd = ::open((set + "/meta.json").c_str(), O_WRONLY | O_NONBLOCK);
      if (fd < 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_GE(fd, 0) << "the loader never opened meta.json";
    ::fcntl(fd, F_SETFL, 0);
    ASSERT_EQ(::write(fd, meta.data(), meta.size()), static_cast<ssize_t>(meta.size()));
    ::close(fd);
  }
  test::wait_until_ready(server.port());
  EXPECT_TRUE(server.ready());

  // Requests in flight when stop() is called are answered; new connections are refused.
  std::vector<std::string> inputs;
  for (int i = 0; i < 32; ++i) inputs.push_back(test::subword_corpus(12, 300 + i)[0]);
  const std::string body = json({{"inputs", inputs}}).dump();
  std::vector<std::future<httplib::Result>> inflight;
  for (int i = 0; i < 8; ++i)
    inflight.push_back(std::async(std::launch::async, [&] {
      auto c = test::client_for(server.port());
      return post(c, "/embed", body);
    }));
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  server.stop();
  server.wait();
  int answered = 0;
  for (auto& f : inflight) {
    auto r = f.get();
    if (r) {
      EXPECT_EQ(r->status, 200) << describe(r);
      ++answered;
    }
  }
  EXPECT_GE(answered, 1) << "requests received before stop() are answered";
  auto after = test::client_for(server.port()).Get("/health");
  EXPECT_FALSE(after) << "no new connections after stop()";
}

TEST(Server, LoadFailureStopsTheServerWithTheReason) {
  auto config = test::test_config(false);
  config.model_dir = "/nonexistent/model";
  Server server(config);
  server.start();
  try {
    server.wait();
    ADD_FAILURE() << "wait() did not report the loading error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/model"), std::string::npos) << e.what();
  }
  // Binding a port in use fails at start.
  RunningServer running(test::test_config(false));
  auto busy = test::test_config(false);
  busy.port = running.port();
  Server second(busy);
  EXPECT_THROW(second.start(), std::runtime_error);
}

}  // namespace
}  // namespace sembed::serve
