#pragma once

// The training loop: SimCSE-style contrastive objectives (unsup, sup), CoSENT, MLM warm-up.
// std types only: the CLI and recipes call it without seeing torch.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/config.h"

namespace sembed {

struct TrainConfig {
  std::string objective = "unsup";  // unsup | sup | cosent | mlm
  std::vector<std::string> data;    // training files (format follows the objective)
  std::string output;               // output directory (see trainer.cpp for its layout)
  std::string init;                 // start from this model directory, or ...
  std::string tokenizer;            // ... a fresh model on this tokenizer with `encoder`/`pooling`
  EncoderConfig encoder = EncoderConfig::preset("small");  // fresh models only
  PoolingConfig pooling;                // fresh models (an --init model keeps its own, but ...)
  std::string pooling_mode;             // ... non-empty: this pooling mode, for any model
  double lexical_weight = -1;           // ... >= 0: this lexical path weight, for any model
  std::vector<std::string> idf_corpus;  // idf_mean: compute piece IDF from these files (one
                                        // document per line); default for a new idf_mean model:
                                        // the training texts
  std::string device = "auto";          // cpu | cuda | cuda:N | auto
  int batch_size = 64;                  // examples per step
  int max_len = 32;                     // tokens per text incl. [CLS]/[SEP] (truncated beyond)
  double lr = 1e-4;                     // peak learning rate (AdamW)
  double warmup = 0.06;                 // fraction of steps with linear warm-up, then linear decay
  int epochs = 1;                       // passes over the data (when steps == 0)
  int64_t steps = 0;                    // > 0: exact number of optimisation steps
  double time_limit = 0;                // seconds; > 0 ends training (as if done) when reached,
                                        // and the schedule follows max(step, time) progress
  double temperature = 0.05;            // InfoNCE temperature
  double dropout = -1;                  // >= 0: override the model's dropout (all dropouts)
  uint64_t seed = 42;                   // data order, dropout masks, MLM masks, fresh weights
  bool bf16 = false;                    // bf16 autocast (fp32 master weights)
  std::string eval_sts;                 // STS file for dev evaluation ("" = none)
  int eval_every = 250;                 // steps between evaluations
  int save_every = 500;                 // steps between checkpoints (0 = only at the end / SIGINT)
  bool resume = false;                  // continue from the newest checkpoint in `output`
  double weight_decay = 0.01;           // AdamW, not applied to norms and biases
  double grad_clip = 1.0;               // max global gradient norm (0 = off)
  int log_every = 10;                   // steps between progress lines / log records
  double hard_negative_weight = 0.0;    // sup: added to each anchor's own hard-negative logit
  double mlm_probability = 0.15;        // mlm: fraction of tokens masked
  double cosent_scale = 20.0;           // cosent: lambda
  bool cosent_within_files = false;     // cosent: compare only pairs from the same data file
  double cosent_ibn_weight = 0.0;       // cosent: weight of an in-batch InfoNCE term (temperature)
  double cosent_ibn_min_score = 4.0;    // cosent: gold score that makes a pair a positive for it
  double token_dropout = 0.0;           // unsup/sup/cosent: per-token cut-off probability
  double ema_decay = 0.0;               // > 0: dev scores and saved models use an exponential
                                        // moving average of the weights (e.g. 0.999)
  int subword_nbest = 0;                // >= 2: subword regularisation (training/subword.h):
                                        // each word drawn from its n best segmentations
  double subword_alpha = 0.2;           // its smoothing: p ~ exp(alpha x log-probability)
  // A second task trained in the same steps (multi-task, like sentence-transformers' several
  // train objectives): every step adds aux_weight x its loss on a batch of its own data.
  std::string aux_objective;          // "" (none) | unsup | sup | cosent
  std::vector<std::string> aux_data;  // its training files (format follows aux_objective)
  double aux_weight = 1.0;            // > 0
  int aux_batch_size = 0;             // examples per step (0 = batch_size)
  int threads = 0;                    // CPU threads (0 = all cores)
  int keep_checkpoints = 2;           // newest checkpoints kept
  bool progress = true;               // progress lines on stderr

  // Throws std::invalid_argument naming the bad field.
  void validate() const;
  // `base` (the --init model's pooling, or `pooling` for a fresh model) with the per-field
  // overrides above applied.
  PoolingConfig pooling_for(const PoolingConfig& base) const;
  bool overrides_pooling() const { return !pooling_mode.empty() || lexical_weight >= 0; }
};
void to_json(nlohmann::json& j, const TrainConfig& c);

struct TrainResult {
  int64_t steps = 0;
  double final_loss = 0;
  double best_dev = -1;  // best dev Spearman x100 (-1 without --eval-sts)
  int64_t best_step = -1;
  double initial_dev = -1;  // dev Spearman before training (with --eval-sts)
  double seconds = 0;
  double tokens_per_second = 0;
  double sentences_per_second = 0;
  bool interrupted = false;  // stopped by request_training_stop() (SIGINT)
};

// Runs training to completion (or until stopped). Throws std::invalid_argument for bad config
// or data (errors name file:line), std::runtime_error for I/O failures.
TrainResult train_model(const TrainConfig& config);

// Asks a running train_model() to save a checkpoint and return at the next step boundary.
// Async-signal-safe (for SIGINT handlers).
void request_training_stop();
// Clears a pending stop request (tests).
void clear_training_stop();

}  // namespace sembed
