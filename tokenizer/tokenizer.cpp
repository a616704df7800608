#include "tokenizer/tokenizer.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <algorithm>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <unordered_map>

#include "common/atomic_file.h"
#include "common/line_reader.h"
#include "common/parallel.h"
#include "sembed/version.h"
#include "tokenizer/utf8.h"

namespace sembed {

std::string sentencepiece_version() {
  return SEMBED_SPM_VERSION;
}
std::string tokenizer_sidecar_path(const std::string& model_path) {
  return model_path + ".json";
}

int64_t TokenBatch::num_tokens() const {
  int64_t n = 0;
  for (int32_t l : lengths) n += l;
  return n;
}

void TokenizerConfig::validate() const {
  if (model_type != "unigram" && model_type != "bpe")
    throw std::invalid_argument("tokenizer: model_type must be 'unigram' or 'bpe', got '" +
                                model_type + "'");
  if (vocab_size <= kNumSpecialTokens + 1)
    throw std::invalid_argument("tokenizer: vocab_size must be > " +
                                std::to_string(kNumSpecialTokens + 1));
  if (!(character_coverage > 0.0 && character_coverage <= 1.0))
    throw std::invalid_argument("tokenizer: character_coverage must be in (0, 1]");
  if (input_sentence_size < 0)
    throw std::invalid_argument("tokenizer: input_sentence_size must be >= 0");
  if (max_sentence_bytes <= 0)
    throw std::invalid_argument("tokenizer: max_sentence_bytes must be > 0");
  if (threads < 0) throw std::invalid_argument("tokenizer: threads must be >= 0");
  normalizer.validate();
}

void to_json(nlohmann::json& j, const TokenizerConfig& c) {
  j = nlohmann::json{{"model_type", c.model_type},
                     {"vocab_size", c.vocab_size},
                     {"character_coverage", c.character_coverage},
                     {"input_sentence_size", c.input_sentence_size},
                     {"max_sentence_bytes", c.max_sentence_bytes},
                     {"split_digits", c.split_digits},
                     {"seed", c.seed},
                     {"normalizer", c.normalizer},
                     {"special_tokens",
                      {{"[PAD]", kPadId},
                       {"[UNK]", kUnkId},
                       {"[CLS]", kClsId},
                       {"[SEP]", kSepId},
                       {"[MASK]", kMaskId}}}};
}

void from_json(const nlohmann::json& j, TokenizerConfig& c) {
  TokenizerConfig d;
  c.model_type = j.value("model_type", d.model_type);
  c.vocab_size = j.value("vocab_size", d.vocab_size);
  c.character_coverage = j.value("character_coverage", d.character_coverage);
  c.input_sentence_size = j.value("input_sentence_size", d.input_sentence_size);
  c.max_sentence_bytes = j.value("max_sentence_bytes", d.max_sentence_bytes);
  c.split_digits = j.value("split_digits", d.split_digits);
  c.seed = j.value("seed", d.seed);
  if (j.contains("normalizer")) c.normalizer = j.at("normalizer").get<NormalizerConfig>();
}

namespace {

// Feeds SentencePiece's trainer with normalised lines, reading the corpus once, streaming.
class NormalizingIterator : public sentencepiece::SentenceIterator {
 public:
  NormalizingIterator(const std::string& path, const Normalizer& normalizer)
      : reader_(path), normalizer_(normalizer) {
    Next();
  }
  bool done() const override { return done_; }
  void Next() override {
    std::string line;
    while (!done_) {
      try {
        if (!reader_.next(line)) {
          done_ = true;
          return;
        }
        value_ = normalizer_.normalize(line);
      } catch (const std::exception& e) {
        status_ = sentencepiece::util::Status(sentencepiece::util::StatusCode::kInvalidArgument,
                                              reader_.where() + ": " + e.what());
        done_ = true;
        return;
      }
      if (!value_.empty()) {
        ++lines_;
        return;
      }
    }
  }
  const std::string& value() const override { return value_; }
  sentencepiece::util::Status status() const override { return status_; }
  int64_t lines() const { return lines_; }

