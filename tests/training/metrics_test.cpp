// Correlations (training/metrics.h) and STS evaluation (training/sts.h) against numbers worked out
// by hand, the three STS file formats, and `sembed eval sts --json`.
#include "training/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/embedder.h"
#include "model/model_init.h"
#include "tests/test_support.h"
#include "tests/training/training_fixture.h"
#include "training/sts.h"

namespace sembed {
namespace {

using test::ScratchDir;
using test::write_text;

TEST(MetricsTest, AverageRanksGiveTiesTheMeanOfTheirRanks) {
  // Sorted: 10 (rank 1), 20 20 20 (ranks 2, 3, 4 -> 3), 30 (rank 5).
  EXPECT_EQ(average_ranks({10, 20, 30, 20, 20}), (std::vector<double>{1, 3, 5, 3, 3}));
  EXPECT_EQ(average_ranks({3, 1, 2}), (std::vector<double>{3, 1, 2}));
  // 0.5 0.5 (ranks 1, 2 -> 1.5), 7 7 (ranks 3, 4 -> 3.5).
  EXPECT_EQ(average_ranks({7, 0.5, 7, 0.5}), (std::vector<double>{3.5, 1.5, 3.5, 1.5}));
  EXPECT_EQ(average_ranks({4, 4, 4}), (std::vector<double>{2, 2, 2}));
  EXPECT_TRUE(average_ranks({}).empty());
}

TEST(MetricsTest, PearsonAndSpearmanOnHandComputedValues) {
  const std::vector<double> x = {1, 2, 3, 4, 5}, y = {2, 4, 5, 4, 5};
  // Means 3 and 4; deviations (-2 -1 0 1 2) and (-2 0 1 0 1): Sxy = 6, Sxx = 10, Syy = 6.
  EXPECT_NEAR(pearson(x, y), 6 / std::sqrt(60.0), 1e-12);
  // Ranks of y: 2 -> 1, 4 4 -> 2.5, 5 5 -> 4.5. Deviations (-2 -.5 1.5 -.5 1.5):
  // Sxy = 4 + .5 + 0 - .5 + 3 = 7, Sxx = 10, Syy = 4 + .25 + 2.25 + .25 + 2.25 = 9.
  EXPECT_NEAR(spearman(x, y), 7 / std::sqrt(90.0), 1e-12);
  // Monotone but not linear: Spearman 1, Pearson below 1.
  const std::vector<double> cubes = {1, 8, 27, 64, 125};
  EXPECT_NEAR(spearman(x, cubes), 1.0, 1e-12);
  EXPECT_LT(pearson(x, cubes), 0.99);
  EXPECT_NEAR(spearman(x, {5, 4, 3, 2, 1}), -1.0, 1e-12);
  // Symmetric.
  EXPECT_NEAR(spearman(y, x), spearman(x, y), 1e-15);
}

TEST(MetricsTest, DegenerateInputs) {
  EXPECT_EQ(pearson({1, 2, 3}, {7, 7, 7}), 0.0) << "zero variance";
  EXPECT_EQ(spearman({5, 5}, {1, 2}), 0.0);
  EXPECT_THROW(pearson({1, 2}, {1, 2, 3}), std::invalid_argument);
  EXPECT_THROW(pearson({1}, {1}), std::invalid_argument);
  EXPECT_THROW(spearman({}, {}), std::invalid_argument);
}

// Vectors chosen so that every cosine is a simple fraction.
std::vector<float> fake_vectors(const std::vector<std::string>& texts) {
  const std::map<std::string, std::vector<float>> table = {
      {"A", {1, 0}}, {"B", {0, 1}}, {"C", {3, 4}}, {"D", {4, 3}}, {"E", {6, 8}}};
  std::vector<float> out;
  for (const auto& t : texts) {
    const auto& v = table.at(t);
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

TEST(StsTest, EvaluateMatchesAHandComputedExample) {
  ScratchDir dir("sts");
  // Pairs and their cosines: A-B 0, A-C .6, A-D .8, B-D .6, C-E 1.
  write_text(dir.file("pairs.tsv"), "A\tB\t1\nA\tC\t3\nA\tD\t4\nB\tD\t2\nC\tE\t5\n");
  const auto pairs = read_sts_file(dir.file("pairs.tsv"));
  ASSERT_EQ(pairs.size(), 5u);
  std::vector<std::vector<std::string>> calls;
  const StsResult r = evaluate_sts(
      pairs,
      [&](const std::vector<std::string>& texts) {
        calls.push_back(texts);
        return fake_vectors(texts);
      },
      2);
  ASSERT_EQ(calls.size(), 1u) << "one embed call";
  EXPECT_EQ(calls[0], (std::vector<std::string>{"A", "B", "C", "D", "E"}))
      << "each distinct sentence embedded once, in order of appearance";
  EXPECT_EQ(r.pairs, 5);
  // Spearman: cosine ranks (1 2.5 4 2.5 5) (the two .6 tie), gold ranks (1 3 4 2 5); deviations
  // from 3: (-2 -.5 1 -.5 2) and (-2 0 1 -1 2): Sxy = 9.5, Sxx = 9.5, Syy = 10.
  EXPECT_NEAR(r.spearman, 100 * 9.5 / std::sqrt(95.0), 1e-9);
  // Pearson: cosine mean .6, deviations (-.6 0 .2 0 .4); gold deviations (-2 0 1 -1 2):
  // Sxy = 1.2 + .2 + .8 = 2.2, Sxx = .36 + .04 + .16 = .56, Syy = 10.
  EXPECT_NEAR(r.pearson, 100 * 2.2 / std::sqrt(5.6), 1e-6);

  EXPECT_THROW(evaluate_sts(
                   pairs, [](const std::vector<std::string>&) { return std::vector<float>(3); }, 2),
               std::runtime_error)
      << "wrong number of values";
}

TEST(StsTest, ReadsTheThreeFormats) {
  ScratchDir dir("sts");
  // STS-B release: genre, file, year, id, score, sentence 1, sentence 2, optional sources.
  write_text(dir.file("stsb.csv"),
             "main-captions\tMSRvid\t2012test\t0001\t5.000\tA man plays.\tA man is playing.\n"
             "main-news\theadlines\t2013\t0002\t0.5\tRain today.\tStocks fell.\tsrc1\tsrc2\n");
  auto p = read_sts_file(dir.file("stsb.csv"));
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].a, "A man plays.");
  EXPECT_EQ(p[0].b, "A man is playing.");
  EXPECT_EQ(p[0].score, 5.0);
  EXPECT_EQ(p[1].b, "Stocks fell.");
  EXPECT_EQ(p[1].score, 0.5);

  // SICK: a header names the columns (here in SICK.txt's order, with CRLF line ends).
  write_text(dir.file("sick.txt"),
             "pair_ID\tsentence_A\tsentence_B\tentailment_label\trelatedness_score\r\n"
             "1\tKids play.\tChildren play.\tNEUTRAL\t4.5\r\n"
             "2\tA dog runs.\tA cat sleeps.\tNEUTRAL\t1.2\r\n");
  p = read_sts_file(dir.file("sick.txt"));
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].a, "Kids play.");
  EXPECT_EQ(p[0].b, "Children play.");
  EXPECT_EQ(p[0].score, 4.5);
  EXPECT_EQ(p[1].score, 1.2);

