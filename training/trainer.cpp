// The training loop. Output directory layout:
//   DIR/config.json, model.safetensors, tokenizer.model  the model: best by dev score with
//                                                        --eval-sts, else the last
//   DIR/last/                                            the last model (with --eval-sts)
//   DIR/checkpoints/step-NNNNNNNN/                       resumable state (model, MLM head, EMA,
//                                                        optimizer, sampler, scores), atomic
//   DIR/train_log.jsonl                                  one JSON object per logged step
//   DIR/train_config.json                                the effective TrainConfig
#include "training/trainer.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>

#include "common/atomic_file.h"
#include "common/cpu.h"
#include "common/hash.h"
#include "common/line_reader.h"
#include "common/log.h"
#include "common/progress.h"
#include "model/batch_embed.h"
#include "model/model_init.h"
#include "model/model_io.h"
#include "model/runtime.h"
#include "model/torch_compat.h"
#include "tokenizer/idf.h"
#include "training/data.h"
#include "training/losses.h"
#include "training/sts.h"
#include "training/subword.h"

namespace sembed {

namespace {

volatile std::sig_atomic_t g_stop_requested = 0;

const char* kCheckpointsDir = "checkpoints";

}  // namespace

void request_training_stop() {
  g_stop_requested = 1;
}
void clear_training_stop() {
  g_stop_requested = 0;
}

void TrainConfig::validate() const {
  auto require = [](bool ok, const std::string& msg) {
    if (!ok) throw std::invalid_argument("train: " + msg);
  };
  require(objective == "unsup" || objective == "sup" || objective == "cosent" || objective == "mlm",
          "--objective must be unsup, sup, cosent or mlm");
  require(!data.empty(), "--data is required");
  require(!output.empty(), "--output is required");
  require(init.empty() != tokenizer.empty() || resume,
          "give exactly one of --init DIR or --tokenizer PATH.model");
  require(batch_size >= 2, "--batch-size must be >= 2 (in-batch negatives need company)");
  require(max_len >= 3, "--max-len must be >= 3");
  require(lr > 0 && lr < 1, "--lr must be in (0, 1)");
  require(warmup >= 0 && warmup < 1, "--warmup must be a fraction in [0, 1)");
  require(epochs >= 1 || steps > 0, "--epochs must be >= 1");
  require(steps >= 0, "--steps must be >= 0");
  require(time_limit >= 0, "time limit must be >= 0");
  require(temperature > 0, "--temperature must be > 0");
  require(dropout < 1, "--dropout must be < 1");
  require(eval_every > 0, "--eval-every must be > 0");
  require(save_every >= 0, "--save-every must be >= 0");
  require(weight_decay >= 0, "weight decay must be >= 0");
  require(grad_clip >= 0, "gradient clip must be >= 0");
  require(log_every > 0, "log interval must be > 0");
  require(mlm_probability > 0 && mlm_probability < 1, "mlm probability must be in (0, 1)");
  require(cosent_ibn_weight >= 0, "--cosent-ibn-weight must be >= 0");
  require(token_dropout >= 0 && token_dropout < 1, "--token-dropout must be in [0, 1)");
  require(ema_decay >= 0 && ema_decay < 1, "--ema-decay must be in [0, 1)");
  require(subword_nbest == 0 || (subword_nbest >= SubwordSampler::kMinNbest &&
                                  subword_nbest <= SubwordSampler::kMaxNbest),
          "--subword-nbest must be 0 (off) or in [" + std::to_string(SubwordSampler::kMinNbest) +
              ", " + std::to_string(SubwordSampler::kMaxNbest) + "]");
  require(subword_alpha >= 0 && std::isfinite(subword_alpha), "--subword-alpha must be >= 0");
  require(subword_nbest == 0 || objective != "mlm", "--subword-nbest does not apply to mlm");
  if (aux_objective.empty()) {
    require(aux_data.empty(), "--aux-data needs --aux-objective");
  } else {
    require(aux_objective == "unsup" || aux_objective == "sup" || aux_objective == "cosent",
            "--aux-objective must be unsup, sup or cosent");
    require(objective != "mlm", "--aux-objective cannot be combined with --objective mlm");
    require(!aux_data.empty(), "--aux-objective needs --aux-data");
    require(aux_weight > 0, "--aux-weight must be > 0");
    require(aux_batch_size == 0 || aux_batch_size >= 2, "--aux-batch-size must be >= 2");
  }
  require(keep_checkpoints >= 1, "keep_checkpoints must be >= 1");
  if (tokenizer.size()) encoder.validate();
  pooling_for(pooling).validate();
}

PoolingConfig TrainConfig::pooling_for(const PoolingConfig& base) const {
  PoolingConfig p = base;
  if (!pooling_mode.empty()) p.mode = pooling_mode;
  if (lexical_weight >= 0) p.lexical_weight = lexical_weight;
  return p;
}

void to_json(nlohmann::json& j, const TrainConfig& c) {
  j = nlohmann::json{{"objective", c.objective},
                     {"data", c.data},
                     {"output", c.output},
                     {"init", c.init},
                     {"tokenizer", c.tokenizer},
                     {"encoder", c.encoder},
                     {"pooling", c.pooling},
                     {"pooling_mode", c.pooling_mode},
                     {"lexical_weight", c.lexical_weight},
                     {"idf_corpus", c.idf_corpus},
                     {"device", c.device},
                     {"batch_size", c.batch_size},
                     {"max_len", c.max_len},
                     {"lr", c.lr},
                     {"warmup", c.warmup},
                     {"epochs", c.epochs},
                     {"steps", c.steps},
                     {"time_limit", c.time_limit},
                     {"temperature", c.temperature},
                     {"dropout", c.dropout},
                     {"seed", c.seed},
                     {"bf16", c.bf16},
                     {"eval_sts", c.eval_sts},
                     {"eval_every", c.eval_every},
                     {"save_every", c.save_every},
                     {"weight_decay", c.weight_decay},
                     {"grad_clip", c.grad_clip},
                     {"hard_negative_weight", c.hard_negative_weight},
                     {"mlm_probability", c.mlm_probability},
                     {"cosent_scale", c.cosent_scale},
                     {"cosent_within_files", c.cosent_within_files},
                     {"cosent_ibn_weight", c.cosent_ibn_weight},
                     {"cosent_ibn_min_score", c.cosent_ibn_min_score},
                     {"token_dropout", c.token_dropout},
                     {"ema_decay", c.ema_decay},
                     {"subword_nbest", c.subword_nbest},
                     {"subword_alpha", c.subword_alpha},
                     {"aux_objective", c.aux_objective},
                     {"aux_data", c.aux_data},
                     {"aux_weight", c.aux_weight},
                     {"aux_batch_size", c.aux_batch_size}};
}

namespace {

using Clock = std::chrono::steady_clock;

// A padded batch of several texts per example, all rows in one tensor (one forward pass).
struct TensorBatch {
  torch::Tensor ids;   // [rows, T]
  torch::Tensor mask;  // [rows, T] bool
  int64_t tokens = 0;  // real tokens
};

TensorBatch build_batch(const std::vector<const std::vector<int>*>& rows, int max_len,
                        const torch::Device& device) {
  const int64_t room = max_len - 2;
  int64_t longest = 0;
  for (const auto* r : rows)
    longest = std::max<int64_t>(longest, std::min<int64_t>(r->size(), room) + 2);
  const int64_t n = static_cast<int64_t>(rows.size());
  auto ids = torch::full({n, longest}, static_cast<int64_t>(kPadId), torch::kLong);
  auto mask = torch::zeros({n, longest}, torch::kBool);
  auto* ip = ids.data_ptr<int64_t>();
  auto* mp = mask.data_ptr<bool>();
  TensorBatch b;
  for (int64_t i = 0; i < n; ++i) {
    const auto& p = *rows[i];
    const int64_t len = std::min<int64_t>(p.size(), room) + 2;
    int64_t* row = ip + i * longest;
    row[0] = kClsId;
    for (int64_t k = 0; k + 2 < len; ++k) row[k + 1] = p[k];
    row[len - 1] = kSepId;
    std::fill(mp + i * longest, mp + i * longest + len, true);
    b.tokens += len;
  }
  b.ids = ids.to(device);
  b.mask = mask.to(device);
  return b;
}

std::filesystem::path newest_checkpoint(const std::string& output) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(output) / kCheckpointsDir;
  fs::path best;
  if (!fs::is_directory(dir)) return best;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (!e.is_directory() || name.rfind("step-", 0) != 0 || name.find(".tmp-") != std::string::npos)
      continue;
    if (!fs::exists(e.path() / "state.json")) continue;
    if (best.empty() || name > best.filename().string()) best = e.path();
  }
  return best;
}

