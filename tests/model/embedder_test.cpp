// The Embedder and embed_piece_lists: a text's vector must not depend on its batch, its padding,
// the batch size or the token budget; rows are unit vectors; bf16 stays close to fp32; a saved
// and reloaded model embeds identically.
#include "model/embedder.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/atomic_file.h"
#include "common/cpu.h"
#include "model/batch_embed.h"
#include "model/model_io.h"
#include "tests/model/model_fixtures.h"

namespace sembed {
namespace {

using test::max_abs_diff;
using test::sample_texts;
using test::ScratchDir;
using test::tiny_model_dir;

// One thread: ctest runs test processes side by side, and OpenMP workers that spin-wait for a
// descheduled sibling make an oversubscribed 2-thread run many times slower than 1 thread.
EmbedderOptions cpu_options(int batch_size = 64) {
  EmbedderOptions o;
  o.device = "cpu";
  o.batch_size = batch_size;
  o.threads = 1;
  return o;
}

// Rows [begin, end) of a row-major matrix with `dim` columns.
std::vector<float> rows(const std::vector<float>& m, size_t begin, size_t end, size_t dim) {
  return std::vector<float>(m.begin() + begin * dim, m.begin() + end * dim);
}

TEST(EmbedderTest, ReportsTheModelAndRefusesBadInputs) {
  {  // what the model directory says
    Embedder embedder(tiny_model_dir(), cpu_options());
    EXPECT_EQ(embedder.dim(), 128);
    EXPECT_EQ(embedder.max_len(), 64);
    EXPECT_TRUE(embedder.normalizes());
    EXPECT_EQ(embedder.device(), "cpu");
    EXPECT_EQ(embedder.config().pooling.mode, "mean");
    EXPECT_EQ(embedder.tokenizer().vocab_size(), 300);
    EXPECT_EQ(embedder.weights_hash(),
              content_hash(read_file(tiny_model_dir() + "/model.safetensors")));
  }

  {  // no texts, and the empty text
    Embedder embedder(tiny_model_dir(), cpu_options());
    EXPECT_TRUE(embedder.embed({}).empty());
    const auto v = embedder.embed({""});
    ASSERT_EQ(v.size(), 128u);
    for (float x : v) ASSERT_TRUE(std::isfinite(x));
    EXPECT_NE(v, embedder.embed({"a"})) << "[CLS] [SEP] alone is a vector of its own";
  }

  {  // bad inputs and options throw std::invalid_argument
    Embedder embedder(tiny_model_dir(), cpu_options());
    EXPECT_THROW(embedder.embed_pieces({{5, 6}, {300}}, true), std::invalid_argument);
    EXPECT_THROW(embedder.embed_pieces({{-1}}, true), std::invalid_argument);
    try {
      embedder.embed({"fine", "also fine", "bad \xFF"});
      FAIL() << "invalid UTF-8 accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("text 2"), std::string::npos) << e.what();
    }

    EmbedderOptions o = cpu_options();
    o.max_len = 65;
    EXPECT_THROW(Embedder(tiny_model_dir(), o), std::invalid_argument) << "above the model's 64";
    o.max_len = 2;
    EXPECT_THROW(Embedder(tiny_model_dir(), o), std::invalid_argument);
    o = cpu_options(0);
    EXPECT_THROW(Embedder(tiny_model_dir(), o), std::invalid_argument);
    o = cpu_options();
    o.device = "tpu";
    EXPECT_THROW(Embedder(tiny_model_dir(), o), std::invalid_argument);
  }
}

TEST(EmbedderTest, BatchCompositionAndPaddingDoNotChangeVectors) {
  const auto texts = sample_texts();
  const size_t n = texts.size(), d = 128;
  Embedder embedder(tiny_model_dir(), cpu_options());

  // Reference: every text alone (no padding at all).
  std::vector<float> alone;
  for (const auto& t : texts) {
    const auto v = embedder.embed({t});
    alone.insert(alone.end(), v.begin(), v.end());
  }
  ASSERT_EQ(alone.size(), n * d);

  // All in one batch (padded to the longest text).
  EXPECT_LE(max_abs_diff(embedder.embed(texts), alone), 1e-5);

  // Shuffled, and in two halves mixed with other texts.
  std::vector<size_t> perm(n);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), std::mt19937(3));
  std::vector<std::string> shuffled;
  for (size_t i : perm) shuffled.push_back(texts[i]);
  const auto sv = embedder.embed(shuffled);
  for (size_t k = 0; k < n; ++k)
    EXPECT_LE(max_abs_diff(rows(sv, k, k + 1, d), rows(alone, perm[k], perm[k] + 1, d)), 1e-5)
        << "text " << perm[k];
  std::vector<std::string> first(texts.begin(), texts.begin() + n / 2);
  std::vector<std::string> second(texts.begin() + n / 2, texts.end());
  for (const auto& s : test::synthetic_corpus(5, 99)) first.push_back(s);
  second.insert(second.begin(), test::sample_texts().back());  // a long neighbour
  const auto fv = embedder.embed(first);
  const auto sv2 = embedder.embed(second);
  EXPECT_LE(max_abs_diff(rows(fv, 0, n / 2, d), rows(alone, 0, n / 2, d)), 1e-5);
  EXPECT_LE(max_abs_diff(rows(sv2, 1, n - n / 2 + 1, d), rows(alone, n / 2, n, d)), 1e-5);

