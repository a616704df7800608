// Black-box tests of `sembed init` and `sembed embed` (and `sembed eval sts` on a damaged model):
// embedding file sets keep one row per input line, name the line that fails, never leave a half
// directory behind, and a broken model directory is an error message with exit code 1, never a
// crash.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/atomic_file.h"
#include "model/embedding_set.h"
#include "model/model_io.h"
#include "model/npy.h"
#include "tests/model/model_fixtures.h"

namespace sembed {
namespace {

namespace fs = std::filesystem;
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

std::string describe(const CommandResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\nstdout:\n" + r.out + "\nstderr:\n" + r.err;
}

// Entries of `dir` whose name starts with `prefix` (the output itself or a temporary sibling).
std::vector<std::string> entries_starting_with(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> found;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind(prefix, 0) == 0) found.push_back(e.path().string());
  return found;
}

TEST(ModelCommandsTest, InitThenEmbedKeepsOneRowPerLine) {
  ScratchDir dir("cmd-embed");
  const CommandResult init =
      run_sembed("init --preset tiny --seed 7 -t " + shell_quote(test::tiny_tokenizer_path()) +
                 " -o " + shell_quote(dir.file("model")));
  ASSERT_EQ(init.exit_code, 0) << describe(init);
  EXPECT_TRUE(contains(init.out, "2 layers x 128 hidden")) << init.out;
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.model"})
    EXPECT_TRUE(fs::exists(dir.file("model") + "/" + f)) << f;

  const std::string long_line = test::sample_texts().back();
  const std::vector<std::string> lines = {"First line.",
                                          "",
                                          long_line,
                                          "Quotes \"inside\", a\ttab and \\ backslash.",
                                          "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ 123",
                                          "Last."};
  test::write_lines(dir.file("in.txt"), lines);
  const std::string out = dir.file("out");
  const CommandResult embed =
      run_sembed("embed --threads 1 -m " + shell_quote(dir.file("model")) + " -i " +
                 shell_quote(dir.file("in.txt")) + " -o " + shell_quote(out));
  ASSERT_EQ(embed.exit_code, 0) << describe(embed);
  EXPECT_TRUE(contains(embed.out, "embedded 6 lines")) << embed.out;
  EXPECT_TRUE(contains(embed.out, "1 empty, 1 truncated")) << embed.out;

  const NpyMatrix m = read_npy_matrix(out + "/embeddings.npy");
  EXPECT_EQ(m.rows, static_cast<int64_t>(lines.size()));
  EXPECT_EQ(m.cols, 128);
  const std::vector<std::string> jsonl = read_lines(out + "/texts.jsonl");
  ASSERT_EQ(jsonl.size(), lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto row = nlohmann::json::parse(jsonl[i]);
    EXPECT_EQ(row.at("id"), i);
    EXPECT_EQ(row.at("text"), lines[i]) << "row " << i;
  }
  const auto meta = nlohmann::json::parse(read_text(out + "/meta.json"));
  EXPECT_EQ(meta.at("dim"), 128);
  EXPECT_EQ(meta.at("dtype"), "float32");
  EXPECT_EQ(meta.at("normalized"), true);
  EXPECT_EQ(meta.at("pooling"), "mean");
  EXPECT_EQ(meta.at("count"), lines.size());
  EXPECT_EQ(meta.at("model_hash"), content_hash(read_text(dir.file("model/model.safetensors"))));
  EXPECT_EQ(meta.at("empty_lines"), 1);
  EXPECT_EQ(meta.at("truncated_lines"), 1);
  EXPECT_EQ(meta.at("max_len"), 64);
  EXPECT_EQ(meta.at("source"), dir.file("in.txt"));
  EXPECT_FALSE(meta.contains("scale"));

  // Row i is line i's vector, as the library computes it.
  EmbedderOptions options;
  options.device = "cpu";
  options.threads = 1;
  Embedder embedder(dir.file("model"), options);
  EXPECT_LE(test::max_abs_diff(m.data, embedder.embed(lines)), 1e-5);

  // `tokenizer encode -t MODEL_DIR` gives the pieces the model embeds (the directory's
  // tokenizer.model has no .json beside it: its settings are in config.json).
  const CommandResult ids = run_sembed("tokenizer encode -t " + shell_quote(dir.file("model")) +
                                       " -i " + shell_quote(dir.file("in.txt")));
  ASSERT_EQ(ids.exit_code, 0) << describe(ids);
  std::string expected_ids;
  for (const auto& line : lines) {
    std::string row;
    for (int id : embedder.tokenizer().encode(line))
      row += (row.empty() ? "" : " ") + std::to_string(id);
    expected_ids += row + "\n";
  }
  EXPECT_EQ(ids.out, expected_ids);

  // int8: the same rows, quantised with scale 1/127.
  const CommandResult q =
      run_sembed("embed --dtype int8 --threads 1 -m " + shell_quote(dir.file("model")) + " -i " +
                 shell_quote(dir.file("in.txt")) + " -o " + shell_quote(dir.file("out8")));
  ASSERT_EQ(q.exit_code, 0) << describe(q);
  EXPECT_EQ(parse_npy_header(read_text(dir.file("out8/embeddings.npy"))).descr, "|i1");
  const EmbeddingSet set8 = load_embedding_set(dir.file("out8"));
  EXPECT_EQ(set8.meta.at("dtype"), "int8");
  EXPECT_NEAR(set8.meta.at("scale").get<double>(), 1.0 / 127, 1e-12);
  EXPECT_EQ(set8.rows, static_cast<int64_t>(lines.size()));
  EXPECT_EQ(set8.texts, lines);
  EXPECT_LE(test::max_abs_diff(set8.vectors, m.data), 0.5f / 127 + 1e-6);
}

TEST(ModelCommandsTest, FailingEmbedNamesTheLineAndLeavesNoOutput) {
  ScratchDir dir("cmd-embed-fail");
  const std::string model = test::tiny_model_dir();
  // Line 3 is invalid UTF-8; two lines per chunk put it in the second chunk.
  write_text(dir.file("in.txt"), "good one\nalso good\nbad \xFF byte\nnever reached\n");
  const std::string args = "embed --chunk-lines 2 -m " + shell_quote(model) + " -i " +
                           shell_quote(dir.file("in.txt")) + " -o ";
  const CommandResult r = run_sembed(args + shell_quote(dir.file("out")));
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_TRUE(contains(r.err, dir.file("in.txt") + ":3")) << r.err;
  EXPECT_TRUE(entries_starting_with(dir.path(), "out").empty())
      << "no output directory, not even a temporary one";

  // An existing output directory survives a failed run untouched.
  fs::create_directories(dir.file("previous"));
  write_text(dir.file("previous/meta.json"), "{}");
  const CommandResult again = run_sembed(args + shell_quote(dir.file("previous")));
  EXPECT_EQ(again.exit_code, 1) << describe(again);
  EXPECT_EQ(read_text(dir.file("previous/meta.json")), "{}");
  EXPECT_EQ(entries_starting_with(dir.path(), "previous").size(), 1u);

  // A missing input fails before any output exists.
  const CommandResult missing =
      run_sembed("embed -m " + shell_quote(model) + " -i " + shell_quote(dir.file("absent.txt")) +
                 " -o " + shell_quote(dir.file("out")));
  EXPECT_EQ(missing.exit_code, 1) << describe(missing);
  EXPECT_TRUE(contains(missing.err, "absent.txt")) << missing.err;
  EXPECT_TRUE(entries_starting_with(dir.path(), "out").empty());
}

// One damaged copy of the fixture model per kind of damage.
struct Damage {
  std::string name;
  std::string message;  // what the error must say
};

std::vector<Damage> damage_models(const ScratchDir& dir) {
  auto copy = [&](const std::string& name) {
    fs::copy(test::tiny_model_dir(), dir.file(name), fs::copy_options::recursive);
    return dir.file(name);
  };
  std::vector<Damage> out;
  const std::string weights = read_text(test::tiny_model_dir() + "/model.safetensors");

  write_text(copy("truncated") + "/model.safetensors", weights.substr(0, weights.size() / 3));
  out.push_back({"truncated", "truncated"});

  std::string flipped = weights;
  for (size_t i = 8; i < 24; ++i) flipped[i] = static_cast<char>(~flipped[i]);
  write_text(copy("flipped") + "/model.safetensors", flipped);
  out.push_back({"flipped", "hash"});

  // A model of another size: its weights, with a consistent weights record, in this directory.
  const std::string other = dir.file("other");
  EncoderConfig small = EncoderConfig::preset("tiny");
  small.hidden = 64;
  test::make_tiny_model(other, 1, "mean", small);
  const std::string wrong = copy("wrong-shape");
  fs::copy_file(other + "/model.safetensors", wrong + "/model.safetensors",
                fs::copy_options::overwrite_existing);
  auto config = nlohmann::json::parse(read_text(wrong + "/config.json"));
  config["weights"] = nlohmann::json::parse(read_text(other + "/config.json"))["weights"];
  write_text(wrong + "/config.json", config.dump());
  out.push_back({"wrong-shape", "expected [300, 128]"});

  config = nlohmann::json::parse(read_text(test::tiny_model_dir() + "/config.json"));
  config["format_version"] = 99;
  write_text(copy("version99") + "/config.json", config.dump());
  out.push_back({"version99", "format_version 99"});

  fs::remove(copy("no-tokenizer") + "/tokenizer.model");
  out.push_back({"no-tokenizer", "tokenizer.model' is missing"});
  return out;
}

TEST(ModelCommandsTest, DamagedModelDirectoryExitsOneWithAMessage) {
  ScratchDir dir("cmd-damaged");
  write_text(dir.file("in.txt"), "one line\n");
  write_text(dir.file("sts.tsv"), "a cat\ta dog\t3.5\nrain\tsun\t1\n");
  for (const Damage& d : damage_models(dir)) {
    const CommandResult embed =
        run_sembed("embed -m " + shell_quote(dir.file(d.name)) + " -i " +
                   shell_quote(dir.file("in.txt")) + " -o " + shell_quote(dir.file("out")));
    EXPECT_EQ(embed.exit_code, 1) << d.name << "\n" << describe(embed);
    EXPECT_TRUE(contains(embed.err, "sembed embed: error:")) << d.name << "\n" << embed.err;
    EXPECT_TRUE(contains(embed.err, d.message)) << d.name << "\n" << embed.err;
    EXPECT_TRUE(contains(embed.err, dir.file(d.name))) << "names the directory\n" << embed.err;
    EXPECT_FALSE(fs::exists(dir.file("out")));
  }
  // eval goes through the same loader: two kinds are enough to show it reports and exits 1.
  for (const std::string name : {"truncated", "no-tokenizer"}) {
    const CommandResult eval = run_sembed("eval sts -m " + shell_quote(dir.file(name)) + " -i " +
                                          shell_quote(dir.file("sts.tsv")) + " --json");
    EXPECT_EQ(eval.exit_code, 1) << name << "\n" << describe(eval);
    EXPECT_TRUE(contains(eval.err, "sembed eval: error:")) << name << "\n" << eval.err;
    EXPECT_EQ(eval.out, "") << "no JSON on failure";
  }
}

}  // namespace
}  // namespace sembed