std::string step_dir_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "step-%09lld", static_cast<long long>(step));
  return buf;
}

class Trainer {
 public:
  explicit Trainer(const TrainConfig& config) : cfg_(config) {}
  TrainResult run();

 private:
  void setup_model();
  void setup_data();
  void setup_optimizer();
  void set_token_weights();
  double lr_at(int64_t step, double elapsed) const;
  // The loss of `objective` on `batch` of `examples`; `stream` seeds --token-dropout's cut-off.
  torch::Tensor step_loss(const std::string& objective, const std::vector<Example>& examples,
                          const std::vector<size_t>& batch, uint64_t stream, int64_t* tokens);
  double evaluate();
  void save_checkpoint(int64_t step);
  void load_checkpoint(const std::filesystem::path& dir);
  void save_final_model(const std::string& dir, SaveMode mode, int64_t step, double dev);
  void append_log(const nlohmann::json& record);
  void prune_log_after(int64_t step);
  // --ema-decay: ema_ holds a moving average of the encoder's parameters (their order).
  bool uses_ema() const { return cfg_.ema_decay > 0; }
  void init_ema();
  // After the optimizer step of 0-based `step` (the average's update number step + 1).
  void update_ema(int64_t step);
  // Exchanges the encoder's parameters with ema_ (a second call restores them).
  void swap_ema();
  // Puts the EMA weights in the encoder for the scope's lifetime (a no-op without --ema-decay).
  struct EmaWeights {
    explicit EmaWeights(Trainer* t) : t_(t) {
      if (t_->uses_ema()) t_->swap_ema();
    }
    ~EmaWeights() {
      if (t_->uses_ema()) t_->swap_ema();
    }
    EmaWeights(const EmaWeights&) = delete;
    EmaWeights& operator=(const EmaWeights&) = delete;
    Trainer* t_;
  };

