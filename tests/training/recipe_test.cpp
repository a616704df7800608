// Recipes (training/recipe.h) through `sembed train --recipe`: a whole pipeline from raw text to a
// model directory, cached steps, the dev guard, optional data, and clear errors.
#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "tests/test_support.h"
#include "tests/training/training_fixture.h"
#include "training/recipe.h"

namespace sembed {
namespace {

using nlohmann::json;
using test::run_sembed;
using test::ScratchDir;
using test::shell_quote;

// Raw text, paraphrase pairs and an STS file in `dir`; a recipe over them with a tiny model.
json write_tiny_recipe(const ScratchDir& dir) {
  auto corpus = test::subword_corpus(1500, 3);
  const auto words = test::synthetic_corpus(300, 5);
  corpus.insert(corpus.end(), words.begin(), words.end());
  test::write_lines(dir.file("raw.txt"), corpus);
  const auto pairs = test::paraphrase_pairs(200, 7);
  test::write_lines(dir.file("pairs.tsv"), pairs);
  // A dev set: each pair scored 5, a pair of unrelated anchors 0.
  std::vector<std::string> sts;
  for (size_t i = 0; i + 1 < pairs.size() && sts.size() < 80; i += 2) {
    const auto tab_a = pairs[i].find('\t');
    const auto tab_b = pairs[i + 1].find('\t');
    sts.push_back(pairs[i] + "\t5.0");
    sts.push_back(pairs[i].substr(0, tab_a) + "\t" + pairs[i + 1].substr(0, tab_b) + "\t0.0");
  }
  test::write_lines(dir.file("dev.tsv"), sts);
  return {
      {"variables",
       {{"data", json::array({"${SEMBED_TEST_NOWHERE}/x", dir.path()})},
        {"missing", json::array({dir.file("no-such-dir")})}}},
      {"corpus",
       {{"sources",
         json::array({{{"name", "raw"}, {"path", "${data}/raw.txt"}},
                      {{"name", "absent"}, {"path", "${missing}/raw.txt"}, {"optional", true}}})},
        {"prepare", {{"split_sentences", false}, {"min_chars", 5}}}}},
      {"tokenizer", {{"vocab_size", 300}, {"lowercase", true}}},
      {"model",
       {{"preset", "tiny"}, {"max_len", 32}, {"pooling", "idf_mean"}, {"idf_corpus", {"corpus"}}}},
      {"datasets", {{"pairs", {{"path", "${data}/pairs.tsv"}}}}},
      {"eval", {{"dev", "${data}/dev.tsv"}, {"absent", "${missing}/dev.tsv"}}},
      {"stages",
       json::array({{{"name", "pairs"},
                     {"objective", "sup"},
                     {"data", {"pairs"}},
                     {"steps", 6},
                     {"batch_size", 16},
                     {"lr", 1e-3},
                     {"eval_every", 3},
                     {"save_every", 0},
                     // read for every stage, used by cosent ones
                     {"cosent_within_files", true},
                     {"cosent_ibn_weight", 0.5},
                     {"token_dropout", 0.1},
                     {"ema_decay", 0.5},
                     {"keep_if_worse", true}},
                    {{"name", "unsup"},
                     {"objective", "unsup"},
                     {"data", {"corpus"}},
                     {"steps", 4},
                     {"batch_size", 16},
                     {"save_every", 0},
                     {"aux_objective", "sup"},
                     {"aux_data", {"pairs"}},
                     {"aux_weight", 0.5},
                     {"aux_batch_size", 8}},
                    {{"lexical_weight", 0.3}, {"table", "embeddings"}, {"keep_if_worse", true}}})}};
}

TEST(Recipe, RunsTheWholePipelineAndCachesEveryStep) {
  ScratchDir dir("recipe");
  const json recipe = write_tiny_recipe(dir);
  test::write_text(dir.file("tiny.json"), recipe.dump(2));
  const std::string out = dir.file("model");
  const auto first = run_sembed("train --recipe " + shell_quote(dir.file("tiny.json")) +
                                " --output " + shell_quote(out) + " --threads 2");
  ASSERT_EQ(first.exit_code, 0) << first.err << recipe.dump(2);
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.model"})
    EXPECT_TRUE(std::filesystem::exists(out + "/" + f)) << f;
  const json report = json::parse(test::read_text(out + "/recipe_report.json"));
  // The missing optional source and evaluation are skipped, not fatal.
  EXPECT_NE(first.err.find("optional source absent skipped"), std::string::npos) << first.err;
  EXPECT_NE(first.err.find("evaluation 'absent' skipped"), std::string::npos) << first.err;
  std::vector<std::string> steps;
  for (const auto& s : report["steps"]) steps.push_back(s["step"].get<std::string>());
  EXPECT_EQ(steps, (std::vector<std::string>{"corpus", "prepare", "tokenizer", "init", "stage",
                                             "stage", "stage"}));
  const json& init = report["steps"][3];
  const json& unsup = report["steps"][5];
  ASSERT_TRUE(report["final"].contains("dev"));
  const double final_dev = report["final"]["dev"]["spearman"].get<double>();
  // The dev guard: the pipeline never ends below its fresh model.
  EXPECT_GE(final_dev + 1e-6, init["dev"].get<double>());
  if (!unsup["kept"].get<bool>()) {
    EXPECT_NE(first.err.find("keeping the previous model"), std::string::npos);
  }
  // Provenance: the recipe and its data sources are recorded in the model directory.
  const json config = json::parse(test::read_text(out + "/config.json"));
  EXPECT_EQ(config["provenance"]["recipe"]["recipe"], recipe);
  EXPECT_EQ(config["pooling"]["mode"], "idf_mean");
  // Stage settings reach the trainer (each stage records its effective TrainConfig).
  const json stage = json::parse(test::read_text(out + "/work/stages/01-pairs/train_config.json"));
  EXPECT_EQ(stage["batch_size"], 16);
  EXPECT_EQ(stage["cosent_within_files"], true);
  EXPECT_DOUBLE_EQ(stage["cosent_ibn_weight"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(stage["token_dropout"].get<double>(), 0.1);
  EXPECT_DOUBLE_EQ(stage["ema_decay"].get<double>(), 0.5);
  const json unsup_config =
      json::parse(test::read_text(out + "/work/stages/02-unsup/train_config.json"));
  EXPECT_EQ(unsup_config["aux_objective"], "sup");
  ASSERT_EQ(unsup_config["aux_data"].size(), 1u);
  EXPECT_EQ(unsup_config["aux_data"][0], dir.file("pairs.tsv"));
  EXPECT_DOUBLE_EQ(unsup_config["aux_weight"].get<double>(), 0.5);
  EXPECT_EQ(unsup_config["aux_batch_size"], 8);
  // The last stage added the lexical path (kept whatever its dev: keep_if_worse).
  const json& lexical = report["steps"][6];
  EXPECT_EQ(lexical["name"], "03-lexical");
  EXPECT_EQ(lexical["objective"], "lexical");
  EXPECT_DOUBLE_EQ(config["pooling"]["lexical_weight"].get<double>(), 0.3);
  EXPECT_EQ(config["provenance"]["lexical_path"]["table"], "token embeddings");

  // A second run skips every finished step and ends with the same model.
  const auto second = run_sembed("train --recipe " + shell_quote(dir.file("tiny.json")) +
                                 " --output " + shell_quote(out) + " --threads 2");
  ASSERT_EQ(second.exit_code, 0) << second.err;
  const json again = json::parse(test::read_text(out + "/recipe_report.json"));
  for (const auto& s : again["steps"]) EXPECT_TRUE(s.value("cached", false)) << s.dump();
  EXPECT_DOUBLE_EQ(again["final"]["dev"]["spearman"].get<double>(), final_dev);
}

TEST(Recipe, BadRecipesAreClearErrors) {
  ScratchDir dir("recipe-bad");
  json recipe = write_tiny_recipe(dir);
  auto run = [&](const json& r) {
    test::write_text(dir.file("bad.json"), r.dump());
    return run_sembed("train --recipe " + shell_quote(dir.file("bad.json")) + " --output " +
                      shell_quote(dir.file("out")));
  };
  json typo = recipe;
  typo["stages"][0]["learning_rate"] = 0.1;
  auto r = run(typo);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("unknown key 'learning_rate'"), std::string::npos) << r.err;

  json lexical = recipe;
  lexical["stages"][2]["lexical_weight"] = 1.5;
  r = run(lexical);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("lexical_weight must be in [0, 1)"), std::string::npos) << r.err;
  lexical["stages"][2]["lexical_weight"] = 0.3;
  lexical["stages"][2]["objective"] = "unsup";
  std::filesystem::remove_all(dir.file("out"));
  r = run(lexical);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("unknown key 'objective'"), std::string::npos) << r.err;

