// The serve-side commands through the sembed binary: `sembed index`, `sembed search` (the same
// answer as POST /search), `sembed serve` (SIGTERM: in-flight requests answered, exit 0; usage
// errors), and OpenAI's official npm client against the server.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <regex>

#include "serve/search_index.h"
#include "tests/serve/serve_fixtures.h"

namespace sembed::serve {
namespace {

using nlohmann::json;
using test::CommandResult;
using test::run_sembed;
using test::ScratchDir;
using test::shell_quote;

// The same hits (ids, texts, order) with scores equal up to float rounding: the CLI re-executes
// itself with a tuned BLAS kernel, so the last bit of a score may differ from the server's.
void expect_same_hits(const json& a, const json& b) {
  ASSERT_EQ(a.is_array(), b.is_array());
  ASSERT_EQ(a.size(), b.size()) << a.dump() << "\n" << b.dump();
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].is_array()) {
      expect_same_hits(a[i], b[i]);
      continue;
    }
    EXPECT_EQ(a[i]["id"], b[i]["id"]) << i;
    EXPECT_EQ(a[i]["text"], b[i]["text"]) << i;
    EXPECT_NEAR(a[i]["score"].get<double>(), b[i]["score"].get<double>(), 1e-5) << i;
  }
}

std::string describe(const CommandResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\nstdout:\n" + r.out + "\nstderr:\n" + r.err;
}

// A copy of the fixture embedding set the test may add an index to.
std::string copy_of_embeddings(const ScratchDir& dir) {
  const std::string out = dir.file("set");
  std::filesystem::copy(test::serve_embeddings_dir(), out);
  return out;
}

TEST(ServeCli, IndexAndSearchAnswerAsTheServerDoes) {
  ScratchDir dir("serve-cli");
  const std::string set = copy_of_embeddings(dir);
  const std::string model = test::serve_model_dir();
  const CommandResult index =
      run_sembed("index -e " + shell_quote(set) + " --m 8 --ef-construction 64 --threads 2");
  ASSERT_EQ(index.exit_code, 0) << describe(index);
  EXPECT_NE(index.out.find("indexed 300 rows"), std::string::npos) << index.out;
  EXPECT_TRUE(HnswIndex::exists(set));
  const json saved = json::parse(test::read_text(set + "/index.json"));
  EXPECT_EQ(saved["m"], 8);
  EXPECT_EQ(saved["rows"], 300);

  const auto sentences = test::corpus_sentences();
  const std::string query = sentences[42];
  for (const bool exact : {false, true}) {
    auto config = test::test_config();
    config.embeddings_dir = set;
    config.exact = exact;
    test::RunningServer server(config);
    auto cli = server.client();
    const json info = json::parse(cli.Get("/info")->body);
    EXPECT_EQ(info["index"]["kind"], exact ? "exact" : "hnsw");
    auto r = cli.Post("/search", json({{"query", query}, {"k", 7}}).dump(), "application/json");
    ASSERT_TRUE(r && r->status == 200);
    const CommandResult search =
        run_sembed("search --json -m " + shell_quote(model) + " -e " + shell_quote(set) + " -q " +
                   shell_quote(query) + " -k 7" + (exact ? " --exact" : ""));
    ASSERT_EQ(search.exit_code, 0) << describe(search);
    expect_same_hits(json::parse(search.out), json::parse(r->body));
    EXPECT_EQ(json::parse(r->body)[0]["id"], 42);
    if (exact) continue;
    // Several queries: the answer to {"queries": [...]}.
    r = cli.Post("/search", json({{"queries", {sentences[1], sentences[2]}}, {"k", 3}}).dump(),
                 "application/json");
    const CommandResult many =
        run_sembed("search --json -m " + shell_quote(model) + " -e " + shell_quote(set) + " -q " +
                   shell_quote(sentences[1]) + " -q " + shell_quote(sentences[2]) + " -k 3");
    ASSERT_EQ(many.exit_code, 0) << describe(many);
    expect_same_hits(json::parse(many.out), json::parse(r->body));
  }

  // Errors: usage (exit 2) and a stale index (exit 1, naming the fix).
  EXPECT_EQ(run_sembed("index -e " + shell_quote(set) + " --m 1").exit_code, 2);
  json meta = json::parse(test::read_text(set + "/meta.json"));
  meta["created"] = "1999-01-01T00:00:00Z";
  test::write_text(set + "/meta.json", meta.dump());
  const CommandResult stale =
      run_sembed("search -m " + shell_quote(model) + " -e " + shell_quote(set) + " -q x");
  EXPECT_EQ(stale.exit_code, 1) << describe(stale);
  EXPECT_NE(stale.err.find("sembed index"), std::string::npos) << stale.err;
  // --exact ignores the stale index; the plain listing names rank, score, id and text.
  const CommandResult plain = run_sembed("search --exact -m " + shell_quote(model) + " -e " +
                                         shell_quote(set) + " -q " + shell_quote(query) + " -k 2");
  ASSERT_EQ(plain.exit_code, 0) << describe(plain);
  EXPECT_NE(plain.out.find(" 1. 1.0000  [42]  " + query), std::string::npos) << plain.out;
}