  TrainConfig cfg_;
  torch::Device device_ = torch::kCPU;
  ModelConfig model_config_;
  std::shared_ptr<const Tokenizer> tokenizer_;
  Encoder encoder_{nullptr};
  MlmHead mlm_head_{nullptr};
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  std::vector<Example> examples_;
  std::unique_ptr<BatchSampler> sampler_;
  std::vector<Example> aux_examples_;  // --aux-objective's data (empty without one)
  std::unique_ptr<BatchSampler> aux_sampler_;
  std::unique_ptr<SubwordSampler> subword_;  // --subword-nbest (null without)
  std::vector<torch::Tensor> ema_;
  std::vector<StsPair> dev_pairs_;
  int64_t total_steps_ = 0;
  int64_t start_step_ = 0;
  double best_dev_ = -1;
  int64_t best_step_ = -1;
  double initial_dev_ = -1;
  double elapsed_before_ = 0;         // seconds trained before a resume
  bool bf16_ = false;                 // --bf16 as carried out on this device (common/cpu.h)
  bool needs_token_weights_ = false;  // a new idf_mean pooling without weights yet
  std::string data_fingerprint_, aux_data_fingerprint_;  // examples_fingerprint() in hex
  Clock::time_point start_time_;
};

void Trainer::setup_model() {
  if (!cfg_.init.empty()) {
    LoadedModel m = load_model(cfg_.init, torch::kCPU);
    model_config_ = m.config;
    tokenizer_ = m.tokenizer;
    encoder_ = m.encoder;
    EncoderConfig ec = model_config_.encoder;
    if (cfg_.dropout >= 0) ec.dropout = ec.attention_dropout = cfg_.dropout;
    PoolingConfig pc = cfg_.pooling_for(model_config_.pooling);
    // IDF to compute: a pooling that gains token weights, or `sembed init` without --idf-corpus
    // (its piece weights are still 1).
    needs_token_weights_ =
        pc.uses_token_weights() &&
        (!model_config_.pooling.uses_token_weights() || token_weights_unset(model_config_));
    if (cfg_.dropout >= 0 || cfg_.overrides_pooling()) {
      encoder_ = rebuild_encoder(encoder_, ec, pc, cfg_.seed);
      model_config_.encoder = ec;
      model_config_.pooling = pc;
    }
  } else {
    tokenizer_ = std::make_shared<const Tokenizer>(Tokenizer::load(cfg_.tokenizer));
    model_config_.tokenizer = tokenizer_->config();
    model_config_.encoder = cfg_.encoder;
    model_config_.encoder.vocab_size = tokenizer_->vocab_size();
    if (cfg_.dropout >= 0)
      model_config_.encoder.dropout = model_config_.encoder.attention_dropout = cfg_.dropout;
    model_config_.pooling = cfg_.pooling_for(cfg_.pooling);
    model_config_.validate();
    encoder_ = Encoder(model_config_.encoder, model_config_.pooling);
    encoder_->reset_parameters(cfg_.seed);
    needs_token_weights_ = model_config_.pooling.uses_token_weights();
  }
  if (cfg_.max_len > model_config_.encoder.max_len)
    throw std::invalid_argument("train: --max-len " + std::to_string(cfg_.max_len) +
                                " exceeds the model's position limit " +
                                std::to_string(model_config_.encoder.max_len));
  if (cfg_.objective == "mlm") {
    mlm_head_ = MlmHead(model_config_.encoder);
    torch::NoGradGuard no_grad;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(cfg_.seed + 17);
    for (auto& p : mlm_head_->named_parameters()) {
      if (p.key() == "dense.weight")
        p.value().copy_(at::normal(0.0, 0.02, p.value().sizes(), gen, torch::TensorOptions()));
    }
  }
  encoder_->to(device_);
  if (mlm_head_) mlm_head_->to(device_);
}

DataFormat format_for(const std::string& objective) {
  if (objective == "sup") return DataFormat::kTriplets;
  if (objective == "cosent") return DataFormat::kScoredPairs;
  return DataFormat::kLines;
}

// "N examples from M lines[, ...]" for the log.
std::string describe(const DatasetStats& stats) {
  std::string msg =
      std::to_string(stats.examples) + " examples from " + std::to_string(stats.lines) + " lines";
  if (stats.duplicates)
    msg += ", " + std::to_string(stats.duplicates) + " duplicate sentences dropped";
  if (stats.skipped_empty) msg += ", " + std::to_string(stats.skipped_empty) + " empty skipped";
  if (stats.with_hard_negative)
    msg += ", " + std::to_string(stats.with_hard_negative) + " with hard negatives";
  return msg;
}