  json missing = recipe;
  missing["corpus"]["sources"][0]["path"] = "${missing}/raw.txt";  // not optional
  std::filesystem::remove_all(dir.file("out"));
  r = run(missing);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("resolves to none of"), std::string::npos) << r.err;

  test::write_text(dir.file("bad.json"), "{\"stages\": [");
  r = run_sembed("train --recipe " + shell_quote(dir.file("bad.json")) + " --output " +
                 shell_quote(dir.file("out2")));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not valid JSON"), std::string::npos) << r.err;
}

TEST(Recipe, BaseRecipesArePatched) {
  ScratchDir dir("recipe-base");
  std::filesystem::create_directories(dir.file("sub"));
  const json base = {
      {"description", "base"},
      {"model", {{"preset", "tiny"}, {"layers", 4}, {"pooling", "mean"}}},
      {"datasets", {{"a", {{"path", "a.tsv"}}}}},
      {"stages", json::array({{{"name", "one"}, {"objective", "sup"}, {"epochs", 4}},
                              {{"name", "two"}, {"objective", "cosent"}, {"lr", 1e-4}},
                              {{"name", "three"}, {"lexical_weight", 0.3}}})}};
  test::write_text(dir.file("base.json"), base.dump());
  // A child one folder down (its base path is relative to its own folder), and a grandchild.
  test::write_text(dir.file("sub/child.json"),
                   json({{"base", "../base.json"},
                         {"description", "child"},
                         {"model", {{"layers", 6}, {"pooling", nullptr}}},
                         {"stages", {{"two", {{"epochs", 8}}}, {"three", nullptr}}}})
                       .dump());
  test::write_text(
      dir.file("grandchild.json"),
      json({{"base", "sub/child.json"}, {"stages", {{"one", {{"epochs", 1}}}}}}).dump());

  const json child = load_recipe_file(dir.file("sub/child.json"));
  EXPECT_FALSE(child.contains("base"));
  EXPECT_EQ(child["description"], "child");
  EXPECT_EQ(child["model"], json({{"preset", "tiny"}, {"layers", 6}}));
  EXPECT_EQ(child["datasets"], base["datasets"]);
  ASSERT_EQ(child["stages"].size(), 2u);
  EXPECT_EQ(child["stages"][0], base["stages"][0]);
  EXPECT_EQ(child["stages"][1],
            json({{"name", "two"}, {"objective", "cosent"}, {"lr", 1e-4}, {"epochs", 8}}));
  ASSERT_EQ(child["bases"].size(), 2u);

  const json grandchild = load_recipe_file(dir.file("grandchild.json"));
  EXPECT_EQ(grandchild["stages"][0]["epochs"], 1);
  EXPECT_EQ(grandchild["stages"][1]["epochs"], 8);
  EXPECT_EQ(grandchild["model"]["layers"], 6);
  EXPECT_EQ(grandchild["bases"].size(), 3u);
  // A stage list replaces the base's.
  test::write_text(
      dir.file("list.json"),
      json({{"base", "base.json"}, {"stages", json::array({{{"name", "x"}}})}}).dump());
  EXPECT_EQ(load_recipe_file(dir.file("list.json"))["stages"], json::array({{{"name", "x"}}}));
  // A recipe without a base is read as it is.
  EXPECT_EQ(load_recipe_file(dir.file("base.json")), base);

  auto error_of = [&](const json& r) {
    test::write_text(dir.file("bad.json"), r.dump());
    try {
      load_recipe_file(dir.file("bad.json"));
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error_of({{"base", "base.json"}, {"stages", {{"four", {{"lr", 1}}}}}})
                .find("stages.four names no stage of its base"),
            std::string::npos);
  EXPECT_NE(error_of({{"base", "nowhere.json"}}).find("does not exist"), std::string::npos);
  EXPECT_NE(error_of({{"base", "bad.json"}}).find("base cycle"), std::string::npos);
  EXPECT_NE(error_of({{"base", 3}}).find("must be a path string"), std::string::npos);
  EXPECT_NE(error_of({{"base", "base.json"}, {"stages", {{"one", 2}}}}).find("object or null"),
            std::string::npos);

  // ${repo} is the folder above the root base's, wherever the recipe that names it lives.
  std::filesystem::create_directories(dir.file("checkout/recipes"));
  json rooted = base;
  rooted["corpus"] = {
      {"sources", json::array({{{"name", "raw"}, {"path", "${repo}/text/raw.txt"}}})}};
  test::write_text(dir.file("checkout/recipes/base.json"), rooted.dump());
  test::write_text(dir.file("sub/mine.json"),
                   json({{"base", "../checkout/recipes/base.json"}}).dump());
  const auto r = run_sembed("train --recipe " + shell_quote(dir.file("sub/mine.json")) +
                            " --output " + shell_quote(dir.file("out")));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(dir.file("checkout/text/raw.txt") + "' does not exist"), std::string::npos)
      << r.err;

  // --print-recipe shows the resolved recipe and trains nothing (no --output needed).
  auto printed =
      run_sembed("train --recipe " + shell_quote(dir.file("sub/child.json")) + " --print-recipe");
  ASSERT_EQ(printed.exit_code, 0) << printed.err;
  EXPECT_EQ(json::parse(printed.out), child);
  printed = run_sembed("train --recipe " + shell_quote(dir.file("bad.json")) + " --print-recipe");
  EXPECT_EQ(printed.exit_code, 1);
  EXPECT_NE(printed.err.find("object or null"), std::string::npos) << printed.err;
  EXPECT_EQ(run_sembed("train --print-recipe").exit_code, 2);
  printed = run_sembed("train --recipe " + shell_quote(dir.file("sub/child.json")));
  EXPECT_EQ(printed.exit_code, 2);
  EXPECT_NE(printed.err.find("--output is required"), std::string::npos) << printed.err;
}

TEST(Recipe, VariablesExpandAndUnknownOnesAreErrors) {
  const json vars = {{"data", "/d"}};
  EXPECT_EQ(expand_recipe_string("${data}/sts.csv", vars), "/d/sts.csv");
  EXPECT_EQ(expand_recipe_string("plain", vars), "plain");
  EXPECT_THROW(expand_recipe_string("${SEMBED_SURELY_UNSET_VARIABLE}", vars),
               std::invalid_argument);
  EXPECT_THROW(expand_recipe_string("${data", vars), std::invalid_argument);
}

}  // namespace
}  // namespace sembed
