// sembed train: contrastive (unsup, sup), CoSENT and MLM training.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <csignal>
#include <cstdio>

#include "cli/command.h"
#include "cli/model_flags.h"
#include "common/log.h"
#include "training/recipe.h"
#include "training/trainer.h"

namespace sembed::cli {
namespace {

extern "C" void on_sigint(int) {
  request_training_stop();
  std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C kills at once
}

class TrainCommand : public Command {
 public:
  void setup(CLI::App& app) override {
    subcommand = app.add_subcommand(
        "train",
        "Train an encoder. Objectives: unsup (SimCSE: each sentence encoded twice with "
        "independent dropout, InfoNCE over in-batch negatives; data: one sentence per line), sup "
        "(anchor<TAB>positive[<TAB>hard_negative]), cosent (sentence1<TAB>sentence2<TAB>score or "
        "the "
        "STS-B release format), mlm (masked-LM warm-up; data: one sentence per line). DIR gets the "
        "model (best by dev score with --eval-sts, last/ beside it), checkpoints/ and "
        "train_log.jsonl. Ctrl-C saves a checkpoint and exits 0; --resume continues.");
    auto* s = subcommand;
    s->add_option("--objective", cfg_.objective, "unsup, sup, cosent or mlm")
        ->check(CLI::IsMember({"unsup", "sup", "cosent", "mlm"}))
        ->capture_default_str();
    s->add_option(
        "--recipe", recipe_.recipe_path,
        "Run a whole recipe (recipes/*.json): corpus, tokenizer and every training stage; "
        "DIR/work/ caches each step (run again to resume)");
    s->add_option("--time-scale", recipe_.time_scale, "With --recipe: multiply stage time limits")
        ->capture_default_str();
    s->add_flag("--print-recipe", print_recipe_,
                "With --recipe: print the recipe as it will run (its \"base\" chain applied) as "
                "JSON and exit without training");
    s->add_option("-d,--data", cfg_.data, "Training data file(s)")->expected(1, -1);
    s->add_option("-o,--output", cfg_.output, "Output directory (required unless --print-recipe)");
    auto* init = s->add_option("--init", cfg_.init, "Start from this model directory");
    auto* tok =
        s->add_option("-t,--tokenizer", cfg_.tokenizer, "Start a fresh model on this tokenizer");
    init->excludes(tok);
    flags_.add_to(s, /*with_max_len=*/false);
    s->add_option("--idf-corpus", cfg_.idf_corpus,
                  "idf_mean pooling: piece IDF from these files (default for a new model: the "
                  "training texts)");
    s->add_option("--device", cfg_.device, "cpu, cuda, cuda:N or auto")->capture_default_str();
    s->add_option("--batch-size", cfg_.batch_size, "Examples per step")->capture_default_str();
    max_len_opt_ = s->add_option("--max-len", cfg_.max_len,
                                 "Tokens per training text incl. [CLS]/[SEP] (longer ones are "
                                 "truncated; a fresh model gets at least this many positions)")
                       ->capture_default_str();
    s->add_option("--lr", cfg_.lr, "Peak learning rate (AdamW)")->capture_default_str();
    s->add_option("--warmup", cfg_.warmup, "Warm-up fraction of the steps")->capture_default_str();
    auto* epochs =
        s->add_option("--epochs", cfg_.epochs, "Passes over the data")->capture_default_str();
    auto* steps =
        s->add_option("--steps", cfg_.steps, "Exact number of steps (overrides --epochs)");
    epochs->excludes(steps);
    s->add_option("--time-limit", cfg_.time_limit,
                  "Stop after this many seconds (as if finished; the schedule follows time)");
    s->add_option("--temperature", cfg_.temperature, "InfoNCE temperature")->capture_default_str();
    s->add_option("--seed", cfg_.seed, "Seed for data order, dropout and init")
        ->capture_default_str();
    s->add_flag("--bf16", cfg_.bf16,
                "bf16 autocast with fp32 master weights (CUDA, and CPUs with AVX512-BF16/AMX; "
                "other CPUs only emulate bf16 and run fp32 instead)");
    s->add_option("--eval-sts", cfg_.eval_sts, "STS dev file, evaluated every --eval-every steps");
    s->add_option("--eval-every", cfg_.eval_every, "Steps between dev evaluations")
        ->capture_default_str();
    s->add_option("--save-every", cfg_.save_every, "Steps between checkpoints (0: end only)")
        ->capture_default_str();
    s->add_flag("--resume", cfg_.resume,
                "Continue from the newest checkpoint in --output (same data and tokenizer)");
    s->add_option("--weight-decay", cfg_.weight_decay, "AdamW weight decay")->capture_default_str();
    s->add_option("--grad-clip", cfg_.grad_clip, "Max gradient norm (0: off)")
        ->capture_default_str();
    s->add_option("--hard-negative-weight", cfg_.hard_negative_weight,
                  "sup: logit bonus of each anchor's own hard negative")
        ->capture_default_str();
    s->add_flag("--cosent-within-files", cfg_.cosent_within_files,
                "cosent: rank only pairs from the same data file against each other (files "
                "whose scores are on different scales, e.g. STS-B and SICK)");
    s->add_option("--cosent-ibn-weight", cfg_.cosent_ibn_weight,
                  "cosent: weight of an in-batch-negative InfoNCE term at --temperature (pairs "
                  "scored >= --cosent-ibn-min-score are positives, the batch's other sentences "
                  "negatives)")
        ->capture_default_str();
    s->add_option("--cosent-ibn-min-score", cfg_.cosent_ibn_min_score,
                  "cosent: gold score from which a pair is a positive for the in-batch term")
        ->capture_default_str();
    s->add_option("--token-dropout", cfg_.token_dropout,
                  "unsup, sup, cosent: each training token is cut off (left out of attention and "
                  "pooling) with this probability, a regulariser (0 = off)")
        ->capture_default_str();
    s->add_option("--ema-decay", cfg_.ema_decay,
                  "Dev scores, the best model and the last one use an exponential moving "
                  "average of the weights with this decay (e.g. 0.999; 0 = off)")
        ->capture_default_str();
    s->add_option("--subword-nbest", cfg_.subword_nbest,
                  "unsup, sup, cosent: subword regularisation: every time a text enters a batch, "
                  "each of its words is re-segmented, drawn from its N best segmentations "
                  "(0 = off; 2-64)")
        ->capture_default_str();
    s->add_option("--subword-alpha", cfg_.subword_alpha,
                  "Smoothing of --subword-nbest: a segmentation is drawn with probability "
                  "proportional to exp(alpha x its log-probability); 0 = uniform")
        ->capture_default_str();
    s->add_option("--aux-objective", cfg_.aux_objective,
                  "Multi-task: a second objective (unsup, sup or cosent) trained in the same "
                  "steps on --aux-data; each step's loss is the main loss plus --aux-weight x "
                  "its loss on a batch of its own");
    s->add_option("--aux-data", cfg_.aux_data, "Training files of --aux-objective (in its format)")
        ->expected(1, -1);
    s->add_option("--aux-weight", cfg_.aux_weight, "Weight of the --aux-objective loss")
        ->capture_default_str();
    s->add_option("--aux-batch-size", cfg_.aux_batch_size,
                  "Examples per step of --aux-objective (0 = --batch-size)")
        ->capture_default_str();
    s->add_option("--mlm-probability", cfg_.mlm_probability, "mlm: masked fraction")
        ->capture_default_str();
    s->add_option("--log-every", cfg_.log_every, "Steps between log records")
        ->capture_default_str();
    s->add_option("--threads", cfg_.threads, "CPU threads (0 = all cores)")->capture_default_str();
    pooling_opt_ = s->get_option("--pooling");
    lexical_opt_ = s->get_option("--lexical-weight");
    dropout_opt_ = s->get_option("--dropout");
  }