void Trainer::setup_data() {
  DatasetStats stats;
  examples_ =
      load_examples(cfg_.data, format_for(cfg_.objective), *tokenizer_, &stats, cfg_.threads);
  log_info("data: " + describe(stats));
  data_fingerprint_ = hex64(examples_fingerprint(examples_));
  sampler_ = std::make_unique<BatchSampler>(&examples_, cfg_.batch_size, cfg_.seed);
  if (!cfg_.aux_objective.empty()) {
    DatasetStats aux;
    aux_examples_ = load_examples(cfg_.aux_data, format_for(cfg_.aux_objective), *tokenizer_, &aux,
                                  cfg_.threads);
    log_info("aux data (" + cfg_.aux_objective + "): " + describe(aux));
    aux_data_fingerprint_ = hex64(examples_fingerprint(aux_examples_));
    aux_sampler_ = std::make_unique<BatchSampler>(
        &aux_examples_, cfg_.aux_batch_size > 0 ? cfg_.aux_batch_size : cfg_.batch_size,
        cfg_.seed + 1);
  }
  if (cfg_.subword_nbest > 0) {
    subword_ =
        std::make_unique<SubwordSampler>(*tokenizer_, cfg_.subword_nbest, cfg_.subword_alpha);
    subword_->add(examples_, cfg_.threads);
    subword_->add(aux_examples_, cfg_.threads);
    log_info("subword sampling: " + std::to_string(subword_->words_with_alternatives()) + " of " +
             std::to_string(subword_->words()) + " distinct words have alternative segmentations");
  }
  total_steps_ = cfg_.steps > 0 ? cfg_.steps : cfg_.epochs * sampler_->batches_per_epoch();
  if (!cfg_.eval_sts.empty()) dev_pairs_ = read_sts_file(cfg_.eval_sts);
}

void Trainer::set_token_weights() {
  if (!model_config_.pooling.uses_token_weights()) {
    if (!cfg_.idf_corpus.empty())
      log_warning("--idf-corpus ignored: pooling is " + model_config_.pooling.mode);
    return;
  }
  std::vector<float> idf;
  if (!cfg_.idf_corpus.empty()) {
    IdfStats st;
    idf = compute_idf(*tokenizer_, cfg_.idf_corpus, cfg_.threads, &st);
    log_info("idf_mean: piece IDF from " + std::to_string(st.documents) +
             " documents of --idf-corpus");
  } else if (needs_token_weights_) {
    std::vector<const std::vector<int>*> docs;
    for (const auto& ex : examples_)
      for (const auto& t : ex.texts) docs.push_back(&t);
    idf = compute_idf(docs, model_config_.encoder.vocab_size);
    log_info("idf_mean: piece IDF from the " + std::to_string(docs.size()) + " training texts");
  } else {
    return;
  }
  encoder_->set_token_weights(idf);
  needs_token_weights_ = false;
  model_config_.provenance.erase(kTokenWeightsUnset);
}

void Trainer::setup_optimizer() {
  std::vector<torch::Tensor> decay, no_decay;
  auto split = [&](torch::nn::Module& m) {
    for (auto& p : m.named_parameters(true)) {
      const std::string& n = p.key();
      const bool is_bias = n.size() >= 4 && n.compare(n.size() - 4, 4, "bias") == 0;
      if (is_bias || n.find("norm") != std::string::npos || p.value().dim() < 2) {
        no_decay.push_back(p.value());
      } else {
        decay.push_back(p.value());
      }
    }
  };
  split(*encoder_);
  if (mlm_head_) split(*mlm_head_);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay,
                      std::make_unique<torch::optim::AdamWOptions>(
                          torch::optim::AdamWOptions(cfg_.lr).weight_decay(cfg_.weight_decay)));
  groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(
                                    torch::optim::AdamWOptions(cfg_.lr).weight_decay(0.0)));
  optimizer_ =
      std::make_unique<torch::optim::AdamW>(std::move(groups), torch::optim::AdamWOptions(cfg_.lr));
}

double Trainer::lr_at(int64_t step, double elapsed) const {
  double progress = static_cast<double>(step) / std::max<int64_t>(1, total_steps_);
  if (cfg_.time_limit > 0) progress = std::max(progress, elapsed / cfg_.time_limit);
  progress = std::min(1.0, progress);
  if (cfg_.warmup > 0 && progress < cfg_.warmup) return cfg_.lr * progress / cfg_.warmup;
  return cfg_.lr * std::max(0.0, (1.0 - progress) / (1.0 - cfg_.warmup));
}

