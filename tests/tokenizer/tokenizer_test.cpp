#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/test_support.h"
#include "tokenizer/utf8.h"

namespace sembed {
namespace {

using test::read_text;
using test::ScratchDir;
using test::write_text;

constexpr int kVocabSize = 300;

// Small on purpose: unigram training time grows with the number of distinct words, and ctest
// runs each test in its own process, each training its own tokenizer (~0.2 s here).
std::vector<std::string> training_lines() {
  std::vector<std::string> lines = test::synthetic_corpus(400, 3);
  for (auto& s : test::subword_corpus(300, 3)) lines.push_back(std::move(s));
  return lines;
}

// Texts the tokenizer has not seen, made of characters it has seen, some of them messy.
std::vector<std::string> unseen_texts() {
  return {"The cat reads the blue sea after dinner.",
          "  My brother   sells a broken clock\tat night!  ",
          "QUIBAFO 1234 (zetrel) \"plonka\"... ok?!",
          "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ",
          "a",
          "x - y; z: w, v's."};
}

// Two small tokenizers trained on a corpus written by the tests: unigram with the default
// normaliser, bpe with case folding (so the sidecar's normaliser settings are exercised).
class TrainedTokenizerTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    dir_ = new ScratchDir("tokenizer");
    test::write_lines(corpus_path(), training_lines());
  }
  static void TearDownTestSuite() {
    tokenizers_.clear();
    delete dir_;
    dir_ = nullptr;
  }

  static std::string corpus_path() { return dir_->file("corpus.txt"); }
  static std::string model_path(const std::string& type) { return dir_->file(type + ".model"); }
  std::string model_path() const { return model_path(GetParam()); }

  // Trained on first use: ctest runs every test in its own process, and a process that runs
  // only unigram tests should not pay for training bpe too.
  static const Tokenizer& tokenizer_for(const std::string& type) {
    auto it = tokenizers_.find(type);
    if (it == tokenizers_.end()) {
      TokenizerConfig config;
      config.model_type = type;
      config.vocab_size = kVocabSize;
      config.character_coverage = 1.0;  // every character of the corpus gets a piece
      config.threads = 2;
      config.normalizer.lowercase = (type == "bpe");
      Tokenizer::train(corpus_path(), model_path(type), config);
      it = tokenizers_.emplace(type, Tokenizer::load(model_path(type))).first;
    }
    return it->second;
  }
  const Tokenizer& tokenizer() const { return tokenizer_for(GetParam()); }

  static ScratchDir* dir_;
  static std::map<std::string, Tokenizer> tokenizers_;
};

ScratchDir* TrainedTokenizerTest::dir_ = nullptr;
std::map<std::string, Tokenizer> TrainedTokenizerTest::tokenizers_;

TEST_P(TrainedTokenizerTest, SpecialTokensHaveFixedIds) {
  const Tokenizer& tok = tokenizer();
  EXPECT_EQ(tok.vocab_size(), kVocabSize);
  EXPECT_EQ(tok.id_to_piece(kPadId), "[PAD]");
  EXPECT_EQ(tok.id_to_piece(kUnkId), "[UNK]");
  EXPECT_EQ(tok.id_to_piece(kClsId), "[CLS]");
  EXPECT_EQ(tok.id_to_piece(kSepId), "[SEP]");
  EXPECT_EQ(tok.id_to_piece(kMaskId), "[MASK]");
  EXPECT_EQ(tok.piece_to_id("[MASK]"), kMaskId);
  EXPECT_EQ(tok.piece_to_id("[UNK]"), kUnkId);
  EXPECT_EQ(tok.piece_to_id("no-such-piece-in-the-vocabulary"), -1);
  EXPECT_THROW(tok.id_to_piece(-1), std::invalid_argument);
  EXPECT_THROW(tok.id_to_piece(kVocabSize), std::invalid_argument);
}

TEST_P(TrainedTokenizerTest, SidecarRecordsTheTrainingConfig) {
  tokenizer();
  const auto sidecar = nlohmann::json::parse(read_text(tokenizer_sidecar_path(model_path())));
  EXPECT_EQ(tokenizer_sidecar_path(model_path()), model_path() + ".json");
  EXPECT_EQ(sidecar.at("format"), "sembed-tokenizer");
  EXPECT_EQ(sidecar.at("version"), 1);
  const auto& config = sidecar.at("config");
  EXPECT_EQ(config.at("model_type"), GetParam());
  EXPECT_EQ(config.at("vocab_size"), kVocabSize);
  EXPECT_EQ(config.at("normalizer").at("lowercase"), GetParam() == "bpe");
  EXPECT_EQ(config.at("special_tokens").at("[PAD]"), kPadId);
  EXPECT_EQ(config.at("special_tokens").at("[MASK]"), kMaskId);
  // Loading restores the normaliser the tokenizer was trained with.
  EXPECT_EQ(tokenizer().config().model_type, GetParam());
  EXPECT_EQ(tokenizer().config().normalizer.lowercase, GetParam() == "bpe");
}