  // Plain: sentence1, sentence2, score; blank lines are skipped.
  write_text(dir.file("plain.tsv"), "One.\tTwo.\t3.25\n\nThree.\tFour.\t-1e-1\n");
  p = read_sts_file(dir.file("plain.tsv"));
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[1].a, "Three.");
  EXPECT_EQ(p[1].score, -0.1);
}

void expect_invalid(const std::string& path, const std::vector<std::string>& needles) {
  try {
    read_sts_file(path);
    ADD_FAILURE() << path << " was accepted";
  } catch (const std::invalid_argument& e) {
    for (const auto& n : needles)
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos)
          << "'" << n << "' not in " << e.what();
  }
}

TEST(StsTest, MalformedFilesNameFileAndLine) {
  ScratchDir dir("sts");
  const std::string f = dir.file("bad.tsv");
  write_text(f, "One.\tTwo.\t3\n\nThree.\tFour.\n");
  expect_invalid(f, {f + ":3", "columns"});
  write_text(f, "One.\tTwo.\t3\nThree.\tFour.\tabc\n");
  expect_invalid(f, {f + ":2", "'abc' is not a number"});
  write_text(f, "One.\tTwo.\t3\nThree.\tFour.\t2.5x\n");
  expect_invalid(f, {f + ":2", "not a number"});
  write_text(f, "One.\tTwo.\t3\nThree.\tFour.\tnan\n");
  expect_invalid(f, {f + ":2"});
  write_text(f, "just one column\n");
  expect_invalid(f, {f + ":1", "found 1 columns"});
  write_text(f, "g\tf\ty\tid\t5.0\tA.\tB.\ng\tf\ty\tid\t4.0\tA.\n");
  expect_invalid(f, {f + ":2", "at least 7"});
  write_text(f, "pair_ID\tsentence_A\tsentence_B\trelatedness_score\n1\tA.\tB.\n");
  expect_invalid(f, {f + ":2"});
  write_text(f, "\n\n");
  expect_invalid(f, {"holds no scored pairs"});
  EXPECT_THROW(read_sts_file(dir.file("absent.tsv")), std::runtime_error);
}