torch::Tensor Trainer::step_loss(const std::string& objective, const std::vector<Example>& examples,
                                 const std::vector<size_t>& batch, uint64_t stream,
                                 int64_t* tokens) {
  const int64_t B = static_cast<int64_t>(batch.size());
  std::vector<const std::vector<int>*> rows;
  compat::AutocastGuard autocast(device_.is_cuda() ? at::kCUDA : at::kCPU, bf16_);
  // The batch of an unsup/sup/cosent step, its texts re-segmented by --subword-nbest, with
  // --token-dropout's cut-off applied to its mask.
  std::vector<std::vector<int>> resegmented;
  auto contrast_batch = [&]() {
    if (subword_) {
      // Seeded per step like the cut-off: a resumed run draws the same segmentations.
      std::mt19937_64 rng(cfg_.seed * 0x9E3779B97F4A7C15ull + stream * 31 + 11);
      resegmented.reserve(rows.size());  // no reallocation: rows point into it
      for (auto& row : rows) {
        resegmented.push_back(subword_->sample(*row, rng));
        row = &resegmented.back();
      }
    }
    TensorBatch tb = build_batch(rows, cfg_.max_len, device_);
    *tokens = tb.tokens;
    if (cfg_.token_dropout > 0) {
      // Seeded per step (resumed runs cut the same tokens), offset from --objective mlm's stream.
      auto gen = at::make_generator<at::CPUGeneratorImpl>(cfg_.seed * 1000003ull + stream + 7);
      tb.mask = drop_tokens(tb.ids, tb.mask, cfg_.token_dropout, gen);
    }
    return tb;
  };
  if (objective == "unsup") {
    // Each sentence twice in one forward pass: independent dropout masks make the two views.
    for (int view = 0; view < 2; ++view)
      for (size_t i : batch) rows.push_back(&examples[i].texts[0]);
    TensorBatch tb = contrast_batch();
    auto z = encoder_->encode(tb.ids, tb.mask, true);
    return info_nce_loss(z.narrow(0, 0, B), z.narrow(0, B, B), cfg_.temperature);
  }
  if (objective == "sup") {
    for (size_t i : batch) rows.push_back(&examples[i].texts[0]);
    for (size_t i : batch) rows.push_back(&examples[i].texts[1]);
    std::vector<int64_t> hard(B, -1);
    for (int64_t k = 0; k < B; ++k) {
      const Example& ex = examples[batch[k]];
      if (ex.texts.size() == 3) {
        hard[k] = static_cast<int64_t>(rows.size()) - B;  // column among candidates
        rows.push_back(&ex.texts[2]);
      }
    }
    TensorBatch tb = contrast_batch();
    auto z = encoder_->encode(tb.ids, tb.mask, true);
    auto candidates = z.narrow(0, B, z.size(0) - B);
    return info_nce_loss(z.narrow(0, 0, B), candidates, cfg_.temperature,
                         torch::tensor(hard, torch::kLong), cfg_.hard_negative_weight);
  }
  if (objective == "cosent") {
    std::vector<float> gold;
    std::vector<int64_t> source;  // --cosent-within-files: each pair's data file
    for (size_t i : batch) rows.push_back(&examples[i].texts[0]);
    for (size_t i : batch) {
      rows.push_back(&examples[i].texts[1]);
      gold.push_back(examples[i].score);
      if (cfg_.cosent_within_files) source.push_back(examples[i].source);
    }
    TensorBatch tb = contrast_batch();
    auto z = encoder_->encode(tb.ids, tb.mask, true);
    const torch::Tensor group = source.empty() ? torch::Tensor() : torch::tensor(source);
    const auto a = z.narrow(0, 0, B), b = z.narrow(0, B, B);
    const auto g = torch::tensor(gold);
    auto loss = cosent_loss(a, b, g, cfg_.cosent_scale, group);
    if (cfg_.cosent_ibn_weight > 0)
      loss = loss + cfg_.cosent_ibn_weight *
                        scored_in_batch_loss(a, b, g, cfg_.cosent_ibn_min_score, cfg_.temperature);
    return loss;
  }
  // mlm
  for (size_t i : batch) rows.push_back(&examples[i].texts[0]);
  TensorBatch tb = build_batch(rows, cfg_.max_len, device_);
  *tokens = tb.tokens;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(cfg_.seed * 1000003ull + stream);
  auto [input, labels] = mask_tokens(tb.ids.cpu(), tb.mask.cpu(), model_config_.encoder.vocab_size,
                                     cfg_.mlm_probability, gen);
  input = input.to(device_);
  labels = labels.to(device_);
  auto hidden = encoder_->forward(input, tb.mask);
  auto selected = labels.ne(-100);
  auto h = hidden.index({selected});
  auto logits = mlm_head_->forward(h, encoder_->embeddings->token->weight);
  return torch::nn::functional::cross_entropy(logits.to(torch::kFloat32), labels.index({selected}));
}

double Trainer::evaluate() {
  if (dev_pairs_.empty()) return -1;
  encoder_->eval();
  BatchEmbedOptions o;
  o.max_len = std::max(cfg_.max_len, std::min(128, model_config_.encoder.max_len));
  o.batch_size = 128;
  o.bf16 = bf16_;
  auto embed = [&](const std::vector<std::string>& texts) {
    std::vector<std::vector<int>> pieces(texts.size());
    for (size_t i = 0; i < texts.size(); ++i) pieces[i] = tokenizer_->encode(texts[i]);
    return embed_piece_lists(encoder_, pieces, o, device_);
  };
  const StsResult r = evaluate_sts(dev_pairs_, embed, model_config_.embedding_dim());
  encoder_->train();
  return r.spearman;
}

void Trainer::append_log(const nlohmann::json& record) {
  std::ofstream out(join_path(cfg_.output, "train_log.jsonl"), std::ios::app);
  out << record.dump() << "\n";
}

void Trainer::prune_log_after(int64_t step) {
  const std::string path = join_path(cfg_.output, "train_log.jsonl");
  if (!path_exists(path)) return;
  std::string kept;
  LineReader reader(path);
  std::string line;
  while (reader.next(line)) {
    try {
      auto j = nlohmann::json::parse(line);
      if (j.value("step", int64_t{0}) <= step) kept += line + "\n";
    } catch (const nlohmann::json::exception&) {
      // A line cut by a kill: drop it.
    }
  }
  write_file_atomic(path, kept);
}

