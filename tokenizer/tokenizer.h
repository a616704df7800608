#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "tokenizer/normalizer.h"

namespace sembed {

// Fixed ids of the special tokens in every sembed tokenizer (documented API: checkpoints
// depend on them).
inline constexpr int kPadId = 0;   // "[PAD]" padding
inline constexpr int kUnkId = 1;   // "[UNK]" unknown piece
inline constexpr int kClsId = 2;   // "[CLS]" first token of every encoded text
inline constexpr int kSepId = 3;   // "[SEP]" last token of every encoded text
inline constexpr int kMaskId = 4;  // "[MASK]" masked-language-model target
inline constexpr int kNumSpecialTokens = 5;

// Everything needed to train a tokenizer and to reproduce its text handling.
struct TokenizerConfig {
  std::string model_type = "unigram";     // "unigram" or "bpe"
  int vocab_size = 8000;                  // total pieces, special tokens included
  double character_coverage = 0.9995;     // fraction of characters covered by the vocabulary
  int64_t input_sentence_size = 2000000;  // sentences sampled for training (0 = all)
  int max_sentence_bytes = 4192;          // longer training sentences are skipped (SentencePiece)
  bool split_digits = true;               // every digit its own piece
  int threads = 0;                        // training threads (0 = all cores)
  int seed = 42;                          // sampling seed
  NormalizerConfig normalizer;            // applied before SentencePiece, at training and encoding

  void validate() const;
};
void to_json(nlohmann::json& j, const TokenizerConfig& c);
void from_json(const nlohmann::json& j, TokenizerConfig& c);

// A padded batch of encoded texts, row-major [batch_size, seq_len]. Every row is
// [CLS] pieces... [SEP] followed by [PAD]s; seq_len is the longest row (dynamic padding).
struct TokenBatch {
  int64_t batch_size = 0;
  int64_t seq_len = 0;
  std::vector<int64_t> ids;        // batch_size * seq_len token ids
  std::vector<uint8_t> mask;       // batch_size * seq_len, 1 = real token, 0 = padding
  std::vector<int32_t> lengths;    // real tokens per row (specials included)
  std::vector<uint8_t> truncated;  // 1 where the text was cut to max_len
  int64_t num_tokens() const;      // sum of lengths
};

// A trained SentencePiece model plus sembed's normaliser. Immutable after load: every const
// method may be called from many threads at once on one object (SentencePiece's processor is
// const-safe), which is what encode_batch does.
class Tokenizer {
 public:
  // Trains on `input` (one text per line; each line normalised with config.normalizer) and
  // writes `output_model` plus its config sidecar (`output_model` + ".json"), both atomically.
  // Throws std::invalid_argument for an empty corpus, a bad config or an unreachable vocab size.
  static void train(const std::string& input, const std::string& output_model,
                    const TokenizerConfig& config, bool verbose = false);

  // Loads `model_path` and its sidecar config (`model_path` + ".json"). Throws
  // std::runtime_error naming the path if either is missing or invalid.
  static Tokenizer load(const std::string& model_path);
  // Loads a SentencePiece model with an explicit config (the model directory keeps the config in
  // its own config.json).
  static Tokenizer load(const std::string& model_path, const TokenizerConfig& config);
  static Tokenizer from_serialized(const std::string& serialized_model,
                                   const TokenizerConfig& config);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Normalises `text` and returns its piece ids (no special tokens). Throws InvalidUtf8Error.
  std::vector<int> encode(std::string_view text) const;
  // Same for text already normalised with this tokenizer's normaliser.
  std::vector<int> encode_normalized(std::string_view normalized) const;
  std::vector<std::string> encode_pieces(std::string_view text) const;
  // The `nbest` most likely segmentations of normalised text, best first (at most nbest; fewer
  // when the text has fewer). nbest must be in [1, 1024].
  std::vector<std::vector<int>> nbest_encode_normalized(std::string_view normalized,
                                                        int nbest) const;
  // The unigram model's log-probability of a piece (0 for special tokens and BPE models).
  float piece_score(int id) const;
  // Normalises and encodes many texts on `threads` threads (0 = all cores) into one padded
  // batch: [CLS] + pieces truncated to max_len - 2 + [SEP]. Equal to encoding each text alone.
  // Throws InvalidUtf8Error naming the index of the first invalid text.
  TokenBatch encode_batch(const std::vector<std::string>& texts, int max_len,
                          int threads = 0) const;
  // Turns ids back into text; special tokens are skipped. Throws std::invalid_argument for ids
  // out of range. decode(encode(x)) == x for normalised x.
  std::string decode(const std::vector<int>& ids) const;

  int vocab_size() const;
  std::string id_to_piece(int id) const;
  // -1 when the piece is not in the vocabulary.
  int piece_to_id(const std::string& piece) const;
  const TokenizerConfig& config() const;
  const Normalizer& normalizer() const;
  // The SentencePiece model as bytes (what tokenizer.model holds).
  const std::string& serialized_model() const;

 private:
  Tokenizer();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The SentencePiece version sembed was built with.
std::string sentencepiece_version();
// Path of the config sidecar of a tokenizer model file.
std::string tokenizer_sidecar_path(const std::string& model_path);

}  // namespace sembed