TEST_P(TrainedTokenizerTest, DecodeInvertsEncodeOnNormalisedText) {
  const Tokenizer& tok = tokenizer();
  std::vector<std::string> texts = unseen_texts();
  const auto corpus = training_lines();
  texts.insert(texts.end(), corpus.begin(), corpus.begin() + 50);
  texts.insert(texts.end(), corpus.end() - 50, corpus.end());
  for (const auto& text : texts) {
    const std::vector<int> ids = tok.encode(text);
    for (int id : ids) {
      ASSERT_GE(id, kNumSpecialTokens) << "'" << text << "': no special or unknown piece";
      ASSERT_LT(id, tok.vocab_size());
    }
    EXPECT_EQ(tok.decode(ids), tok.normalizer().normalize(text)) << text;
  }
}

TEST_P(TrainedTokenizerTest, EncodeNormalisesFirst) {
  const Tokenizer& tok = tokenizer();
  EXPECT_EQ(tok.encode("\u200B Ｔｈｅ\u00A0cat\t reads. "), tok.encode("The cat reads."));
  const std::string text = "  The  small bird\tfinds (a) box ";
  EXPECT_EQ(tok.encode_normalized(tok.normalizer().normalize(text)), tok.encode(text));
  const auto pieces = tok.encode_pieces(text);
  const auto ids = tok.encode(text);
  ASSERT_EQ(pieces.size(), ids.size());
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(tok.piece_to_id(pieces[i]), ids[i]) << i;
  EXPECT_TRUE(tok.encode("").empty());
  EXPECT_TRUE(tok.encode(" \t ").empty());
}

TEST_P(TrainedTokenizerTest, CaseFoldingFollowsTheSavedConfig) {
  const Tokenizer& tok = tokenizer();
  const bool same = tok.encode("THE CAT READS") == tok.encode("the cat reads");
  EXPECT_EQ(same, tok.config().normalizer.lowercase);
}

TEST_P(TrainedTokenizerTest, UnknownCharactersBecomeUnk) {
  const std::vector<int> ids = tokenizer().encode("cat \u0436 dog");  // Cyrillic zhe: unseen
  EXPECT_NE(std::find(ids.begin(), ids.end(), kUnkId), ids.end());
}

TEST_P(TrainedTokenizerTest, InvalidUtf8IsRejected) {
  EXPECT_THROW(tokenizer().encode("bad \xFF"), InvalidUtf8Error);
}

TEST_P(TrainedTokenizerTest, DecodeSkipsSpecialTokens) {
  const Tokenizer& tok = tokenizer();
  std::vector<int> ids = tok.encode("The river follows the long road.");
  const std::string plain = tok.decode(ids);
  std::vector<int> wrapped = {kClsId};
  wrapped.insert(wrapped.end(), ids.begin(), ids.end());
  wrapped.insert(wrapped.end(), {kMaskId, kSepId, kPadId, kPadId});
  EXPECT_EQ(tok.decode(wrapped), plain);
  EXPECT_EQ(tok.decode({}), "");
}

TEST_P(TrainedTokenizerTest, DecodeRejectsIdsOutOfRange) {
  EXPECT_THROW(tokenizer().decode({7, -1}), std::invalid_argument);
  EXPECT_THROW(tokenizer().decode({7, kVocabSize}), std::invalid_argument);
}