void Trainer::init_ema() {
  torch::NoGradGuard no_grad;
  ema_.clear();
  for (const auto& p : encoder_->parameters()) ema_.push_back(p.detach().clone());
}

void Trainer::update_ema(int64_t step) {
  torch::NoGradGuard no_grad;
  // The average warms up (as TensorFlow's ExponentialMovingAverage with num_updates does) so its
  // start is not dominated by the initial weights.
  const double n = static_cast<double>(step + 1);
  const double decay = std::min(cfg_.ema_decay, (1.0 + n) / (10.0 + n));
  const auto params = encoder_->parameters();
  for (size_t i = 0; i < params.size(); ++i) ema_[i].lerp_(params[i].detach(), 1.0 - decay);
}

void Trainer::swap_ema() {
  torch::NoGradGuard no_grad;
  const auto params = encoder_->parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    torch::Tensor raw = params[i].detach().clone();
    params[i].detach().copy_(ema_[i]);
    ema_[i] = std::move(raw);
  }
}

void Trainer::save_final_model(const std::string& dir, SaveMode mode, int64_t step, double dev) {
  ModelConfig mc = model_config_;
  nlohmann::json training = cfg_;
  mc.provenance["training"] = {
      {"config", training}, {"steps", step}, {"total_steps", total_steps_}};
  if (dev >= 0) mc.provenance["training"]["dev_spearman"] = dev;
  if (initial_dev_ >= 0) mc.provenance["training"]["initial_dev_spearman"] = initial_dev_;
  mc.provenance["training"]["history"] =
      model_config_.provenance.value("training", nlohmann::json());
  save_model(dir, mc, encoder_, tokenizer_->serialized_model(), mode);
}

void Trainer::save_checkpoint(int64_t step) {
  namespace fs = std::filesystem;
  const fs::path root = fs::path(cfg_.output) / kCheckpointsDir;
  make_directories(root.string());
  AtomicDirectory dir((root / step_dir_name(step)).string());
  write_model_files(dir.temp_path(), model_config_, encoder_, tokenizer_->serialized_model());
  if (mlm_head_)
    write_file_atomic(join_path(dir.temp_path(), "mlm_head.safetensors"),
                      serialize_safetensors(module_tensors(*mlm_head_)));
  torch::save(*optimizer_, join_path(dir.temp_path(), "optimizer.pt"));
  if (uses_ema()) {
    EmaWeights ema(this);
    write_file_atomic(join_path(dir.temp_path(), "ema.safetensors"),
                      serialize_safetensors(module_tensors(*encoder_)));
  }
  const double elapsed =
      elapsed_before_ + std::chrono::duration<double>(Clock::now() - start_time_).count();
  nlohmann::json state = {{"step", step},
                          {"batches_drawn", sampler_->batches_drawn()},
                          {"best_dev", best_dev_},
                          {"best_step", best_step_},
                          {"initial_dev", initial_dev_},
                          {"elapsed_seconds", elapsed},
                          {"objective", cfg_.objective},
                          {"examples", examples_.size()},
                          {"data_fingerprint", data_fingerprint_},
                          {"aux_examples", aux_examples_.size()},
                          {"aux_data_fingerprint", aux_data_fingerprint_},
                          {"train_config", cfg_}};
  write_file_atomic(join_path(dir.temp_path(), "state.json"), state.dump(2) + "\n");
  dir.commit();
  // Keep the newest `keep_checkpoints`.
  std::vector<fs::path> all;
  for (const auto& e : fs::directory_iterator(root)) {
    const std::string name = e.path().filename().string();
    if (e.is_directory() && name.rfind("step-", 0) == 0 && name.find(".tmp-") == std::string::npos)
      all.push_back(e.path());
  }
  std::sort(all.begin(), all.end());
  for (size_t i = 0; i + cfg_.keep_checkpoints < all.size(); ++i) remove_all(all[i].string());
}

