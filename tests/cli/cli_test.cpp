// Black-box tests of the sembed binary: `prepare` and `tokenizer train|encode|decode`, their exit
// codes (0 ok, 1 runtime failure, 2 usage error) and their messages.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/test_support.h"
#include "tokenizer/tokenizer.h"

namespace sembed {
namespace {

using test::CommandResult;
using test::read_lines;
using test::read_text;
using test::run_sembed;
using test::ScratchDir;
using test::shell_quote;
using test::write_text;

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Everything a failed command printed, for assertion messages.
std::string describe(const CommandResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\nstdout:\n" + r.out + "\nstderr:\n" + r.err;
}

// Trains a small tokenizer in-process (much faster than through the binary, which loads
// LibTorch at start-up) for tests that exercise encode/decode only. BPE: it trains fastest.
std::string train_small_tokenizer(const ScratchDir& dir) {
  test::write_lines(dir.file("train.txt"), test::subword_corpus(500));
  TokenizerConfig config;
  config.model_type = "bpe";
  config.vocab_size = 200;
  config.character_coverage = 1.0;
  config.threads = 2;
  Tokenizer::train(dir.file("train.txt"), dir.file("tok.model"), config);
  return dir.file("tok.model");
}

TEST(CliTest, VersionNamesEveryLibrary) {
  const CommandResult r = run_sembed("--version");
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_TRUE(contains(r.out, "sembed ")) << r.out;
  EXPECT_TRUE(contains(r.out, "LibTorch")) << r.out;
  EXPECT_TRUE(contains(r.out, "SentencePiece")) << r.out;
  EXPECT_TRUE(contains(r.out, "ICU")) << r.out;
}

TEST(CliTest, HelpListsTheSubcommands) {
  const CommandResult r = run_sembed("--help");
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_TRUE(contains(r.out, "prepare")) << r.out;
  EXPECT_TRUE(contains(r.out, "tokenizer")) << r.out;
}

TEST(CliTest, PrepareTrainEncodeDecodeRoundTrip) {
  ScratchDir dir("cli-roundtrip");
  // Raw text with what prepare must clean up: repeats, blank lines, odd spaces, fullwidth forms.
  // Kept small: unigram training time grows with the number of distinct words.
  std::string raw;
  const auto sentences = test::synthetic_corpus(300, 5);
  const auto words = test::subword_corpus(300, 5);
  for (size_t i = 0; i < 600; ++i) {
    const std::string& text = i % 2 ? sentences[i / 2] : words[i / 2];
    raw += "  " + text + "\t\u00A0 \n";
    if (i % 50 == 0) raw += "\n   \nＦｕｌｌｗｉｄｔｈ １２３ text.\n";
  }
  write_text(dir.file("raw.txt"), raw);

  const CommandResult prep =
      run_sembed("prepare -i " + shell_quote(dir.file("raw.txt")) + " -o " +
                 shell_quote(dir.file("corpus.txt")) + " --dedupe --threads 2 --json");
  ASSERT_EQ(prep.exit_code, 0) << describe(prep);
  EXPECT_TRUE(contains(prep.err, "prepare")) << "one progress line expected:\n" << prep.err;
  const auto counts = nlohmann::json::parse(prep.out);
  const std::vector<std::string> corpus = read_lines(dir.file("corpus.txt"));
  EXPECT_EQ(counts.at("read"), 600 + 12 * 3);
  EXPECT_EQ(counts.at("written"), corpus.size());
  const std::set<std::string> distinct_sentences(sentences.begin(), sentences.end());
  const std::set<std::string> distinct_words(words.begin(), words.end());
  EXPECT_EQ(counts.at("dropped_duplicate"),
            11 + (600 - distinct_sentences.size() - distinct_words.size()))
      << "the fullwidth line repeats 11 times, the generators repeat a few sentences";
  EXPECT_EQ(counts.at("dropped_short"), 24) << "blank lines";
  EXPECT_EQ(std::count(corpus.begin(), corpus.end(), "Fullwidth 123 text."), 1);
  for (const auto& line : corpus) {
    ASSERT_FALSE(line.empty());
    ASSERT_FALSE(contains(line, "  ") || contains(line, "\t")) << line;
  }

  const CommandResult train = run_sembed(
      "tokenizer train -i " + shell_quote(dir.file("corpus.txt")) + " -o " +
      shell_quote(dir.file("tok.model")) + " --vocab-size 300 --character-coverage 1 --threads 2");
  ASSERT_EQ(train.exit_code, 0) << describe(train);
  EXPECT_TRUE(contains(train.out, "300 pieces")) << train.out;
  EXPECT_TRUE(std::filesystem::exists(dir.file("tok.model")));
  EXPECT_TRUE(std::filesystem::exists(dir.file("tok.model.json")));

  const std::string tok = " -t " + shell_quote(dir.file("tok.model"));
  const CommandResult enc =
      run_sembed("tokenizer encode" + tok + " -i " + shell_quote(dir.file("corpus.txt")));
  ASSERT_EQ(enc.exit_code, 0) << describe(enc);
  std::istringstream ids_in(enc.out);
  std::string ids_line;
  size_t id_lines = 0;
  while (std::getline(ids_in, ids_line)) {
    ++id_lines;
    ASSERT_EQ(ids_line.find_first_not_of("0123456789 "), std::string::npos) << ids_line;
  }
  EXPECT_EQ(id_lines, corpus.size());

  write_text(dir.file("ids.txt"), enc.out);
  const CommandResult dec =
      run_sembed("tokenizer decode" + tok + " -i " + shell_quote(dir.file("ids.txt")));
  ASSERT_EQ(dec.exit_code, 0) << describe(dec);
  EXPECT_EQ(dec.out, read_text(dir.file("corpus.txt"))) << "decode(encode(x)) == x";
}

TEST(CliTest, EncodePrintsPiecesWhenAsked) {
  ScratchDir dir("cli-pieces");
  const std::string model = train_small_tokenizer(dir);
  const Tokenizer tok = Tokenizer::load(model);
  const std::string text = "Bacedi  fogu, hajeki!";
  const CommandResult r =
      run_sembed("tokenizer encode --pieces -t " + shell_quote(model), text + "\n\n");
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  std::string expected;
  for (const auto& p : tok.encode_pieces(text)) expected += (expected.empty() ? "" : " ") + p;
  EXPECT_EQ(r.out, expected + "\n\n") << "an empty line encodes to an empty line";
}

TEST(CliTest, QuietPrintsNothingOnSuccess) {
  ScratchDir dir("cli-quiet");
  write_text(dir.file("in.txt"), "One line.\n");
  const CommandResult r = run_sembed("-q prepare -i " + shell_quote(dir.file("in.txt")) + " -o " +
                                     shell_quote(dir.file("out.txt")));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.err, "") << "-q: only warnings and errors (no progress line)";
  EXPECT_EQ(read_text(dir.file("out.txt")), "One line.\n");
}

// ------------------------------------------------------------------------------------- errors

TEST(CliTest, MissingInputFileExitsOneNamingIt) {
  ScratchDir dir("cli-errors");
  const CommandResult r = run_sembed("prepare -i " + shell_quote(dir.file("absent.txt")) + " -o " +
                                     shell_quote(dir.file("out.txt")));
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_TRUE(contains(r.err, "absent.txt")) << r.err;
  EXPECT_TRUE(contains(r.err, "error")) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("out.txt")));
}