TEST(StsTest, ReadsTheSharedData) {
  const std::string data = test::shared_data_dir();
  if (data.empty()) GTEST_SKIP() << "../shared/data not found (set SEMBED_DATA_DIR)";
  const std::string dev = data + "/stsbenchmark/sts-dev.csv";
  if (std::filesystem::exists(dev)) {
    const auto p = read_sts_file(dev);
    EXPECT_EQ(p.size(), 1500u);
    EXPECT_EQ(p[0].a, "A man with a hard hat is dancing.");
    EXPECT_EQ(p[0].score, 5.0);
  }
  const std::string sick = data + "/sick/SICK.txt";
  if (std::filesystem::exists(sick)) {
    const auto p = read_sts_file(sick);
    EXPECT_GT(p.size(), 9000u);
    EXPECT_EQ(p[0].score, 4.5);
    EXPECT_EQ(p[0].b,
              "A group of boys in a yard is playing and a man is standing in the background");
  }
}

TEST(StsTest, EvalCommandPrintsJson) {
  ScratchDir dir("sts-cli");
  InitOptions init;
  init.tokenizer_path = test::tiny_tokenizer_path();
  init.output_dir = dir.file("model");
  init.encoder = EncoderConfig::preset("tiny");
  init_model(init);
  write_text(dir.file("pairs.tsv"),
             "The cat watches a red house.\tA cat looks at a red house.\t4.6\n"
             "A dog follows the river.\tThe committee sells a broken clock.\t0.4\n"
             "My brother reads the morning paper.\tMy brother reads the paper.\t4.0\n"
             "The train builds a boat.\tOur teacher paints the moon at night.\t1.0\n"
             "The river at night.\tThe river at night.\t5.0\n");
  const test::CommandResult r =
      test::run_sembed("eval sts --json --device cpu -m " + test::shell_quote(dir.file("model")) +
                       " -i " + test::shell_quote(dir.file("pairs.tsv")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j.size(), 3u) << r.out;
  EXPECT_EQ(j.at("pairs"), 5);
  // The same numbers as the library computes in-process.
  EmbedderOptions options;
  options.device = "cpu";
  Embedder embedder(dir.file("model"), options);
  const StsResult expected = evaluate_sts(
      read_sts_file(dir.file("pairs.tsv")),
      [&](const std::vector<std::string>& t) { return embedder.embed(t); }, embedder.dim());
  EXPECT_NEAR(j.at("spearman").get<double>(), expected.spearman, 1e-4);
  EXPECT_NEAR(j.at("pearson").get<double>(), expected.pearson, 1e-4);
  EXPECT_LE(std::fabs(j.at("spearman").get<double>()), 100.0);

  const test::CommandResult bad =
      test::run_sembed("eval sts -m " + test::shell_quote(dir.file("model")) + " -i " +
                       test::shell_quote(dir.file("absent.tsv")));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("absent.tsv"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace sembed