void Trainer::load_checkpoint(const std::filesystem::path& dir) {
  const nlohmann::json state = nlohmann::json::parse(read_file((dir / "state.json").string()));
  if (state.value("objective", "") != cfg_.objective)
    throw std::invalid_argument("train --resume: the checkpoint in " + dir.string() +
                                " was made by objective '" + state.value("objective", "") +
                                "', not '" + cfg_.objective + "'");
  if (!cfg_.aux_objective.empty() &&
      state.value("train_config", nlohmann::json()).value("aux_objective", "") !=
          cfg_.aux_objective)
    throw std::invalid_argument("train --resume: the checkpoint in " + dir.string() +
                                " was not made with --aux-objective " + cfg_.aux_objective);
  LoadedModel m = load_model(dir.string(), torch::kCPU);
  model_config_ = m.config;
  tokenizer_ = m.tokenizer;
  encoder_ = m.encoder;
  encoder_->to(device_);
  if (cfg_.objective == "mlm") {
    mlm_head_ = MlmHead(model_config_.encoder);
    load_module_tensors(*mlm_head_, SafetensorsFile::read((dir / "mlm_head.safetensors").string()));
    mlm_head_->to(device_);
  }
  setup_optimizer();
  torch::load(*optimizer_, (dir / "optimizer.pt").string(), device_);
  if (uses_ema()) {
    const std::string ema_path = (dir / "ema.safetensors").string();
    if (!path_exists(ema_path))
      throw std::invalid_argument("train --resume: --ema-decay is set but the checkpoint in " +
                                  dir.string() + " has no moving average (made without it)");
    init_ema();  // the raw weights, swapped back into the encoder below
    load_module_tensors(*encoder_, SafetensorsFile::read(ema_path));
    swap_ema();
  }
  start_step_ = state.at("step").get<int64_t>();
  best_dev_ = state.value("best_dev", -1.0);
  best_step_ = state.value("best_step", int64_t{-1});
  initial_dev_ = state.value("initial_dev", -1.0);
  elapsed_before_ = state.value("elapsed_seconds", 0.0);
  setup_data();
  // The saved sampler positions index these examples: other data (an edited file, another
  // tokenizer) would silently replay other batches. (Checkpoints older than the fingerprint
  // carry none and are not checked.)
  auto same_data = [&](const char* what, const char* key, const char* count_key,
                       const std::string& now, size_t now_count) {
    const std::string then = state.value(key, "");
    if (then.empty() || then == now) return;
    throw std::invalid_argument(
        "train --resume: the " + std::string(what) + " (" + std::to_string(now_count) +
        " examples) differ from what the checkpoint in " + dir.string() + " was trained on (" +
        std::to_string(state.value(count_key, int64_t{0})) +
        " examples): resume with the same files and tokenizer, or start a new output directory");
  };
  same_data("training data", "data_fingerprint", "examples", data_fingerprint_, examples_.size());
  same_data("--aux-data", "aux_data_fingerprint", "aux_examples", aux_data_fingerprint_,
            aux_examples_.size());
  sampler_->seek(state.at("batches_drawn").get<int64_t>());
  if (aux_sampler_) aux_sampler_->seek(start_step_);  // one batch per step
  prune_log_after(start_step_);
  log_info("resumed from " + dir.string() + " at step " + std::to_string(start_step_));
}