TEST(CliTest, UsageErrorsExitTwo) {
  ScratchDir dir("cli-errors");
  write_text(dir.file("in.txt"), "text\n");
  const std::string in_out =
      " -i " + shell_quote(dir.file("in.txt")) + " -o " + shell_quote(dir.file("out.txt"));
  // Each case costs a process start (LibTorch loads in ~0.6 s), so one of each kind: unknown
  // flag, missing required option, value outside its choices, values inconsistent together.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"prepare" + in_out + " --no-such-flag", "--no-such-flag"},
      {"prepare -i " + shell_quote(dir.file("in.txt")), "--output"},
      {"prepare" + in_out + " --on-invalid maybe", "maybe"},
      {"prepare" + in_out + " --min-chars 10 --max-chars 5", "--max-chars"}};
  for (const auto& [args, mentioned] : cases) {
    const CommandResult r = run_sembed(args);
    EXPECT_EQ(r.exit_code, 2) << "sembed " << args << "\n" << describe(r);
    EXPECT_TRUE(contains(r.err, mentioned)) << "sembed " << args << "\n" << describe(r);
  }
  EXPECT_FALSE(std::filesystem::exists(dir.file("out.txt")));
}

TEST(CliTest, InvalidUtf8WithOnInvalidErrorNamesFileAndLine) {
  ScratchDir dir("cli-errors");
  write_text(dir.file("in.txt"), "fine\nbad \xFF\n");
  const CommandResult r =
      run_sembed("prepare --on-invalid error -i " + shell_quote(dir.file("in.txt")) + " -o " +
                 shell_quote(dir.file("out.txt")));
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_TRUE(contains(r.err, dir.file("in.txt") + ":2")) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("out.txt")));
}