 private:
  LineReader reader_;
  const Normalizer& normalizer_;
  std::string value_;
  bool done_ = false;
  int64_t lines_ = 0;
  sentencepiece::util::Status status_;
};

std::string format_double(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

}  // namespace

struct Tokenizer::Impl {
  TokenizerConfig config;
  Normalizer normalizer;
  sentencepiece::SentencePieceProcessor sp;
  std::string serialized;
  explicit Impl(const TokenizerConfig& c) : config(c), normalizer(c.normalizer) {}
};

Tokenizer::Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

void Tokenizer::train(const std::string& input, const std::string& output_model,
                      const TokenizerConfig& config, bool verbose) {
  config.validate();
  if (output_model.empty()) throw std::invalid_argument("tokenizer train: --output is required");
  const Normalizer normalizer(config.normalizer);
  {
    NormalizingIterator probe(input, normalizer);
    if (!probe.status().ok()) throw std::invalid_argument(probe.status().error_message());
    if (probe.done())
      throw std::invalid_argument("tokenizer train: corpus '" + input +
                                  "' is empty (no non-empty line after normalisation)");
  }
  std::unordered_map<std::string, std::string> args = {
      {"model_type", config.model_type},
      {"vocab_size", std::to_string(config.vocab_size)},
      {"character_coverage", format_double(config.character_coverage)},
      {"input_sentence_size", std::to_string(config.input_sentence_size)},
      {"shuffle_input_sentence", "true"},
      {"max_sentence_length", std::to_string(config.max_sentence_bytes)},
      {"num_threads", std::to_string(resolve_threads(config.threads))},
      {"split_digits", config.split_digits ? "true" : "false"},
      {"pad_id", std::to_string(kPadId)},
      {"unk_id", std::to_string(kUnkId)},
      {"bos_id", std::to_string(kClsId)},
      {"eos_id", std::to_string(kSepId)},
      {"pad_piece", "[PAD]"},
      {"unk_piece", "[UNK]"},
      {"bos_piece", "[CLS]"},
      {"eos_piece", "[SEP]"},
      {"control_symbols", "[MASK]"},
      // Text is already normalised by sembed's ICU normaliser: SentencePiece must not change it
      // again, so decode(encode(x)) == x.
      {"normalization_rule_name", "identity"},
      {"remove_extra_whitespaces", "false"},
      {"hard_vocab_limit", "true"},
      {"minloglevel", verbose ? "0" : "1"},
  };
  static std::mutex train_mutex;  // SentencePiece's log level and RNG seed are process-global
  std::lock_guard<std::mutex> lock(train_mutex);
  sentencepiece::SetRandomGeneratorSeed(static_cast<unsigned>(config.seed));
  NormalizingIterator it(input, normalizer);
  std::string serialized;
  auto status = sentencepiece::SentencePieceTrainer::Train(args, &it, &serialized);
  if (!status.ok()) {
    std::string msg = status.error_message();
    if (!it.status().ok()) msg = it.status().error_message();
    throw std::invalid_argument("tokenizer train: " + msg);
  }
  // Check the result loads and has the documented special ids before anything is written.
  Tokenizer check = from_serialized(serialized, config);
  nlohmann::json sidecar = {{"format", "sembed-tokenizer"}, {"version", 1}, {"config", config}};
  write_file_atomic(tokenizer_sidecar_path(output_model), sidecar.dump(2) + "\n");
  write_file_atomic(output_model, serialized);
}

Tokenizer Tokenizer::from_serialized(const std::string& serialized, const TokenizerConfig& config) {
  config.validate();
  Tokenizer t;
  t.impl_ = std::make_unique<Impl>(config);
  auto status = t.impl_->sp.LoadFromSerializedProto(serialized);
  if (!status.ok())
    throw std::runtime_error(std::string("not a SentencePiece model: ") + status.error_message());
  t.impl_->serialized = serialized;
  const std::pair<int, const char*> specials[] = {{kPadId, "[PAD]"},
                                                  {kUnkId, "[UNK]"},
                                                  {kClsId, "[CLS]"},
                                                  {kSepId, "[SEP]"},
                                                  {kMaskId, "[MASK]"}};
  if (t.impl_->sp.GetPieceSize() <= kNumSpecialTokens)
    throw std::runtime_error("tokenizer model has too few pieces");
  for (const auto& [id, piece] : specials) {
    if (t.impl_->sp.IdToPiece(id) != piece)
      throw std::runtime_error(std::string("not a sembed tokenizer: id ") + std::to_string(id) +
                               " must be " + piece + ", found '" + t.impl_->sp.IdToPiece(id) + "'");
  }
  t.impl_->config.vocab_size = t.impl_->sp.GetPieceSize();
  return t;
}

Tokenizer Tokenizer::load(const std::string& model_path, const TokenizerConfig& config) {
  try {
    return from_serialized(read_file(model_path), config);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error("cannot load tokenizer '" + model_path + "': " + e.what());
  }
}

Tokenizer Tokenizer::load(const std::string& model_path) {
  const std::string sidecar_path = tokenizer_sidecar_path(model_path);
  if (!path_exists(sidecar_path))
    throw std::runtime_error("tokenizer config '" + sidecar_path + "' is missing (it is written " +
                             "next to the model by 'sembed tokenizer train')");
  TokenizerConfig config;
  try {
    auto j = nlohmann::json::parse(read_file(sidecar_path));
    if (j.value("format", "") != "sembed-tokenizer")
      throw std::runtime_error("not a sembed tokenizer config");
    config = j.at("config").get<TokenizerConfig>();
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error("invalid tokenizer config '" + sidecar_path + "': " + e.what());
  }
  return load(model_path, config);
}

std::vector<int> Tokenizer::encode_normalized(std::string_view normalized) const {
  std::vector<int> ids;
  auto status = impl_->sp.Encode(normalized, &ids);
  if (!status.ok())
    throw std::runtime_error(std::string("encode failed: ") + status.error_message());
  return ids;
}

std::vector<int> Tokenizer::encode(std::string_view text) const {
  return encode_normalized(impl_->normalizer.normalize(text));
}

std::vector<std::vector<int>> Tokenizer::nbest_encode_normalized(std::string_view normalized,
                                                                 int nbest) const {
  if (nbest < 1 || nbest > 1024) throw std::invalid_argument("nbest must be in [1, 1024]");
  std::vector<std::vector<int>> ids;
  auto status = impl_->sp.NBestEncode(normalized, nbest, &ids);
  if (!status.ok())
    throw std::runtime_error(std::string("n-best encode failed: ") + status.error_message());
  return ids;
}

float Tokenizer::piece_score(int id) const {
  if (id < 0 || id >= vocab_size())
    throw std::invalid_argument("piece id " + std::to_string(id) + " out of range");
  return impl_->sp.GetScore(id);
}

std::vector<std::string> Tokenizer::encode_pieces(std::string_view text) const {
  std::vector<std::string> pieces;
  auto status = impl_->sp.Encode(impl_->normalizer.normalize(text), &pieces);
  if (!status.ok())
    throw std::runtime_error(std::string("encode failed: ") + status.error_message());
  return pieces;
}

TokenBatch Tokenizer::encode_batch(const std::vector<std::string>& texts, int max_len,
                                   int threads) const {
  if (max_len < 3) throw std::invalid_argument("max_len must be >= 3 (CLS, one piece, SEP)");
  const size_t n = texts.size();
  std::vector<std::vector<int>> pieces(n);
  // Small batches are not worth threads.
  const int workers = n < 64 ? 1 : resolve_threads(threads);
  parallel_for(n, workers, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) {
      try {
        pieces[i] = encode(texts[i]);
      } catch (const InvalidUtf8Error& err) {
        throw InvalidUtf8Error("text " + std::to_string(i) + ": " + err.what(), err.byte_offset());
      }
    }
  });
  TokenBatch batch;
  batch.batch_size = static_cast<int64_t>(n);
  batch.lengths.resize(n);
  batch.truncated.resize(n);
  const size_t room = static_cast<size_t>(max_len) - 2;
  int64_t longest = 0;
  for (size_t i = 0; i < n; ++i) {
    const size_t kept = std::min(pieces[i].size(), room);
    batch.truncated[i] = pieces[i].size() > room;
    batch.lengths[i] = static_cast<int32_t>(kept + 2);
    longest = std::max<int64_t>(longest, batch.lengths[i]);
  }
  batch.seq_len = n == 0 ? 0 : longest;
  batch.ids.assign(n * batch.seq_len, kPadId);
  batch.mask.assign(n * batch.seq_len, 0);
  for (size_t i = 0; i < n; ++i) {
    int64_t* row = batch.ids.data() + i * batch.seq_len;
    uint8_t* m = batch.mask.data() + i * batch.seq_len;
    const int32_t len = batch.lengths[i];
    row[0] = kClsId;
    for (int32_t k = 0; k + 2 < len; ++k) row[k + 1] = pieces[i][k];
    row[len - 1] = kSepId;
    std::fill(m, m + len, 1);
  }
  return batch;
}