TEST_P(TrainedTokenizerTest, EncodeBatchPadsTruncatesAndMasks) {
  const Tokenizer& tok = tokenizer();
  const std::vector<std::string> texts = {
      "The cat", "", "The old farmer describes the green field with great care near the station.",
      "A dog reads."};
  const int max_len = 10;
  const TokenBatch batch = tok.encode_batch(texts, max_len, 2);
  ASSERT_EQ(batch.batch_size, 4);
  ASSERT_EQ(batch.ids.size(), static_cast<size_t>(batch.batch_size * batch.seq_len));
  ASSERT_EQ(batch.mask.size(), batch.ids.size());
  int64_t longest = 0, total = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::vector<int> pieces = tok.encode(texts[i]);
    const size_t kept = std::min<size_t>(pieces.size(), max_len - 2);
    const int64_t* row = batch.ids.data() + i * batch.seq_len;
    const uint8_t* mask = batch.mask.data() + i * batch.seq_len;
    ASSERT_EQ(batch.lengths[i], static_cast<int32_t>(kept + 2)) << "row " << i;
    EXPECT_EQ(batch.truncated[i], pieces.size() > kept ? 1 : 0) << "row " << i;
    EXPECT_EQ(row[0], kClsId) << "row " << i;
    for (size_t k = 0; k < kept; ++k) EXPECT_EQ(row[k + 1], pieces[k]) << "row " << i << " " << k;
    EXPECT_EQ(row[kept + 1], kSepId) << "row " << i;
    for (int64_t k = 0; k < batch.seq_len; ++k) {
      const bool real = k < batch.lengths[i];
      EXPECT_EQ(mask[k], real ? 1 : 0) << "row " << i << " col " << k;
      if (!real) {
        EXPECT_EQ(row[k], kPadId) << "row " << i << " col " << k;
      }
    }
    longest = std::max<int64_t>(longest, batch.lengths[i]);
    total += batch.lengths[i];
  }
  EXPECT_EQ(batch.seq_len, longest) << "padded to the longest row, not to max_len";
  EXPECT_EQ(batch.num_tokens(), total);
  EXPECT_EQ(batch.truncated[2], 1) << "the long text must have been cut";
  EXPECT_EQ(batch.lengths[2], max_len);
  EXPECT_EQ(batch.lengths[1], 2) << "an empty text is [CLS] [SEP]";
}

TEST_P(TrainedTokenizerTest, EncodeBatchOfNothing) {
  const TokenBatch batch = tokenizer().encode_batch({}, 16);
  EXPECT_EQ(batch.batch_size, 0);
  EXPECT_EQ(batch.seq_len, 0);
  EXPECT_TRUE(batch.ids.empty());
}

TEST_P(TrainedTokenizerTest, EncodeBatchRejectsBadInput) {
  EXPECT_THROW(tokenizer().encode_batch({"a"}, 2), std::invalid_argument);
  std::vector<std::string> texts(100, "fine text");
  texts[70] = "bad \xFF";  // enough texts for the threaded path
  try {
    tokenizer().encode_batch(texts, 16, 2);
    FAIL() << "expected InvalidUtf8Error";
  } catch (const InvalidUtf8Error& e) {
    EXPECT_NE(std::string(e.what()).find("text 70"), std::string::npos) << e.what();
    EXPECT_EQ(e.byte_offset(), 4u);
  }
}

TEST_P(TrainedTokenizerTest, ConcurrentBatchesEqualSerialEncoding) {
  const Tokenizer& tok = tokenizer();
  std::vector<std::string> texts = training_lines();
  texts.resize(600);  // above encode_batch's threshold for using threads
  const int max_len = 24;
  std::vector<std::vector<int>> expected;
  for (const auto& t : texts) expected.push_back(tok.encode(t));
  auto check = [&](const TokenBatch& batch, const std::string& how) {
    ASSERT_EQ(batch.batch_size, static_cast<int64_t>(texts.size())) << how;
    for (size_t i = 0; i < texts.size(); ++i) {
      const int64_t* row = batch.ids.data() + i * batch.seq_len;
      const size_t kept = std::min<size_t>(expected[i].size(), max_len - 2);
      ASSERT_EQ(batch.lengths[i], static_cast<int32_t>(kept + 2)) << how << " row " << i;
      const std::vector<int> got(row + 1, row + 1 + kept);
      ASSERT_EQ(got, std::vector<int>(expected[i].begin(), expected[i].begin() + kept))
          << how << " row " << i;
    }
  };
  check(tok.encode_batch(texts, max_len, 4), "threads=4");
  std::vector<TokenBatch> results(4);
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t)
    callers.emplace_back([&, t] { results[t] = tok.encode_batch(texts, max_len, t % 2 + 1); });
  for (auto& c : callers) c.join();
  for (int t = 0; t < 4; ++t) check(results[t], "caller thread " + std::to_string(t));
}

TEST_P(TrainedTokenizerTest, ReloadingGivesTheSameTokenizer) {
  const Tokenizer& tok = tokenizer();
  EXPECT_EQ(tok.serialized_model(), read_text(model_path()));
  const Tokenizer again = Tokenizer::from_serialized(tok.serialized_model(), tok.config());
  const Tokenizer explicit_config = Tokenizer::load(model_path(), tok.config());
  for (const auto& text : unseen_texts()) {
    EXPECT_EQ(again.encode(text), tok.encode(text)) << text;
    EXPECT_EQ(explicit_config.encode(text), tok.encode(text)) << text;
  }
}

