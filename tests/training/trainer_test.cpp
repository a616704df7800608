// The trainer end to end on a tiny model: learning, resumption, interruption, bad input.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "model/embedder.h"
#include "model/model_dir.h"
#include "model/model_init.h"
#include "model/model_io.h"
#include "tests/model/model_fixtures.h"
#include "tests/test_support.h"
#include "tests/training/training_fixture.h"
#include "training/trainer.h"

namespace sembed {
namespace {

namespace fs = std::filesystem;
using test::ScratchDir;

// step -> loss from train_log.jsonl
std::map<int64_t, double> loss_curve(const std::string& dir) {
  std::map<int64_t, double> curve;
  for (const auto& line : test::read_lines(dir + "/train_log.jsonl")) {
    auto j = nlohmann::json::parse(line);
    if (j.contains("loss")) curve[j["step"].get<int64_t>()] = j["loss"].get<double>();
  }
  return curve;
}

TrainConfig tiny_config(const std::string& data, const std::string& out) {
  TrainConfig c;
  c.objective = "sup";
  c.data = {data};
  c.output = out;
  c.tokenizer = test::tiny_tokenizer_path();
  c.encoder = EncoderConfig::preset("tiny");
  c.encoder.max_len = 32;
  c.batch_size = 16;
  c.max_len = 32;
  c.lr = 1e-3;
  c.steps = 50;
  c.log_every = 1;
  c.save_every = 0;
  c.threads = 1;
  c.device = "cpu";
  c.progress = false;
  return c;
}

TEST(Trainer, LossFallsOnParaphrasePairs) {
  ScratchDir dir("trainer");
  test::write_lines(dir.file("pairs.txt"), test::paraphrase_pairs(400));
  TrainConfig c = tiny_config(dir.file("pairs.txt"), dir.file("out"));
  const TrainResult r = train_model(c);
  EXPECT_EQ(r.steps, 50);
  auto curve = loss_curve(c.output);
  ASSERT_EQ(curve.size(), 50u);
  double first = 0, last = 0;
  for (int s = 1; s <= 5; ++s) first += curve[s] / 5;
  for (int s = 46; s <= 50; ++s) last += curve[s] / 5;
  EXPECT_LT(last, 0.6 * first) << "first " << first << " last " << last;
  // The output directory is a loadable model that embeds.
  Embedder e(c.output, {});
  auto v = e.embed({"An elderly farmer is fixing a boat made of wood each morning."});
  EXPECT_EQ(static_cast<int>(v.size()), e.dim());
  EXPECT_TRUE(fs::exists(c.output + "/checkpoints"));
}

TEST(Trainer, EveryObjectiveRunsAndMlmCanStartUnsup) {
  ScratchDir dir("trainer");
  auto pairs = test::paraphrase_pairs(200);
  std::vector<std::string> lines, scored;
  for (size_t i = 0; i < pairs.size(); ++i) {
    const auto tab = pairs[i].find('\t');
    lines.push_back(pairs[i].substr(0, tab));
    scored.push_back(pairs[i] + "\t" + std::to_string(i % 6));
  }
  test::write_lines(dir.file("lines.txt"), lines);
  test::write_lines(dir.file("scored.txt"), scored);

  TrainConfig mlm = tiny_config(dir.file("lines.txt"), dir.file("mlm"));
  mlm.objective = "mlm";
  mlm.steps = 8;
  EXPECT_EQ(train_model(mlm).steps, 8);

  TrainConfig unsup = tiny_config(dir.file("lines.txt"), dir.file("unsup"));
  unsup.objective = "unsup";
  unsup.tokenizer.clear();
  unsup.init = mlm.output;
  unsup.steps = 8;
  const TrainResult u = train_model(unsup);
  EXPECT_EQ(u.steps, 8);
  EXPECT_TRUE(std::isfinite(u.final_loss));

  TrainConfig cosent = tiny_config(dir.file("scored.txt"), dir.file("cosent"));
  cosent.objective = "cosent";
  cosent.steps = 8;
  EXPECT_TRUE(std::isfinite(train_model(cosent).final_loss));

  // --cosent-within-files: two files, each with one score throughout. Ranked within each file
  // there is nothing to order (loss log 1 = 0 at every step); ranked across files there is.
  std::vector<std::string> low, high;
  for (size_t i = 0; i < pairs.size(); ++i) {
    if (i % 2)
      high.push_back(pairs[i] + "\t5");
    else
      low.push_back(pairs[i] + "\t1");
  }
  test::write_lines(dir.file("low.txt"), low);
  test::write_lines(dir.file("high.txt"), high);
  TrainConfig mixed = tiny_config(dir.file("low.txt"), dir.file("mixed"));
  mixed.data.push_back(dir.file("high.txt"));
  mixed.objective = "cosent";
  mixed.steps = 4;
  EXPECT_GT(train_model(mixed).final_loss, 0.1);
  TrainConfig within = mixed;
  within.output = dir.file("within");
  within.cosent_within_files = true;
  EXPECT_EQ(train_model(within).final_loss, 0.0);
  for (const auto& [step, loss] : loss_curve(within.output))
    EXPECT_EQ(loss, 0.0) << "step " << step;
  // --cosent-ibn-weight adds the in-batch term: the pairs scored 5 become positives against the
  // batch's other sentences, so the loss is no longer 0.
  TrainConfig ibn = within;
  ibn.output = dir.file("ibn");
  ibn.cosent_ibn_weight = 1.0;
  EXPECT_GT(train_model(ibn).final_loss, 0.1);
  ibn.cosent_ibn_weight = -1.0;
  EXPECT_THROW(ibn.validate(), std::invalid_argument);

  // --token-dropout: a cosent run with token cut-off trains; the probability must be in [0, 1).
  TrainConfig cutoff = tiny_config(dir.file("scored.txt"), dir.file("cutoff"));
  cutoff.objective = "cosent";
  cutoff.steps = 4;
  cutoff.token_dropout = 0.2;
  EXPECT_TRUE(std::isfinite(train_model(cutoff).final_loss));
  cutoff.token_dropout = 1.0;
  EXPECT_THROW(cutoff.validate(), std::invalid_argument);
  cutoff.token_dropout = -0.1;
  EXPECT_THROW(cutoff.validate(), std::invalid_argument);

  // --subword-nbest: a cosent run with re-segmented texts trains; bad settings are refused.
  TrainConfig resegment = tiny_config(dir.file("scored.txt"), dir.file("subword"));
  resegment.objective = "cosent";
  resegment.steps = 4;
  resegment.subword_nbest = 8;
  resegment.subword_alpha = 0.1;
  EXPECT_TRUE(std::isfinite(train_model(resegment).final_loss));
  for (int nbest : {1, -1, 65}) {
    resegment.subword_nbest = nbest;
    EXPECT_THROW(resegment.validate(), std::invalid_argument) << nbest;
  }
  resegment.subword_nbest = 8;
  resegment.subword_alpha = -0.5;
  EXPECT_THROW(resegment.validate(), std::invalid_argument);
  resegment.subword_alpha = 0.1;
  resegment.objective = "mlm";
  EXPECT_THROW(resegment.validate(), std::invalid_argument);
}

TEST(Trainer, EvalKeepsBestModelAndLast) {
  ScratchDir dir("trainer");
  auto pairs = test::paraphrase_pairs(300);
  test::write_lines(dir.file("pairs.txt"), pairs);
  std::vector<std::string> dev;
  for (size_t i = 0; i < 60; ++i) {
    const auto tab = pairs[i].find('\t');
    dev.push_back(pairs[i] + "\t5");
    dev.push_back(pairs[i].substr(0, tab) + "\t" +
                  pairs[(i + 7) % 60].substr(0, pairs[(i + 7) % 60].find('\t')) + "\t1");
  }
  test::write_lines(dir.file("dev.txt"), dev);
  TrainConfig c = tiny_config(dir.file("pairs.txt"), dir.file("out"));
  c.eval_sts = dir.file("dev.txt");
  c.eval_every = 10;
  c.steps = 30;
  const TrainResult r = train_model(c);
  EXPECT_GE(r.best_dev, r.initial_dev);
  EXPECT_GT(r.best_dev, -100.0);
  EXPECT_TRUE(fs::exists(c.output + "/last/model.safetensors"));
  // The log holds dev scores at the evaluated steps.
  int evals = 0;
  for (const auto& line : test::read_lines(c.output + "/train_log.jsonl"))
    evals += nlohmann::json::parse(line).contains("dev_spearman");
  EXPECT_EQ(evals, 4);  // before training, 10, 20, 30
  auto config = nlohmann::json::parse(test::read_text(c.output + "/config.json"));
  EXPECT_NEAR(config["provenance"]["training"]["dev_spearman"].get<double>(), r.best_dev, 1e-9);
}

// `sembed init` without --idf-corpus marks its unit piece weights as unset, and training it
// computes the IDF from the training texts; --pooling and --lexical-weight with --init each
// change only their own field of the model's pooling.
TEST(Trainer, InitIdfIsComputedAndPoolingOverridesChangeOneField) {
  ScratchDir dir("trainer");
  test::write_lines(dir.file("pairs.txt"), test::paraphrase_pairs(100));
  InitOptions init;
  init.tokenizer_path = test::tiny_tokenizer_path();
  init.output_dir = dir.file("init");
  init.encoder = EncoderConfig::preset("tiny");
  init.encoder.max_len = 32;
  init.pooling.mode = "idf_mean";
  const ModelConfig fresh = init_model(init);
  EXPECT_TRUE(fresh.provenance.value(kTokenWeightsUnset, false));
  auto weights_of = [](const std::string& model) {
    const LoadedModel m = load_model(model);
    return m.encoder->token_weights.clone();
  };
  const auto unit = weights_of(init.output_dir);
  EXPECT_TRUE(unit.slice(0, kNumSpecialTokens).eq(1).all().item<bool>());  // every piece 1

  TrainConfig c = tiny_config(dir.file("pairs.txt"), dir.file("trained"));
  c.tokenizer.clear();
  c.init = init.output_dir;
  c.steps = 2;
  train_model(c);
  const auto idf = weights_of(c.output);
  const auto pieces = idf.slice(0, kNumSpecialTokens);
  EXPECT_GT((pieces.max() - pieces.min()).item<float>(), 1.0f) << "IDF was not computed";
  EXPECT_FALSE(read_model_config(c.output).provenance.contains(kTokenWeightsUnset));

  TrainConfig lex = tiny_config(dir.file("pairs.txt"), dir.file("lex"));
  lex.tokenizer.clear();
  lex.init = c.output;
  lex.steps = 2;
  lex.lexical_weight = 0.25;
  train_model(lex);
  PoolingConfig p = read_model_config(lex.output).pooling;
  EXPECT_EQ(p.mode, "idf_mean");
  EXPECT_DOUBLE_EQ(p.lexical_weight, 0.25);
  EXPECT_TRUE(weights_of(lex.output).equal(idf)) << "the IDF must survive the rebuild";

  TrainConfig mode = tiny_config(dir.file("pairs.txt"), dir.file("mode"));
  mode.tokenizer.clear();
  mode.init = lex.output;
  mode.steps = 2;
  mode.pooling_mode = "mean";
  train_model(mode);
  p = read_model_config(mode.output).pooling;
  EXPECT_EQ(p.mode, "mean");
  EXPECT_DOUBLE_EQ(p.lexical_weight, 0.25);

  mode.pooling_mode = "sum";
  EXPECT_THROW(mode.validate(), std::invalid_argument);
}

std::vector<std::string> train_args(const std::string& data, const std::string& out, int steps) {
  return {"train",
          "--objective",
          "sup",
          "--data",
          data,
          "--output",
          out,
          "--tokenizer",
          test::tiny_tokenizer_path(),
          "--preset",
          "tiny",
          "--batch-size",
          "16",
          "--max-len",
          "32",
          "--lr",
          "1e-3",
          "--steps",
          std::to_string(steps),
          "--log-every",
          "1",
          "--save-every",
          "5",
          "--threads",
          "1",
          "--device",
          "cpu"};
}

TEST(Trainer, KilledRunResumesOnTheUninterruptedLossCurve) {
  ScratchDir dir("trainer");
  test::write_lines(dir.file("pairs.txt"), test::paraphrase_pairs(400));
  const int steps = 40;
  // Reference: uninterrupted.
  auto ref = test::run_sembed([&] {
    std::string s;
    for (const auto& a : train_args(dir.file("pairs.txt"), dir.file("ref"), steps))
      s += test::shell_quote(a) + " ";
    return s;
  }());
  ASSERT_EQ(ref.exit_code, 0) << ref.err;
  // Interrupted with kill -9 once it is past a checkpoint, then resumed.
  const std::string out = dir.file("killed");
  pid_t pid =
      test::spawn_sembed(train_args(dir.file("pairs.txt"), out, steps), dir.file("killed.log"));
  ASSERT_TRUE(test::wait_until([&] { return loss_curve(out).size() >= 17; }, 60))
      << test::read_text(dir.file("killed.log"));
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  ASSERT_LT(loss_curve(out).size(), static_cast<size_t>(steps))
      << "the run finished before the kill";
  std::string args;
  for (const auto& a : train_args(dir.file("pairs.txt"), out, steps))
    args += test::shell_quote(a) + " ";
  auto resumed = test::run_sembed(args + "--resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("resumed from"), std::string::npos);
  auto a = loss_curve(dir.file("ref")), b = loss_curve(out);
  ASSERT_EQ(a.size(), static_cast<size_t>(steps));
  ASSERT_EQ(b.size(), static_cast<size_t>(steps));
  for (int s = 1; s <= steps; ++s)
    EXPECT_NEAR(a[s], b[s], 1e-4 * std::max(1.0, a[s])) << "step " << s;

  // --steps may be raised to train further.
  std::string more;
  for (const auto& a : train_args(dir.file("pairs.txt"), out, 45))
    more += test::shell_quote(a) + " ";
  auto further = test::run_sembed(more + "--resume");
  ASSERT_EQ(further.exit_code, 0) << further.err;
  EXPECT_EQ(loss_curve(out).rbegin()->first, 45);
}

TEST(Trainer, SigintSavesACheckpointAndExitsZero) {
  ScratchDir dir("trainer");
  test::write_lines(dir.file("pairs.txt"), test::paraphrase_pairs(400));
  const std::string out = dir.file("out");
  auto args = train_args(dir.file("pairs.txt"), out, 100000);
  args[args.size() - 5] = "0";  // --save-every 0: only the SIGINT checkpoint
  pid_t pid = test::spawn_sembed(args, dir.file("log"));
  ASSERT_TRUE(test::wait_until([&] { return loss_curve(out).size() >= 3; }, 60))
      << test::read_text(dir.file("log"));
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << test::read_text(dir.file("log"));
  EXPECT_EQ(WEXITSTATUS(status), 0) << test::read_text(dir.file("log"));
  bool found = false;
  for (const auto& e : fs::directory_iterator(out + "/checkpoints"))
    found |= fs::exists(e.path() / "state.json");
  EXPECT_TRUE(found);
  EXPECT_TRUE(fs::exists(out + "/model.safetensors"));
}

TEST(Trainer, InterruptedCheckpointWriteLeavesThePreviousOneUsable) {
  ScratchDir dir("trainer");
  test::write_lines(dir.file("pairs.txt"), test::paraphrase_pairs(300));
  TrainConfig c = tiny_config(dir.file("pairs.txt"), dir.file("out"));
  c.steps = 10;
  c.save_every = 5;
  train_model(c);
  // What a writer killed mid-checkpoint leaves: a temporary directory with a cut file, never a
  // directory under a final name.
  const std::string partial = c.output + "/checkpoints/step-000000015.tmp-AbCdEf";
  fs::create_directories(partial);
  test::write_text(partial + "/model.safetensors", "\x10\x00\x00");
  c.resume = true;
  c.steps = 12;
  const TrainResult r = train_model(c);
  EXPECT_EQ(r.steps, 12);
}

// The checkpoint records what it was trained on: --resume with edited data is refused (the saved
// sampler position would index other examples); with the same data it continues.
TEST(Trainer, ResumeRefusesChangedData) {
  ScratchDir dir("trainer");
  const auto pairs = test::paraphrase_pairs(300);
  test::write_lines(dir.file("pairs.txt"), pairs);
  TrainConfig c = tiny_config(dir.file("pairs.txt"), dir.file("out"));
  c.steps = 10;
  c.save_every = 5;
  train_model(c);
  c.resume = true;
  c.steps = 12;
  test::write_lines(dir.file("pairs.txt"),
                    std::vector<std::string>(pairs.begin() + 1, pairs.end()));
  try {
    train_model(c);
    FAIL() << "resumed on changed data";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("differ from what the checkpoint"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("299 examples"), std::string::npos) << e.what();
  }
  test::write_lines(dir.file("pairs.txt"), pairs);
  EXPECT_EQ(train_model(c).steps, 12);
}

// Largest absolute difference between two safetensors files' F32 tensors (same names required).
double max_weight_difference(const std::string& a_path, const std::string& b_path) {
  const SafetensorsFile a = SafetensorsFile::read(a_path), b = SafetensorsFile::read(b_path);
  EXPECT_EQ(a.tensors().size(), b.tensors().size());
  auto floats = [](const TensorView& v) {
    const auto* f = reinterpret_cast<const float*>(v.data);
    return std::vector<float>(f, f + v.numel());
  };
  float diff = 0;
  for (const auto& [name, va] : a.tensors())
    diff = std::max(diff, test::max_abs_diff(floats(va), floats(b.at(name))));
  return diff;
}

// Resumes a copy of `c`'s checkpoint `step_dir` (same schedule) into `out`; returns how far the
// resumed model ends from `c`'s.
double resumed_difference(const TrainConfig& c, const std::string& out,
                          const std::string& step_dir) {
  TrainConfig r = c;
  r.output = out;
  fs::create_directories(r.output + "/checkpoints");
  fs::copy(c.output + "/checkpoints/" + step_dir, r.output + "/checkpoints/" + step_dir);
  r.resume = true;
  train_model(r);
  return max_weight_difference(r.output + "/model.safetensors", c.output + "/model.safetensors");
}

// --ema-decay: the saved model is the moving average (not the raw weights), a checkpoint keeps
// both, and a resumed run continues the average exactly.
TEST(Trainer, EmaWeightsAreSavedAndResumed) {
  ScratchDir dir("trainer");
  test::write_lines(dir.file("pairs.txt"), test::paraphrase_pairs(300));
  TrainConfig c = tiny_config(dir.file("pairs.txt"), dir.file("whole"));
  c.steps = 20;
  c.save_every = 5;
  c.ema_decay = 0.9;
  train_model(c);
  const std::string ckpt = c.output + "/checkpoints/step-000000020";
  ASSERT_TRUE(fs::exists(ckpt + "/ema.safetensors"));
  EXPECT_EQ(max_weight_difference(c.output + "/model.safetensors", ckpt + "/ema.safetensors"), 0);
  EXPECT_GT(max_weight_difference(c.output + "/model.safetensors", ckpt + "/model.safetensors"),
            1e-4);

  // Resumed from the whole run's step-15 checkpoint (same schedule), it ends on the same average.
  // (Late enough that the warmed-up average still carries the checkpoint's: restarting the
  // average from the raw weights there ends about 1e-4 away.)
  EXPECT_LT(resumed_difference(c, dir.file("resumed"), "step-000000015"), 1e-5);

  // A checkpoint made without the average cannot continue one.
  TrainConfig plain = c;
  plain.output = dir.file("plain");
  plain.ema_decay = 0;
  plain.steps = 10;
  train_model(plain);
  plain.resume = true;
  plain.ema_decay = 0.9;
  plain.steps = 12;
  EXPECT_THROW(train_model(plain), std::invalid_argument);

  TrainConfig bad = c;
  bad.ema_decay = 1.0;
  EXPECT_THROW(bad.validate(), std::invalid_argument);
}

// --aux-objective: each step adds the second task's weighted loss on its own batches; a resumed
// run draws the same batches of both tasks.
TEST(Trainer, AuxObjectiveAddsItsLossAndResumes) {
  ScratchDir dir("trainer");
  const auto pairs = test::paraphrase_pairs(300);
  test::write_lines(dir.file("pairs.txt"), pairs);
  // Main task: CoSENT within files whose scores are all equal, so its own loss is 0 at every
  // step and the logged loss is the auxiliary term alone.
  std::vector<std::string> flat;
  for (const auto& p : pairs) flat.push_back(p + "\t3");
  test::write_lines(dir.file("flat.txt"), flat);
  TrainConfig c = tiny_config(dir.file("flat.txt"), dir.file("whole"));
  c.objective = "cosent";
  c.cosent_within_files = true;
  c.aux_objective = "sup";
  c.aux_data = {dir.file("pairs.txt")};
  c.aux_weight = 0.5;
  c.aux_batch_size = 12;
  c.steps = 40;
  c.save_every = 10;
  train_model(c);
  std::map<int64_t, double> aux;
  for (const auto& line : test::read_lines(c.output + "/train_log.jsonl")) {
    auto j = nlohmann::json::parse(line);
    if (!j.contains("loss")) continue;
    ASSERT_TRUE(j.contains("aux_loss")) << line;
    const double a = j["aux_loss"].get<double>();
    EXPECT_NEAR(j["loss"].get<double>(), 0.5 * a, 1e-5 * (1 + a)) << line;
    aux[j["step"].get<int64_t>()] = a;
  }
  ASSERT_EQ(aux.size(), 40u);
  double first = 0, last = 0;
  for (int s = 1; s <= 5; ++s) first += aux[s] / 5;
  for (int s = 36; s <= 40; ++s) last += aux[s] / 5;
  EXPECT_LT(last, 0.7 * first) << "the auxiliary task does not learn: " << first << " -> " << last;

  // Resumed from step 30, it ends on the whole run's weights.
  EXPECT_LT(resumed_difference(c, dir.file("resumed"), "step-000000030"), 1e-6);

  // A checkpoint made without the second task cannot continue with one.
  TrainConfig plain = c;
  plain.output = dir.file("plain");
  plain.aux_objective.clear();
  plain.aux_data.clear();
  plain.steps = 10;
  train_model(plain);
  plain.resume = true;
  plain.aux_objective = "sup";
  plain.aux_data = c.aux_data;
  plain.steps = 12;
  EXPECT_THROW(train_model(plain), std::invalid_argument);

  TrainConfig bad = c;
  bad.aux_objective = "mlm";
  EXPECT_THROW(bad.validate(), std::invalid_argument);
  bad = c;
  bad.aux_weight = 0;
  EXPECT_THROW(bad.validate(), std::invalid_argument);
  bad = c;
  bad.aux_data.clear();
  EXPECT_THROW(bad.validate(), std::invalid_argument);
  bad = c;
  bad.aux_objective.clear();
  EXPECT_THROW(bad.validate(), std::invalid_argument);
}

TEST(Trainer, CliReportsBadDataWithFileAndLine) {
  ScratchDir dir("trainer");
  test::write_text(dir.file("bad.txt"), "anchor one\tpositive one\nonly one column here\n");
  auto r = test::run_sembed("train --objective sup --data " + dir.file("bad.txt") + " --output " +
                            dir.file("out") + " --tokenizer " + test::tiny_tokenizer_path() +
                            " --preset tiny --steps 2 --device cpu");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("bad.txt:2"), std::string::npos) << r.err;
  test::write_text(dir.file("empty.txt"), "");
  r = test::run_sembed("train --objective unsup --data " + dir.file("empty.txt") + " --output " +
                       dir.file("out2") + " --tokenizer " + test::tiny_tokenizer_path() +
                       " --preset tiny --steps 2 --device cpu");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("empty"), std::string::npos) << r.err;
  // Usage errors exit 2.
  r = test::run_sembed("train --objective unsup --data x --output y --steps 2");
  EXPECT_EQ(r.exit_code, 2) << r.err;
}

}  // namespace
}  // namespace sembed