std::string Tokenizer::decode(const std::vector<int>& ids) const {
  const int size = impl_->sp.GetPieceSize();
  std::vector<int> kept;
  kept.reserve(ids.size());
  for (int id : ids) {
    if (id < 0 || id >= size)
      throw std::invalid_argument("token id " + std::to_string(id) + " out of range [0, " +
                                  std::to_string(size) + ")");
    if (id < kNumSpecialTokens && id != kUnkId) continue;
    kept.push_back(id);
  }
  std::string text;
  auto status = impl_->sp.Decode(kept, &text);
  if (!status.ok())
    throw std::runtime_error(std::string("decode failed: ") + status.error_message());
  return text;
}

int Tokenizer::vocab_size() const {
  return impl_->sp.GetPieceSize();
}
std::string Tokenizer::id_to_piece(int id) const {
  if (id < 0 || id >= vocab_size())
    throw std::invalid_argument("token id " + std::to_string(id) + " out of range");
  return impl_->sp.IdToPiece(id);
}
int Tokenizer::piece_to_id(const std::string& piece) const {
  int id = impl_->sp.PieceToId(piece);
  if (id == kUnkId && piece != "[UNK]") return -1;
  return id;
}
const TokenizerConfig& Tokenizer::config() const {
  return impl_->config;
}
const Normalizer& Tokenizer::normalizer() const {
  return impl_->normalizer;
}
const std::string& Tokenizer::serialized_model() const {
  return impl_->serialized;
}

}  // namespace sembed
