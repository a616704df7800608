#include "tests/test_support.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace sembed::test {

namespace fs = std::filesystem;

ScratchDir::ScratchDir(const std::string& name) {
  static std::atomic<int> counter{0};
  path_ = std::string(SEMBED_BUILD_DIR) + "/test-scratch/" + name + "-" +
          std::to_string(::getpid()) + "-" + std::to_string(counter++);
  fs::remove_all(path_);
  fs::create_directories(path_);
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  if (std::getenv("SEMBED_KEEP_SCRATCH") == nullptr) fs::remove_all(path_, ec);
}

pid_t spawn_sembed(const std::vector<std::string>& args, const std::string& log) {
  std::vector<std::string> argv = {SEMBED_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargs;
  for (auto& a : argv) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, cargs[0], &actions, nullptr, cargs.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  // Never hand back -1: kill(-1, ...) signals every process the user owns.
  if (rc != 0 || pid <= 0) throw std::runtime_error("cannot start " + argv[0]);
  return pid;
}

bool wait_until(const std::function<bool()>& condition, double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return condition();
}

CommandResult run_shell(const std::string& command, const std::string& stdin_text) {
  static std::atomic<int> counter{0};
  const std::string base = std::string(SEMBED_BUILD_DIR) + "/test-scratch/cmd-" +
                           std::to_string(::getpid()) + "-" + std::to_string(counter++);
  fs::create_directories(fs::path(base).parent_path());
  write_text(base + ".in", stdin_text);
  const std::string line =
      "(" + command + ") <" + base + ".in >" + base + ".out 2>" + base + ".err";
  int status = std::system(line.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_text(base + ".out");
  r.err = read_text(base + ".err");
  for (const char* ext : {".in", ".out", ".err"}) fs::remove(base + ext);
  return r;
}

CommandResult run_sembed(const std::string& args, const std::string& stdin_text) {
  return run_shell(std::string(SEMBED_BINARY) + " " + args, stdin_text);
}

std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) {
    if (c == '\'')
      quoted += "'\\''";
    else
      quoted.push_back(c);
  }
  return quoted + "'";
}

std::string shared_data_dir() {
  std::string dir;
  if (const char* env = std::getenv("SEMBED_DATA_DIR")) {
    dir = env;
  } else {
    dir = std::string(SEMBED_SOURCE_DIR) + "/../shared/data";
  }
  return fs::is_directory(dir) ? fs::canonical(dir).string() : std::string();
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

std::vector<std::string> synthetic_corpus(int sentences, unsigned seed) {
  static const char* subjects[] = {
      "the cat",      "a dog",       "my neighbour",   "the old farmer", "a young student",
      "the engineer", "our teacher", "the small bird", "a tall woman",   "the quiet child",
      "the river",    "a train",     "the committee",  "my brother"};
  static const char* verbs[] = {"watches", "follows", "paints",  "builds",    "finds", "carries",
                                "likes",   "visits",  "repairs", "describes", "sells", "reads"};
  static const char* objects[] = {"a red house",       "the green field", "an open window",
                                  "the long road",     "a wooden boat",   "the bright moon",
                                  "a heavy box",       "the new bridge",  "an empty glass",
                                  "the morning paper", "a broken clock",  "the blue sea"};
  static const char* tails[] = {
      "every morning", "in the rain", "after dinner", "near the station", "with great care",
      "before noon",   "on Sundays",  "at night",     "without a word",   "during the storm"};
  std::mt19937 rng(seed);
  std::vector<std::string> out;
  out.reserve(sentences);
  for (int i = 0; i < sentences; ++i) {
    std::string s = std::string(subjects[rng() % 14]) + " " + verbs[rng() % 12] + " " +
                    objects[rng() % 12] + " " + tails[rng() % 10] + ".";
    s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
    out.push_back(s);
  }
  return out;
}

std::vector<std::string> subword_corpus(int sentences, unsigned seed) {
  // Together the syllables hold every ASCII letter.
  static const char* syllables[] = {"ba", "ce", "di",  "fo", "gu", "ha", "je", "ki", "lo", "mu",
                                    "na", "pe", "qui", "ro", "su", "ti", "vo", "wa", "xe", "yu",
                                    "ze", "an", "el",  "is", "on", "ur", "st", "tr", "pl"};
  static const char* separators[] = {" ", " ", " ", " ", " ", ", ", "; ", ": ", " - "};
  static const char* ends[] = {".", ".", ".", "!", "?", "...", "?!"};
  std::mt19937 rng(seed);
  auto pick = [&rng](size_t n) { return static_cast<size_t>(rng() % n); };
  std::vector<std::string> out;
  out.reserve(sentences);
  for (int i = 0; i < sentences; ++i) {
    std::string s;
    const size_t words = 4 + pick(7);
    for (size_t w = 0; w < words; ++w) {
      if (w > 0) s += separators[pick(9)];
      std::string word;
      if (pick(8) == 0) {
        word = std::to_string(pick(2000));
      } else {
        for (size_t k = 1 + pick(4); k > 0; --k) word += syllables[pick(29)];
      }
      if (w == 0 || pick(6) == 0)
        word[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(word[0])));
      if (pick(12) == 0)
        for (char& c : word) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (pick(15) == 0) word = "(" + word + ")";
      if (pick(15) == 0) word = "\"" + word + "\"";
      if (pick(20) == 0) word += "'s";
      s += word;
    }
    out.push_back(s + ends[pick(7)]);
  }
  return out;
}

void write_lines(const std::string& path, const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  write_text(path, text);
}

}  // namespace sembed::test