  // Other batch sizes.
  for (int batch_size : {1, 3, 7}) {
    Embedder other(tiny_model_dir(), cpu_options(batch_size));
    EmbedStats stats;
    EXPECT_LE(max_abs_diff(other.embed(texts, &stats), alone), 1e-5) << "batch " << batch_size;
    EXPECT_EQ(stats.batches, static_cast<int64_t>((n + batch_size - 1) / batch_size));
  }

  // A padded-token budget instead of a batch size.
  std::vector<std::vector<int>> pieces;
  for (const auto& t : texts) pieces.push_back(embedder.tokenizer().encode(t));
  for (int64_t budget : {1, 64, 200, 1000}) {
    EmbedStats stats;
    EXPECT_LE(max_abs_diff(embedder.embed_pieces(pieces, true, budget, &stats), alone), 1e-5)
        << "max_batch_tokens " << budget;
    EXPECT_GT(stats.batches, 0);
    if (budget == 1) {
      EXPECT_EQ(stats.batches, static_cast<int64_t>(n)) << "at least one text per batch";
    }
  }
}

TEST(EmbedderTest, UnitRowsAndBf16CloseToFp32) {
  {  // rows are unit vectors when normalising
    const auto texts = sample_texts();
    Embedder embedder(tiny_model_dir(), cpu_options());
    const auto v = embedder.embed(texts);
    for (size_t r = 0; r < texts.size(); ++r) {
      double sq = 0;
      for (size_t k = r * 128; k < (r + 1) * 128; ++k) sq += static_cast<double>(v[k]) * v[k];
      EXPECT_NEAR(std::sqrt(sq), 1.0, 1e-5) << "row " << r;
    }

    EmbedderOptions raw_options = cpu_options();
    raw_options.normalize = 0;
    Embedder raw(tiny_model_dir(), raw_options);
    EXPECT_FALSE(raw.normalizes());
    const auto rv = raw.embed(texts);
    double sq = 0;
    for (size_t k = 0; k < 128; ++k) sq += static_cast<double>(rv[k]) * rv[k];
    EXPECT_GT(std::fabs(std::sqrt(sq) - 1.0), 0.1) << "normalize = 0 keeps the raw mean";
    // Normalising the raw vectors by hand gives the normalised ones.
    std::vector<float> by_hand(rv);
    for (size_t r = 0; r < texts.size(); ++r) {
      double s = 0;
      for (size_t k = r * 128; k < (r + 1) * 128; ++k) s += static_cast<double>(rv[k]) * rv[k];
      for (size_t k = r * 128; k < (r + 1) * 128; ++k)
        by_hand[k] = static_cast<float>(rv[k] / std::sqrt(s));
    }
    EXPECT_LE(max_abs_diff(by_hand, v), 1e-5);
  }

  {  // bf16 vectors stay close to fp32 ones (bf16 forced where the CPU would only emulate it)
    const auto texts = sample_texts();
    Embedder fp32(tiny_model_dir(), cpu_options());
    EmbedderOptions o = cpu_options();
    o.bf16 = true;
    Embedder bf16(tiny_model_dir(), o);
    const auto a = fp32.embed(texts);
    if (!cpu_has_native_bf16()) {
      // Without native bf16 a request for it runs fp32 (common/cpu.h): the very same vectors.
      ::unsetenv("SEMBED_FORCE_BF16");
      EXPECT_EQ(max_abs_diff(a, bf16.embed(texts)), 0.0f);
    }
    ::setenv("SEMBED_FORCE_BF16", "1", 1);
    const auto b = bf16.embed(texts);
    ::unsetenv("SEMBED_FORCE_BF16");
    ASSERT_EQ(a.size(), b.size());
    EXPECT_GT(max_abs_diff(a, b), 0.0f) << "bf16 autocast must actually change the arithmetic";
    for (size_t r = 0; r < texts.size(); ++r)
      EXPECT_GE(test::row_cosine(a, b, r, 128), 0.99) << "row " << r;
  }
}