TEST(CliTest, TrainingOnAnEmptyCorpusExitsOne) {
  ScratchDir dir("cli-errors");
  write_text(dir.file("empty.txt"), "\n  \n");
  const CommandResult r =
      run_sembed("tokenizer train -i " + shell_quote(dir.file("empty.txt")) + " -o " +
                 shell_quote(dir.file("tok.model")) + " --vocab-size 100");
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_TRUE(contains(r.err, "empty")) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("tok.model")));
}

TEST(CliTest, MissingTokenizerExitsOneNamingIt) {
  ScratchDir dir("cli-errors");
  const CommandResult r =
      run_sembed("tokenizer encode -t " + shell_quote(dir.file("absent.model")), "text\n");
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_TRUE(contains(r.err, "absent.model")) << r.err;
}

TEST(CliTest, EncodeAndDecodeErrorsNameTheLine) {
  ScratchDir dir("cli-errors");
  const std::string tok = " -t " + shell_quote(train_small_tokenizer(dir));

  write_text(dir.file("ids.txt"), "10 11\n\n12 13x 14\n");
  const CommandResult not_int =
      run_sembed("tokenizer decode" + tok + " -i " + shell_quote(dir.file("ids.txt")));
  EXPECT_EQ(not_int.exit_code, 1) << describe(not_int);
  EXPECT_TRUE(contains(not_int.err, dir.file("ids.txt") + ":3")) << not_int.err;
  EXPECT_TRUE(contains(not_int.err, "'13x' is not a token id")) << not_int.err;

  const CommandResult out_of_range = run_sembed("tokenizer decode" + tok, "10\n99999\n");
  EXPECT_EQ(out_of_range.exit_code, 1) << describe(out_of_range);
  EXPECT_TRUE(contains(out_of_range.err, "<stdin>:2")) << out_of_range.err;
  EXPECT_TRUE(contains(out_of_range.err, "99999")) << out_of_range.err;

  const CommandResult bad_text = run_sembed("tokenizer encode" + tok, "fine\nbad \xFF\n");
  EXPECT_EQ(bad_text.exit_code, 1) << describe(bad_text);
  EXPECT_TRUE(contains(bad_text.err, "<stdin>:2")) << bad_text.err;
}

// ------------------------------------------------------------------------------- real data

// The first two sentence columns of STS-B's train file (TAB-separated, no quoting).
std::vector<std::string> stsb_sentences(const std::string& path) {
  std::vector<std::string> sentences;
  for (const auto& line : read_lines(path)) {
    std::vector<std::string> fields;
    std::istringstream in(line);
    std::string field;
    while (std::getline(in, field, '\t')) fields.push_back(field);
    if (fields.size() >= 7) {
      sentences.push_back(fields[5]);
      sentences.push_back(fields[6]);
    }
  }
  return sentences;
}

TEST(CliTest, RoundTripOnStsBenchmarkSentences) {
  const std::string data = test::shared_data_dir();
  if (data.empty()) GTEST_SKIP() << "../shared/data not found (set SEMBED_DATA_DIR)";
  const std::string sts = data + "/stsbenchmark/sts-train.csv";
  if (!std::filesystem::exists(sts)) GTEST_SKIP() << sts << " not found";
  ScratchDir dir("cli-stsb");
  const auto sentences = stsb_sentences(sts);
  ASSERT_GT(sentences.size(), 10000u);
  test::write_lines(dir.file("raw.txt"), sentences);

  const CommandResult prep =
      run_sembed("-q prepare --dedupe -i " + shell_quote(dir.file("raw.txt")) + " -o " +
                 shell_quote(dir.file("corpus.txt")));
  ASSERT_EQ(prep.exit_code, 0) << describe(prep);
  const CommandResult train =
      run_sembed("-q tokenizer train -i " + shell_quote(dir.file("corpus.txt")) + " -o " +
                 shell_quote(dir.file("tok.model")) + " --vocab-size 2000 --character-coverage 1");
  ASSERT_EQ(train.exit_code, 0) << describe(train);

  std::vector<std::string> head = read_lines(dir.file("corpus.txt"));
  ASSERT_GE(head.size(), 200u);
  head.resize(200);
  test::write_lines(dir.file("head.txt"), head);
  const std::string tok = " -t " + shell_quote(dir.file("tok.model"));
  const CommandResult enc =
      run_sembed("tokenizer encode" + tok + " -i " + shell_quote(dir.file("head.txt")));
  ASSERT_EQ(enc.exit_code, 0) << describe(enc);
  const CommandResult dec = run_sembed("tokenizer decode" + tok, enc.out);
  ASSERT_EQ(dec.exit_code, 0) << describe(dec);
  EXPECT_EQ(dec.out, read_text(dir.file("head.txt")));
}

}  // namespace
}  // namespace sembed