namespace sembed {
namespace {

TEST(ModelCommandsTest, LexicalAddsThePathAndEmbedWritesTheLongerVectors) {
  ScratchDir dir("cmd-lexical");
  const std::string model = test::tiny_model_dir();
  const CommandResult no_idf =
      run_sembed("lexical -m " + shell_quote(model) + " -o " + shell_quote(dir.file("lex")));
  EXPECT_EQ(no_idf.exit_code, 1) << describe(no_idf);
  EXPECT_TRUE(contains(no_idf.err, "no piece IDF; give --idf-corpus")) << no_idf.err;
  EXPECT_FALSE(fs::exists(dir.file("lex")));

  const CommandResult bad_weight =
      run_sembed("lexical -w 1 -m " + shell_quote(model) + " -o " + shell_quote(dir.file("lex")));
  EXPECT_NE(bad_weight.exit_code, 0) << describe(bad_weight);
  EXPECT_FALSE(fs::exists(dir.file("lex")));

  test::write_lines(dir.file("corpus.txt"), test::synthetic_corpus(100, 4));
  const CommandResult ok =
      run_sembed("lexical -w 0.4 -m " + shell_quote(model) + " -o " + shell_quote(dir.file("lex")) +
                 " --idf-corpus " + shell_quote(dir.file("corpus.txt")));
  ASSERT_EQ(ok.exit_code, 0) << describe(ok);
  EXPECT_TRUE(contains(ok.out, "256-value vectors")) << ok.out;

  test::write_lines(dir.file("in.txt"), {"The cat sat on the mat.", "A dog ran home.", ""});
  const CommandResult embed =
      run_sembed("embed --threads 1 -m " + shell_quote(dir.file("lex")) + " -i " +
                 shell_quote(dir.file("in.txt")) + " -o " + shell_quote(dir.file("out")));
  ASSERT_EQ(embed.exit_code, 0) << describe(embed);
  const NpyMatrix m = read_npy_matrix(dir.file("out/embeddings.npy"));
  ASSERT_EQ(m.cols, 256);
  ASSERT_EQ(m.rows, 3);
  for (int64_t r = 0; r < 2; ++r) {
    double lexical = 0, model_part = 0;
    for (int64_t c = 0; c < 128; ++c) lexical += m.data[r * 256 + c] * m.data[r * 256 + c];
    for (int64_t c = 128; c < 256; ++c) model_part += m.data[r * 256 + c] * m.data[r * 256 + c];
    EXPECT_NEAR(lexical, 0.4, 1e-4) << "row " << r;
    EXPECT_NEAR(model_part, 0.6, 1e-4) << "row " << r;
  }
}

}  // namespace
}  // namespace sembed