TEST(EmbedderTest, SaveLoadGivesIdenticalVectors) {
  ScratchDir dir("embedder-save");
  const auto texts = sample_texts();
  Embedder original(tiny_model_dir(), cpu_options());
  const auto expected = original.embed(texts);

  LoadedModel loaded = load_model(tiny_model_dir());
  save_model(dir.file("copy"), loaded.config, loaded.encoder, loaded.tokenizer->serialized_model());
  Embedder copy(dir.file("copy"), cpu_options());
  EXPECT_EQ(copy.embed(texts), expected) << "bit-identical";
  EXPECT_EQ(copy.weights_hash(), original.weights_hash()) << "same bytes written";
}

TEST(EmbedderTest, TruncatesLongTextsAndCountsThem) {
  const auto texts = sample_texts();
  const std::string& long_text = texts.back();
  Embedder embedder(tiny_model_dir(), cpu_options());
  const auto pieces = embedder.tokenizer().encode(long_text);
  ASSERT_GT(pieces.size(), 62u) << "the fixture's long text must exceed max_len";
  EmbedStats stats;
  const auto v = embedder.embed({long_text, "short"}, &stats);
  EXPECT_EQ(stats.texts, 2);
  EXPECT_EQ(stats.truncated, 1);
  EXPECT_EQ(stats.batches, 1);
  EXPECT_EQ(stats.tokens,
            64 + static_cast<int64_t>(embedder.tokenizer().encode("short").size()) + 2);
  // Truncation keeps the first max_len - 2 pieces.
  const std::vector<int> head(pieces.begin(), pieces.begin() + 62);
  const auto cut = embedder.embed_pieces({head}, true);
  EXPECT_LE(max_abs_diff(rows(v, 0, 1, 128), cut), 1e-5);

  // A smaller max_len option truncates earlier.
  EmbedderOptions o = cpu_options();
  o.max_len = 10;
  Embedder short_embedder(tiny_model_dir(), o);
  EXPECT_EQ(short_embedder.max_len(), 10);
  EmbedStats short_stats;
  const auto sv = short_embedder.embed({long_text}, &short_stats);
  EXPECT_EQ(short_stats.tokens, 10);
  const std::vector<int> head8(pieces.begin(), pieces.begin() + 8);
  EXPECT_LE(max_abs_diff(sv, embedder.embed_pieces({head8}, true)), 1e-5);
}

TEST(EmbedderTest, ConcurrentCallsAgreeWithSerialOnes) {
  const auto texts = sample_texts();
  Embedder embedder(tiny_model_dir(), cpu_options(4));
  const auto expected = embedder.embed(texts);
  std::vector<std::vector<float>> results(3);
  std::vector<std::thread> threads;
  for (auto& r : results) threads.emplace_back([&] { r = embedder.embed(texts); });
  for (auto& t : threads) t.join();
  for (const auto& r : results) EXPECT_LE(max_abs_diff(r, expected), 1e-5);
}

TEST(BatchEmbedTest, MatchesTheEncoderOnOnePaddedBatch) {
  LoadedModel m = load_model(tiny_model_dir());
  const std::vector<std::vector<int>> pieces = {{10, 11, 12}, {20}, {30, 31, 32, 33, 34}};
  BatchEmbedOptions o;
  o.max_len = 64;
  EmbedStats stats;
  const auto v = embed_piece_lists(m.encoder, pieces, o, torch::kCPU, &stats);
  EXPECT_EQ(stats.tokens, 5 + 3 + 7);
  // The same batch built by hand, in input order.
  torch::NoGradGuard no_grad;
  auto ids = torch::tensor({2, 10, 11, 12, 3,  0,  0,  //
                            2, 20, 3,  0,  0,  0,  0,  //
                            2, 30, 31, 32, 33, 34, 3},
                           torch::kLong)
                 .view({3, 7});
  const auto mask = ids.ne(0);
  const auto ref = m.encoder->embed(ids, mask).contiguous();
  const std::vector<float> expected(ref.data_ptr<float>(), ref.data_ptr<float>() + ref.numel());
  EXPECT_LE(max_abs_diff(v, expected), 1e-5);
}

}  // namespace
}  // namespace sembed
