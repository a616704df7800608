#include "tests/training/training_fixture.h"

#include <filesystem>
#include <memory>
#include <mutex>
#include <random>

#include <unistd.h>

#include "tests/test_support.h"

namespace sembed::test {

namespace {
std::once_flag g_once;
std::string g_path;
std::unique_ptr<Tokenizer> g_tokenizer;

void build() {
  g_path = std::string(SEMBED_BUILD_DIR) + "/test-scratch/training-fixture-" +
           std::to_string(::getpid());
  std::filesystem::create_directories(g_path);
  auto lines = synthetic_corpus(1500, 5);
  for (const auto& s : subword_corpus(1500, 3)) lines.push_back(s);
  for (const auto& p : paraphrase_pairs(600, 9))
    lines.push_back(p.substr(0, p.find('\t'))), lines.push_back(p.substr(p.find('\t') + 1));
  write_lines(g_path + "/corpus.txt", lines);
  TokenizerConfig cfg;
  cfg.vocab_size = 400;
  cfg.character_coverage = 1.0;
  cfg.threads = 2;
  Tokenizer::train(g_path + "/corpus.txt", g_path + "/tok.model", cfg);
  g_tokenizer = std::make_unique<Tokenizer>(Tokenizer::load(g_path + "/tok.model"));
  g_path += "/tok.model";
}
}  // namespace

const std::string& tiny_tokenizer_path() {
  std::call_once(g_once, build);
  return g_path;
}

const Tokenizer& tiny_tokenizer() {
  std::call_once(g_once, build);
  return *g_tokenizer;
}

std::vector<std::string> paraphrase_pairs(int n, unsigned seed) {
  static const char* who[][2] = {
      {"The old farmer", "An elderly farmer"}, {"A young student", "A student"},
      {"The engineer", "An engineer"},         {"My neighbour", "The man next door"},
      {"The small bird", "A little bird"},     {"Our teacher", "The teacher"},
      {"A tall woman", "A woman who is tall"}, {"The quiet child", "A silent kid"}};
  static const char* act[][2] = {{"repairs", "is fixing"},  {"paints", "is painting"},
                                 {"sells", "is selling"},   {"carries", "is carrying"},
                                 {"builds", "is building"}, {"reads", "is reading"}};
  static const char* what[][2] = {
      {"a wooden boat", "a boat made of wood"}, {"the broken clock", "a clock that is broken"},
      {"an old bicycle", "a bike that is old"}, {"the red door", "a door painted red"},
      {"a heavy box", "a box that is heavy"},   {"the morning paper", "today's newspaper"},
      {"a blue kite", "a kite that is blue"}};
  static const char* when[][2] = {{"every morning", "each morning"},
                                  {"in the rain", "while it rains"},
                                  {"after dinner", "once dinner is over"},
                                  {"at night", "during the night"},
                                  {"on Sundays", "every Sunday"}};
  std::mt19937 rng(seed);
  std::vector<std::string> out;
  std::vector<bool> used(8 * 6 * 7 * 5, false);
  while (static_cast<int>(out.size()) < n &&
         static_cast<int>(out.size()) < static_cast<int>(used.size())) {
    const int a = rng() % 8, b = rng() % 6, c = rng() % 7, d = rng() % 5;
    const int key = ((a * 6 + b) * 7 + c) * 5 + d;
    if (used[key]) continue;
    used[key] = true;
    out.push_back(std::string(who[a][0]) + " " + act[b][0] + " " + what[c][0] + " " + when[d][0] +
                  ".\t" + who[a][1] + " " + act[b][1] + " " + what[c][1] + " " + when[d][1] + ".");
  }
  return out;
}

}  // namespace sembed::test