// `sembed serve` in the background, its stderr in a file.
class ServeProcess {
 public:
  ServeProcess(std::vector<std::string> args, const std::string& log) : log_(log) {
    args.insert(args.begin(), "serve");
    pid_ = test::spawn_sembed(args, log);
  }
  ~ServeProcess() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  // The port from the "listening on http://host:PORT" log line (-1 on timeout or early exit).
  int port(double timeout_s = 60) {
    const std::regex re("listening on http://[^:]+:([0-9]+)");
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    while (std::chrono::steady_clock::now() < deadline) {
      std::smatch m;
      const std::string text = test::read_text(log_);
      if (std::regex_search(text, m, re)) return std::stoi(m[1]);
      int status;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        return -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }
  void signal(int sig) { ::kill(pid_, sig); }
  // Exit code (128 + signal when killed).
  int wait() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    exited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  std::string log() const { return test::read_text(log_); }

 private:
  std::string log_;
  pid_t pid_ = -1;
  bool exited_ = false;
};

TEST(ServeCli, SigtermAnswersInFlightRequestsAndExitsZero) {
  ScratchDir dir("serve-sigterm");
  ServeProcess serve({"-m", test::serve_model_dir(), "-e", test::serve_embeddings_dir(), "-p", "0",
                      "--threads", "2", "--max-concurrent", "64"},
                     dir.file("serve.log"));
  const int port = serve.port();
  ASSERT_GT(port, 0) << serve.log();
  test::wait_until_ready(port);
  auto cli = test::client_for(port);
  auto r = cli.Post("/search", "{\"query\": \"the cat\", \"k\": 2}", "application/json");
  ASSERT_TRUE(r && r->status == 200);

  std::vector<std::string> inputs;
  for (int i = 0; i < 32; ++i) inputs.push_back(test::subword_corpus(12, 500 + i)[0]);
  const std::string body = json({{"inputs", inputs}}).dump();
  std::vector<std::future<httplib::Result>> inflight;
  for (int i = 0; i < 8; ++i)
    inflight.push_back(std::async(std::launch::async, [&] {
      auto c = test::client_for(port);
      return c.Post("/embed", body, "application/json");
    }));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  serve.signal(SIGTERM);
  EXPECT_EQ(serve.wait(), 0) << serve.log();
  int answered = 0;
  for (auto& f : inflight) {
    auto res = f.get();
    if (res) {
      EXPECT_EQ(res->status, 200);
      ++answered;
    }
  }
  EXPECT_GE(answered, 1) << "requests received before SIGTERM are answered";
  const std::string log = serve.log();
  EXPECT_NE(log.find("SIGTERM"), std::string::npos) << log;
  EXPECT_NE(log.find("stopped"), std::string::npos) << log;
  EXPECT_FALSE(test::client_for(port).Get("/health")) << "nothing listens after exit";
}

TEST(ServeCli, UsageAndStartupErrors) {
  const CommandResult no_model = run_sembed("serve");
  EXPECT_EQ(no_model.exit_code, 2) << describe(no_model);
  EXPECT_NE(no_model.err.find("--model"), std::string::npos) << no_model.err;
  const CommandResult bad_port = run_sembed("serve -m x --port 70000");
  EXPECT_EQ(bad_port.exit_code, 2) << describe(bad_port);
  EXPECT_NE(bad_port.err.find("--port"), std::string::npos) << bad_port.err;
  const CommandResult missing = run_sembed("serve -m /nonexistent/model -p 0");
  EXPECT_EQ(missing.exit_code, 1) << describe(missing);
  EXPECT_NE(missing.err.find("/nonexistent/model"), std::string::npos) << missing.err;
  const CommandResult help = run_sembed("serve --help");
  EXPECT_EQ(help.exit_code, 0);
  for (const char* flag :
       {"--embeddings", "--host", "--port", "--threads", "--max-batch-tokens", "--max-client-batch",
        "--max-concurrent", "--max-body-bytes", "--api-key", "--no-truncate"})
    EXPECT_NE(help.out.find(flag), std::string::npos) << flag;
}

// OpenAI's official Node client (installed here with npm) calls /v1/embeddings.
TEST(ServeCli, OfficialOpenAiNodeClient) {
  if (test::run_shell("command -v npm && command -v node").exit_code != 0)
    GTEST_SKIP() << "npm or node is not installed: skipping the OpenAI client test";
  const std::string prefix = std::string(SEMBED_BUILD_DIR) + "/npm-openai";
  if (!std::filesystem::exists(prefix + "/node_modules/openai/package.json")) {
    const CommandResult install = test::run_shell(
        "mkdir -p " + shell_quote(prefix) + " && cd " + shell_quote(prefix) +
        " && timeout 300 npm install --no-audit --no-fund --loglevel=error openai@^4");
    if (install.exit_code != 0)
      GTEST_SKIP() << "npm install openai failed (no registry access?): " << install.err;
  }
  auto config = test::test_config(false);
  config.api_key = "sk-test-key";
  config.model_name = "sembed-tiny";
  test::RunningServer server(config);
  const std::string script = prefix + "/embeddings_check.js";
  test::write_text(script, R"JS(
const mod = require('openai');
const OpenAI = mod.OpenAI || mod.default || mod;
const client = new OpenAI({ baseURL: process.argv[2], apiKey: 'sk-test-key', maxRetries: 0 });
const norm = (v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
(async () => {
  // The client asks for base64 by default and decodes it itself.
  const many = await client.embeddings.create({ model: 'sembed-tiny', input: ['The cat reads.', 'A dog.'] });
  const one = await client.embeddings.create({ model: 'sembed-tiny', input: 'Hello there.', encoding_format: 'float' });
  let unauthorized = 0;
  try {
    await new OpenAI({ baseURL: process.argv[2], apiKey: 'wrong', maxRetries: 0 }).embeddings.create({ model: 'x', input: 'a' });
  } catch (e) { unauthorized = e.status; }
  console.log(JSON.stringify({
    version: mod.VERSION || null,
    dims: many.data.map((d) => d.embedding.length).concat(one.data.map((d) => d.embedding.length)),
    norms: many.data.map((d) => norm(d.embedding)).concat(one.data.map((d) => norm(d.embedding))),
    indexes: many.data.map((d) => d.index),
    model: many.model,
    prompt_tokens: many.usage.prompt_tokens,
    unauthorized,
  }));
})().catch((e) => { console.error(e); process.exit(1); });
)JS");
  const CommandResult run =
      test::run_shell("node " + shell_quote(script) + " " +
                      shell_quote("http://127.0.0.1:" + std::to_string(server.port()) + "/v1"));
  ASSERT_EQ(run.exit_code, 0) << describe(run);
  const json out = json::parse(run.out);
  EXPECT_EQ(out["dims"], json({128, 128, 128})) << run.out;
  for (const auto& n : out["norms"]) EXPECT_NEAR(n.get<double>(), 1.0, 1e-4) << run.out;
  EXPECT_EQ(out["indexes"], json({0, 1}));
  EXPECT_EQ(out["model"], "sembed-tiny");
  EXPECT_GT(out["prompt_tokens"].get<int>(), 4);
  EXPECT_EQ(out["unauthorized"], 401);
  std::printf("openai npm client %s: ok\n", out["version"].dump().c_str());
}

}  // namespace
}  // namespace sembed::serve