TrainResult Trainer::run() {
  cfg_.validate();
  configure_torch_threads(cfg_.threads);
  device_ = resolve_device(cfg_.device);
  bf16_ = bf16_autocast_for(cfg_.bf16, device_.is_cuda());
  if (device_.is_cuda()) {
    // Full-precision matmuls stay fp32 unless --bf16; TF32 would silently change numerics.
  }
  const std::filesystem::path ckpt = newest_checkpoint(cfg_.output);
  if (cfg_.resume) {
    if (ckpt.empty())
      throw std::invalid_argument("train --resume: no checkpoint in '" + cfg_.output +
                                  "/checkpoints'");
    load_checkpoint(ckpt);
  } else {
    if (is_directory(cfg_.output) && !std::filesystem::is_empty(cfg_.output))
      throw std::invalid_argument("train: output directory '" + cfg_.output +
                                  "' exists and is not empty (use --resume to continue it, or "
                                  "choose a new directory)");
    make_directories(cfg_.output);
    setup_model();
    setup_data();
    set_token_weights();
    setup_optimizer();
    if (uses_ema()) init_ema();
  }
  write_file_atomic(join_path(cfg_.output, "train_config.json"),
                    nlohmann::json(cfg_).dump(2) + "\n");
  nlohmann::json effective = cfg_;
  effective["encoder"] = model_config_.encoder;
  effective["pooling"] = model_config_.pooling;
  effective["resolved_device"] = device_.str();
  effective["resolved_bf16"] = bf16_;
  effective["total_steps"] = total_steps_;
  log_info("train config: " + effective.dump());

  start_time_ = Clock::now();
  TrainResult result;
  if (!dev_pairs_.empty() && start_step_ == 0) {
    initial_dev_ = evaluate();
    log_info("dev spearman before training: " + std::to_string(initial_dev_));
    append_log({{"step", 0}, {"dev_spearman", initial_dev_}});
  }
  encoder_->train();
  if (mlm_head_) mlm_head_->train();

  std::vector<torch::Tensor> params;
  for (auto& p : encoder_->parameters()) params.push_back(p);
  if (mlm_head_)
    for (auto& p : mlm_head_->parameters()) params.push_back(p);

  std::unique_ptr<Progress> progress;
  if (cfg_.progress) progress = std::make_unique<Progress>("train", total_steps_, "steps", 10.0);
  double loss_sum = 0, aux_loss_sum = 0;
  int64_t loss_count = 0, tokens_window = 0, sentences_window = 0;
  int64_t tokens_total = 0, sentences_total = 0;
  auto window_start = Clock::now();
  int64_t step = start_step_;
  double last_loss = 0;
  while (step < total_steps_) {
    const double elapsed =
        elapsed_before_ + std::chrono::duration<double>(Clock::now() - start_time_).count();
    if (cfg_.time_limit > 0 && elapsed >= cfg_.time_limit) {
      log_info("time limit reached at step " + std::to_string(step));
      break;
    }
    if (g_stop_requested) break;
    const double lr = lr_at(step, elapsed);
    for (auto& group : optimizer_->param_groups())
      static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
    // Per-step seeding makes dropout and masking a function of (seed, step): a resumed run
    // replays exactly what an uninterrupted one would have done.
    torch::manual_seed(cfg_.seed * 7919ull + static_cast<uint64_t>(step));
    const std::vector<size_t> batch = sampler_->next();
    int64_t tokens = 0, examples_in_step = static_cast<int64_t>(batch.size());
    optimizer_->zero_grad();
    torch::Tensor loss =
        step_loss(cfg_.objective, examples_, batch, static_cast<uint64_t>(step), &tokens);
    torch::Tensor aux_loss;
    if (aux_sampler_) {
      // The second task's batch, its cut-off stream offset from the first task's.
      const std::vector<size_t> aux_batch = aux_sampler_->next();
      int64_t aux_tokens = 0;
      aux_loss = step_loss(cfg_.aux_objective, aux_examples_, aux_batch,
                           static_cast<uint64_t>(step) + (uint64_t{1} << 40), &aux_tokens);
      loss = loss + cfg_.aux_weight * aux_loss;
      tokens += aux_tokens;
      examples_in_step += static_cast<int64_t>(aux_batch.size());
    }
    loss.backward();
    if (cfg_.grad_clip > 0) torch::nn::utils::clip_grad_norm_(params, cfg_.grad_clip);
    optimizer_->step();
    if (uses_ema()) update_ema(step);
    ++step;
    last_loss = loss.item<double>();
    if (!std::isfinite(last_loss))
      throw std::runtime_error("training diverged: loss is " + std::to_string(last_loss) +
                               " at step " + std::to_string(step) + " (lower --lr?)");
    loss_sum += last_loss;
    if (aux_loss.defined()) aux_loss_sum += aux_loss.item<double>();
    ++loss_count;
    tokens_window += tokens;
    sentences_window += examples_in_step;
    tokens_total += tokens;
    sentences_total += examples_in_step;

    const bool eval_now =
        !dev_pairs_.empty() && (step % cfg_.eval_every == 0 || step == total_steps_);
    if (step % cfg_.log_every == 0 || step == total_steps_ || eval_now) {
      const double secs = std::chrono::duration<double>(Clock::now() - window_start).count();
      nlohmann::json rec = {{"step", step},
                            {"epoch", sampler_->epoch()},
                            {"loss", loss_sum / std::max<int64_t>(1, loss_count)},
                            {"lr", lr},
                            {"sentences_per_s", secs > 0 ? sentences_window / secs : 0.0},
                            {"tokens_per_s", secs > 0 ? tokens_window / secs : 0.0}};
      if (aux_sampler_) rec["aux_loss"] = aux_loss_sum / std::max<int64_t>(1, loss_count);
      if (eval_now) {
        EmaWeights ema(this);
        const double dev = evaluate();
        rec["dev_spearman"] = dev;
        if (dev > best_dev_) {
          best_dev_ = dev;
          best_step_ = step;
          save_final_model(cfg_.output, SaveMode::kUpdateFiles, step, dev);
        }
      }
      append_log(rec);
      if (progress) {
        char buf[200];
        std::snprintf(buf, sizeof(buf), "epoch %lld lr %.2e loss %.4f sent/s %.0f tok/s %.0f",
                      static_cast<long long>(sampler_->epoch()), lr, rec["loss"].get<double>(),
                      rec["sentences_per_s"].get<double>(), rec["tokens_per_s"].get<double>());
        std::string extra = buf;
        if (rec.contains("dev_spearman"))
          extra += " dev " + std::to_string(rec["dev_spearman"].get<double>()).substr(0, 5);
        progress->update(step, extra);
      }
      loss_sum = aux_loss_sum = 0;
      loss_count = tokens_window = sentences_window = 0;
      window_start = Clock::now();
    }
    if (cfg_.save_every > 0 && step % cfg_.save_every == 0 && step < total_steps_)
      save_checkpoint(step);
  }
  result.interrupted = g_stop_requested != 0;
  result.steps = step;
  result.final_loss = last_loss;
  result.seconds = std::chrono::duration<double>(Clock::now() - start_time_).count();
  result.tokens_per_second = result.seconds > 0 ? tokens_total / result.seconds : 0;
  result.sentences_per_second = result.seconds > 0 ? sentences_total / result.seconds : 0;
  if (progress) progress->finish(step, "loss " + std::to_string(last_loss));

  save_checkpoint(step);
  EmaWeights ema(this);  // what is saved from here on
  if (result.interrupted) {
    log_info("stopped at step " + std::to_string(step) +
             "; checkpoint saved, continue with --resume");
    if (dev_pairs_.empty()) save_final_model(cfg_.output, SaveMode::kUpdateFiles, step, -1);
  } else if (!dev_pairs_.empty()) {
    // DIR holds the best model; DIR/last the final one.
    if (best_step_ != step) {
      const double dev = evaluate();
      if (dev > best_dev_) {
        best_dev_ = dev;
        best_step_ = step;
        save_final_model(cfg_.output, SaveMode::kUpdateFiles, step, dev);
      }
    }
    save_final_model(join_path(cfg_.output, "last"), SaveMode::kReplaceDirectory, step, -1);
  } else {
    save_final_model(cfg_.output, SaveMode::kUpdateFiles, step, -1);
  }
  result.best_dev = best_dev_;
  result.best_step = best_step_;
  result.initial_dev = initial_dev_;
  return result;
}

}  // namespace

TrainResult train_model(const TrainConfig& config) {
  Trainer trainer(config);
  return trainer.run();
}

}  // namespace sembed
