// kill -9 during `sembed embed` and `sembed index`: no partial file is ever visible under a final
// name, a previous complete result survives, and running the command again works.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <random>
#include <thread>

#include "model/embedding_set.h"
#include "model/npy.h"
#include "serve/search_index.h"
#include "tests/serve/serve_fixtures.h"

namespace sembed::serve {
namespace {

namespace fs = std::filesystem;
using test::run_sembed;
using test::ScratchDir;
using test::shell_quote;

// Names in `dir` that start with `prefix` and are not exactly `prefix` (temporary siblings).
std::vector<std::string> temporaries(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> found;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name != prefix && name.rfind(prefix, 0) == 0) found.push_back(name);
  }
  return found;
}

// Kills `pid` with SIGKILL and reaps it; false if it had already exited (too late to test).
bool kill_9(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, WNOHANG) == pid) return false;
  ::kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

std::vector<std::string> many_lines(int n) {
  const auto base = test::corpus_sentences();
  std::vector<std::string> lines;
  lines.reserve(n);
  for (int i = 0; i < n; ++i) lines.push_back(base[i % base.size()] + " #" + std::to_string(i));
  return lines;
}

TEST(KillNine, EmbedNeverLeavesAPartialSetUnderTheFinalName) {
  ScratchDir dir("kill-embed");
  test::write_lines(dir.file("small.txt"), many_lines(50));
  test::write_lines(dir.file("big.txt"), many_lines(60000));
  const std::string out = dir.file("set");
  const std::vector<std::string> args = {
      "embed",     "-m", test::serve_model_dir(), "-i",  dir.file("big.txt"), "-o", out,
      "--threads", "1",  "--chunk-lines",         "2000"};

  // 1. No previous result: killed mid-run, the final name does not exist.
  pid_t pid = test::spawn_sembed(args, dir.file("embed1.log"));
  ASSERT_TRUE(test::wait_until([&] { return !temporaries(dir.path(), "set").empty(); }, 60))
      << test::read_text(dir.file("embed1.log"));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // rows are being written
  ASSERT_TRUE(kill_9(pid)) << "embed finished before the kill";
  EXPECT_FALSE(fs::exists(out));

  // 2. A complete previous result survives a killed re-run unchanged.
  auto first = run_sembed("embed -m " + shell_quote(test::serve_model_dir()) + " -i " +
                          shell_quote(dir.file("small.txt")) + " -o " + shell_quote(out));
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const std::string meta_before = test::read_text(out + "/meta.json");
  pid = test::spawn_sembed(args, dir.file("embed2.log"));
  ASSERT_TRUE(test::wait_until([&] { return temporaries(dir.path(), "set").size() >= 2; }, 60))
      << test::read_text(dir.file("embed2.log"));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(kill_9(pid)) << "embed finished before the kill";
  EXPECT_EQ(test::read_text(out + "/meta.json"), meta_before);
  const EmbeddingSet kept = load_embedding_set(out);
  EXPECT_EQ(kept.rows, 50);

  // 3. Running again over the leftovers works.
  auto again = run_sembed("embed -m " + shell_quote(test::serve_model_dir()) + " -i " +
                          shell_quote(dir.file("small.txt")) + " -o " + shell_quote(out));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(load_embedding_set(out).rows, 50);
}

// An embedding set of `real` sentences embedded by the tiny model, padded with random unit
// vectors to `rows` rows (cheap to make; HNSW build time depends only on the row count).
std::string make_large_set(const std::string& dir, int real, int rows) {
  const auto lines = many_lines(real);
  test::make_embedding_set(dir, lines);
  const NpyMatrix m = read_npy_matrix(dir + "/embeddings.npy");
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  std::string data(reinterpret_cast<const char*>(m.data.data()), m.data.size() * sizeof(float));
  std::string texts = test::read_text(dir + "/texts.jsonl");
  std::vector<float> row(m.cols);
  for (int r = real; r < rows; ++r) {
    float norm = 0;
    for (auto& x : row) {
      x = normal(rng);
      norm += x * x;
    }
    for (auto& x : row) x /= std::sqrt(norm);
    data.append(reinterpret_cast<const char*>(row.data()), row.size() * sizeof(float));
    texts += nlohmann::json({{"id", r}, {"text", "random row " + std::to_string(r)}}).dump() + "\n";
  }
  test::write_text(dir + "/embeddings.npy", npy_header("<f4", {rows, m.cols}) + data);
  test::write_text(dir + "/texts.jsonl", texts);
  nlohmann::json meta = nlohmann::json::parse(test::read_text(dir + "/meta.json"));
  meta["count"] = rows;
  test::write_text(dir + "/meta.json", meta.dump(2));
  return dir;
}

TEST(KillNine, IndexNeverLeavesAPartialIndexUnderTheFinalNames) {
  ScratchDir dir("kill-index");
  const std::string set = make_large_set(dir.file("set"), 100, 30000);
  ASSERT_EQ(load_embedding_set(set).rows, 30000);
  // One thread and a wide candidate list: the graph takes many seconds to build.
  const std::vector<std::string> args = {
      "index", "-e", set, "--m", "32", "--ef-construction", "400", "--threads", "1"};
  const auto t0 = std::chrono::steady_clock::now();
  pid_t pid = test::spawn_sembed(args, dir.file("index.log"));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  ASSERT_TRUE(kill_9(pid))
      << "index finished before the kill (after "
      << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()
      << " s): " << test::read_text(dir.file("index.log"));
  EXPECT_FALSE(HnswIndex::exists(set));
  EXPECT_FALSE(fs::exists(set + "/index.json"));
  // The set still searches (exactly), and `sembed index` then succeeds.
  auto search =
      run_sembed("search -m " + shell_quote(test::serve_model_dir()) + " -e " + shell_quote(set) +
                 " --exact -q " + shell_quote(many_lines(4)[3]) + " -k 1 --json");
  ASSERT_EQ(search.exit_code, 0) << search.err;
  EXPECT_NE(search.out.find("\"id\":3"), std::string::npos) << search.out;
  auto index = run_sembed("index -e " + shell_quote(set) + " --m 8 --ef-construction 32");
  ASSERT_EQ(index.exit_code, 0) << index.err;
  EXPECT_TRUE(HnswIndex::exists(set));
}

}  // namespace
}  // namespace sembed::serve