  int run() override {
    if (print_recipe_) {
      if (recipe_.recipe_path.empty()) throw UsageError("--print-recipe needs --recipe");
      // A recipe that does not read is bad input (exit 1), as when it runs.
      std::printf("%s\n", load_recipe_file(recipe_.recipe_path).dump(2).c_str());
      return 0;
    }
    if (cfg_.output.empty()) throw UsageError("--output is required");
    if (!recipe_.recipe_path.empty()) return run_recipe_command();
    if (!cfg_.resume && cfg_.init.empty() && cfg_.tokenizer.empty())
      throw UsageError("give --init DIR or --tokenizer PATH.model (or --resume)");
    if (cfg_.data.empty()) throw UsageError("--data is required");
    cfg_.encoder = flags_.encoder();
    cfg_.encoder.max_len = std::max(cfg_.encoder.max_len, cfg_.max_len);
    cfg_.pooling = flags_.pooling_config();
    // With --init, --pooling and --lexical-weight each change their one field of the model's
    // pooling (--lexical-weight alone keeps its mode, --pooling alone its lexical path).
    if (pooling_opt_->count() > 0) cfg_.pooling_mode = flags_.pooling;
    if (lexical_opt_->count() > 0) cfg_.lexical_weight = flags_.lexical_weight;
    if (dropout_opt_->count() > 0) cfg_.dropout = flags_.dropout;
    if (max_len_opt_->count() == 0 && cfg_.objective == "cosent") cfg_.max_len = 64;
    try {
      cfg_.validate();
    } catch (const std::invalid_argument& e) {
      throw UsageError(e.what());
    }
    std::signal(SIGINT, on_sigint);
    const TrainResult r = train_model(cfg_);
    std::signal(SIGINT, SIG_DFL);
    std::printf("%s %lld steps in %.1fs (%.0f sentences/s, %.0f tokens/s), final loss %.4f",
                r.interrupted ? "stopped after" : "trained", (long long)r.steps, r.seconds,
                r.sentences_per_second, r.tokens_per_second, r.final_loss);
    if (r.best_dev >= 0)
      std::printf("; dev spearman %.2f -> best %.2f at step %lld", r.initial_dev, r.best_dev,
                  (long long)r.best_step);
    std::printf(" -> %s\n", cfg_.output.c_str());
    return 0;
  }

 private:
  int run_recipe_command() {
    recipe_.output = cfg_.output;
    recipe_.threads = cfg_.threads;
    if (subcommand->get_option("--device")->count() > 0) recipe_.device = cfg_.device;
    try {
      recipe_.validate();
    } catch (const std::invalid_argument& e) {
      throw UsageError(e.what());
    }
    std::signal(SIGINT, on_sigint);
    const RecipeResult r = run_recipe(recipe_);
    std::signal(SIGINT, SIG_DFL);
    std::printf("recipe finished in %.0fs -> %s\n", r.report.value("seconds", 0.0),
                cfg_.output.c_str());
    for (auto& [name, v] : r.report["final"].items())
      std::printf("  %-10s spearman %.2f\n", name.c_str(), v["spearman"].get<double>());
    return 0;
  }

  RecipeOptions recipe_;
  bool print_recipe_ = false;
  TrainConfig cfg_;
  ModelFlags flags_;
  CLI::Option* pooling_opt_ = nullptr;
  CLI::Option* lexical_opt_ = nullptr;
  CLI::Option* dropout_opt_ = nullptr;
  CLI::Option* max_len_opt_ = nullptr;
};

}  // namespace

std::unique_ptr<Command> make_train_command() {
  return std::make_unique<TrainCommand>();
}

}  // namespace sembed::cli