TEST_P(TrainedTokenizerTest, LoadWithoutSidecarThrowsNamingIt) {
  const std::string copy = dir_->file("copy-" + GetParam() + ".model");
  write_text(copy, read_text(model_path()));
  try {
    Tokenizer::load(copy);
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(copy + ".json"), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(ModelTypes, TrainedTokenizerTest, ::testing::Values("unigram", "bpe"),
                         [](const auto& info) { return info.param; });

// ---------------------------------------------------------------- training and loading errors

class TokenizerTrainTest : public ::testing::Test {
 protected:
  TokenizerConfig small_config() const {
    TokenizerConfig config;
    config.vocab_size = 100;
    config.threads = 2;
    return config;
  }
  // The scratch directory must hold nothing but the corpus after a failed training.
  void expect_nothing_written() const {
    EXPECT_FALSE(std::filesystem::exists(model())) << "model written by a failed training";
    EXPECT_FALSE(std::filesystem::exists(model() + ".json")) << "sidecar of a failed training";
    size_t entries = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir_.path()))
      ++entries;
    EXPECT_EQ(entries, 1u) << "only the corpus, no temporary";
  }
  std::string corpus() const { return dir_.file("corpus.txt"); }
  std::string model() const { return dir_.file("tok.model"); }

  ScratchDir dir_{"tokenizer-train"};
};

TEST_F(TokenizerTrainTest, EmptyCorpusIsInvalidArgument) {
  write_text(corpus(), "\n   \n\u200B\n\t\n");  // nothing left after normalisation
  try {
    Tokenizer::train(corpus(), model(), small_config());
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("empty"), std::string::npos) << e.what();
  }
  expect_nothing_written();
}

TEST_F(TokenizerTrainTest, UnreachableVocabSizeIsInvalidArgument) {
  test::write_lines(corpus(), test::synthetic_corpus(200));
  TokenizerConfig config = small_config();
  config.vocab_size = 100000;
  EXPECT_THROW(Tokenizer::train(corpus(), model(), config), std::invalid_argument);
  expect_nothing_written();
}

TEST_F(TokenizerTrainTest, InvalidUtf8InCorpusNamesTheLine) {
  std::vector<std::string> lines = test::synthetic_corpus(200);
  lines[150] = "bad \xFF line";
  test::write_lines(corpus(), lines);
  try {
    Tokenizer::train(corpus(), model(), small_config());
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(corpus() + ":151"), std::string::npos) << e.what();
  }
  expect_nothing_written();
}

TEST_F(TokenizerTrainTest, BadConfigIsInvalidArgument) {
  test::write_lines(corpus(), test::synthetic_corpus(50));
  TokenizerConfig config = small_config();
  config.model_type = "wordpiece";
  EXPECT_THROW(Tokenizer::train(corpus(), model(), config), std::invalid_argument);
  config = small_config();
  config.vocab_size = kNumSpecialTokens;
  EXPECT_THROW(Tokenizer::train(corpus(), model(), config), std::invalid_argument);
  config = small_config();
  config.character_coverage = 0;
  EXPECT_THROW(Tokenizer::train(corpus(), model(), config), std::invalid_argument);
  expect_nothing_written();
}

TEST_F(TokenizerTrainTest, MissingCorpusIsRuntimeError) {
  write_text(corpus(), "");
  EXPECT_THROW(Tokenizer::train(dir_.file("absent.txt"), model(), small_config()),
               std::runtime_error);
  expect_nothing_written();
}

TEST(TokenizerLoadTest, MissingFileIsRuntimeErrorNamingIt) {
  ScratchDir dir("tokenizer-load");
  const std::string missing = dir.file("absent.model");
  for (int explicit_config = 0; explicit_config < 2; ++explicit_config) {
    try {
      if (explicit_config)
        Tokenizer::load(missing, TokenizerConfig{});
      else
        Tokenizer::load(missing);
      FAIL() << "expected std::runtime_error";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("absent.model"), std::string::npos) << e.what();
    }
  }
}

TEST(TokenizerLoadTest, GarbageModelIsRuntimeError) {
  ScratchDir dir("tokenizer-load");
  write_text(dir.file("junk.model"), "this is not a protobuf");
  EXPECT_THROW(Tokenizer::load(dir.file("junk.model"), TokenizerConfig{}), std::runtime_error);
  EXPECT_THROW(Tokenizer::from_serialized("", TokenizerConfig{}), std::runtime_error);
}

TEST(TokenizerLoadTest, SidecarOfAnotherFormatIsRejected) {
  ScratchDir dir("tokenizer-load");
  write_text(dir.file("tok.model"), "irrelevant");
  write_text(dir.file("tok.model.json"), R"({"format": "something-else"})");
  EXPECT_THROW(Tokenizer::load(dir.file("tok.model")), std::runtime_error);
  write_text(dir.file("tok.model.json"), "{ not json");
  EXPECT_THROW(Tokenizer::load(dir.file("tok.model")), std::runtime_error);
}

}  // namespace
}  // namespace sembed
