// Search indexes (serve/search_index.h) and the searchable corpus (serve/search_corpus.h):
// exact search equals brute force in both screening precisions, HNSW recall and its files,
// stale or corrupt indexes refused, concurrent searches combined.
#include "serve/search_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <set>

#include "common/atomic_file.h"
#include "model/npy.h"
#include "serve/search_corpus.h"
#include "tests/test_support.h"

namespace sembed::serve {
namespace {

using test::ScratchDir;

// Unit vectors around `clusters` random centres (neighbours exist, as with real embeddings).
std::shared_ptr<VectorTable> clustered(int64_t rows, int64_t dim, int clusters, float noise,
                                       unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> centres(static_cast<size_t>(clusters * dim));
  for (auto& c : centres) c = normal(rng);
  auto t = std::make_shared<VectorTable>();
  t->rows = rows;
  t->dim = dim;
  t->data.resize(static_cast<size_t>(rows * dim));
  for (int64_t r = 0; r < rows; ++r) {
    const float* c = centres.data() + (rng() % clusters) * dim;
    double norm = 0;
    for (int64_t i = 0; i < dim; ++i) {
      const float v = c[i] + noise * normal(rng);
      t->data[r * dim + i] = v;
      norm += double(v) * v;
    }
    for (int64_t i = 0; i < dim; ++i) t->data[r * dim + i] /= static_cast<float>(std::sqrt(norm));
  }
  return t;
}

std::vector<float> queries_from(const VectorTable& t, int n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> q(static_cast<size_t>(n * t.dim));
  for (int i = 0; i < n; ++i) {
    const float* base = t.data.data() + (rng() % t.rows) * t.dim;
    double norm = 0;
    for (int64_t d = 0; d < t.dim; ++d) {
      q[i * t.dim + d] = base[d] + 0.3f * normal(rng) / std::sqrt(float(t.dim));
      norm += double(q[i * t.dim + d]) * q[i * t.dim + d];
    }
    for (int64_t d = 0; d < t.dim; ++d) q[i * t.dim + d] /= static_cast<float>(std::sqrt(norm));
  }
  return q;
}

std::vector<SearchHit> brute_force(const VectorTable& t, const float* q, int k) {
  std::vector<SearchHit> all;
  for (int64_t r = 0; r < t.rows; ++r)
    all.push_back({r, exact_dot(q, t.data.data() + r * t.dim, t.dim)});
  std::sort(all.begin(), all.end(), [](const SearchHit& a, const SearchHit& b) {
    return a.score > b.score || (a.score == b.score && a.row < b.row);
  });
  all.resize(std::min<size_t>(all.size(), k));
  return all;
}

void expect_same(const std::vector<SearchHit>& got, const std::vector<SearchHit>& want,
                 const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].row, want[i].row) << what << " rank " << i;
    EXPECT_EQ(got[i].score, want[i].score) << what << " rank " << i;
  }
}

TEST(ExactIndex, EqualsBruteForceInBothPrecisions) {
  // Small blocks: many blocks over both threads, merged.
  auto table = clustered(3000, 48, 30, 0.4f, 1);
  const auto q = queries_from(*table, 17, 2);
  for (const std::string screening : {"fp32", "bf16"}) {
    ExactIndexOptions o;
    o.screening = screening;
    o.block_rows = 257;
    o.threads = 2;
    ExactIndex index(table, o);
    EXPECT_EQ(index.screening(), screening);
    EXPECT_EQ(index.size(), 3000);
    for (int k : {1, 10, 100}) {
      const auto hits = index.search(q.data(), 17, k);
      ASSERT_EQ(hits.size(), 17u);
      for (int i = 0; i < 17; ++i)
        expect_same(hits[i], brute_force(*table, q.data() + i * 48, k),
                    screening + " k=" + std::to_string(k) + " query " + std::to_string(i));
    }
    // One query at a time gives the same answer as a batch.
    const auto one = index.search(q.data() + 5 * 48, 1, 10);
    expect_same(one[0], brute_force(*table, q.data() + 5 * 48, 10), screening + " single");
  }
}

TEST(ExactIndex, NearTiesAndDuplicatesStayExact) {
  // Rows that bf16 cannot tell apart: one base vector plus noise far below bf16's resolution, and
  // exact duplicates (ties broken by row).
  const int64_t dim = 64, rows = 2000;
  auto table = std::make_shared<VectorTable>();
  table->rows = rows;
  table->dim = dim;
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  std::vector<float> base(dim);
  for (auto& b : base) b = normal(rng) / 8;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < dim; ++i)
      table->data.push_back(r % 7 == 0 ? base[i] : base[i] + 1e-5f * normal(rng));
  // Six queries near the base vector: one at a time (dot-product path) and as a batch (matrix
  // product path).
  std::vector<float> q;
  for (int i = 0; i < 6; ++i)
    for (int64_t d = 0; d < dim; ++d) q.push_back(base[d] + 0.01f * normal(rng));
  for (const std::string screening : {"fp32", "bf16"}) {
    ExactIndexOptions o;
    o.screening = screening;
    o.block_rows = 300;
    ExactIndex index(table, o);
    for (int k : {1, 5, 50}) {
      const auto batch = index.search(q.data(), 6, k);
      for (int i = 0; i < 6; ++i) {
        const auto truth = brute_force(*table, q.data() + i * dim, k);
        expect_same(index.search(q.data() + i * dim, 1, k)[0], truth,
                    screening + " single k=" + std::to_string(k));
        expect_same(batch[i], truth, screening + " batch k=" + std::to_string(k));
      }
    }
  }
}

TEST(ExactIndex, EdgeCases) {
  auto table = clustered(5, 8, 2, 0.5f, 3);
  ExactIndex index(table);
  const auto q = queries_from(*table, 2, 4);
  const auto hits = index.search(q.data(), 2, 50);
  ASSERT_EQ(hits[1].size(), 5u) << "k above the row count gives every row";
  expect_same(hits[1], brute_force(*table, q.data() + 8, 5), "k > rows");
  EXPECT_THROW(index.search(q.data(), 1, 0), std::invalid_argument);
  std::vector<float> nan(8, NAN);
  EXPECT_THROW(index.search(nan.data(), 1, 3), std::invalid_argument);
  EXPECT_TRUE(index.search(q.data(), 0, 3).empty());

  auto empty = std::make_shared<VectorTable>();
  empty->dim = 8;
  ExactIndex none(empty);
  EXPECT_TRUE(none.search(q.data(), 1, 3)[0].empty());

  auto bad = clustered(3, 4, 1, 0.1f, 1);
  bad->data[5] = INFINITY;
  EXPECT_THROW(ExactIndex{bad}, std::invalid_argument);
  ExactIndexOptions o;
  o.screening = "fp16";
  EXPECT_THROW(ExactIndex(table, o), std::invalid_argument);
}

// Writes an embedding set (embeddings.npy, texts.jsonl, meta.json) without a model.
void write_set(const std::string& dir, const VectorTable& t, bool normalized = true) {
  sembed::make_directories(dir);
  NpyRowWriter npy(dir + "/embeddings.npy", "<f4", t.dim);
  npy.append(t.data.data(), t.rows);
  npy.finish();
  std::ofstream texts(dir + "/texts.jsonl");
  for (int64_t r = 0; r < t.rows; ++r)
    texts << nlohmann::json({{"id", r}, {"text", "text " + std::to_string(r)}}).dump() << "\n";
  texts.close();
  const nlohmann::json meta = {{"count", t.rows},     {"dim", t.dim},
                               {"dtype", "float32"},  {"normalized", normalized},
                               {"model_hash", "abc"}, {"created", "2024-01-01T00:00:00Z"}};
  std::ofstream(dir + "/meta.json") << meta.dump();
}

TEST(HnswIndex, BuildSaveLoadAndRecall) {
  ScratchDir dir("hnsw");
  auto table = clustered(4000, 32, 40, 0.5f, 7);
  write_set(dir.path(), *table);
  HnswParams params;
  params.m = 12;
  params.ef_construction = 100;
  params.ef_search = 50;
  params.threads = 2;
  int64_t reported = 0;
  const nlohmann::json saved =
      SearchCorpus::build_hnsw(dir.path(), params, [&](int64_t d, int64_t t) {
        EXPECT_EQ(t, 4000);
        reported = std::max(reported, d);
      });
  EXPECT_EQ(saved.at("rows"), 4000);
  EXPECT_EQ(saved.at("m"), 12);
  EXPECT_TRUE(HnswIndex::exists(dir.path()));
  for (const auto& e : std::filesystem::directory_iterator(dir.path()))
    EXPECT_EQ(e.path().string().find(".tmp-"), std::string::npos) << "left behind: " << e.path();

  // Loaded with hnswlib's own loadIndex (after sembed's checks).
  auto corpus = SearchCorpus::load(dir.path());
  EXPECT_EQ(corpus->index().kind(), "hnsw");
  EXPECT_EQ(corpus->describe().at("ef_search"), 50);
  const auto q = queries_from(*table, 50, 8);
  const auto hits = corpus->search(q.data(), 50, 10);
  double found = 0;
  for (int i = 0; i < 50; ++i) {
    const auto truth = brute_force(*table, q.data() + i * 32, 10);
    std::set<int64_t> want;
    for (const auto& h : truth) want.insert(h.row);
    for (const auto& h : hits[i]) {
      found += want.count(h.row);
      EXPECT_EQ(h.score, exact_dot(q.data() + i * 32, table->data.data() + h.row * 32, 32))
          << "scores are exact inner products";
    }
    EXPECT_TRUE(
        std::is_sorted(hits[i].begin(), hits[i].end(),
                       [](const SearchHit& a, const SearchHit& b) { return a.score > b.score; }));
  }
  EXPECT_GE(found / 500, 0.95) << "recall@10";

  SearchCorpusOptions exact;
  exact.exact = true;
  EXPECT_EQ(SearchCorpus::load(dir.path(), exact)->index().kind(), "exact");
}

TEST(HnswIndex, StaleOrCorruptIndexesAreRefused) {
  ScratchDir dir("hnsw-bad");
  auto table = clustered(300, 16, 5, 0.5f, 9);
  write_set(dir.path(), *table);
  HnswParams params;
  params.threads = 1;
  SearchCorpus::build_hnsw(dir.path(), params);
  ASSERT_NO_THROW(SearchCorpus::load(dir.path()));

  auto expect_refused = [&](const std::string& mention) {
    try {
      SearchCorpus::load(dir.path());
      ADD_FAILURE() << "loaded; expected an error mentioning " << mention;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(mention), std::string::npos) << e.what();
    }
  };
  // Re-embedded (other meta): stale.
  const std::string meta = test::read_text(dir.file("meta.json"));
  auto changed = nlohmann::json::parse(meta);
  changed["created"] = "2025-01-01T00:00:00Z";
  test::write_text(dir.file("meta.json"), changed.dump());
  expect_refused("sembed index");
  test::write_text(dir.file("meta.json"), meta);

  // Truncated or garbled graph file.
  const std::string graph = test::read_text(dir.file("index.hnsw"));
  test::write_text(dir.file("index.hnsw"), graph.substr(0, graph.size() / 2));
  expect_refused("index");
  std::string garbled = graph;
  for (size_t i = 8; i < 24; ++i) garbled[i] = '\x7f';
  test::write_text(dir.file("index.hnsw"), garbled);
  expect_refused("index.hnsw");
  // A link pointing outside the graph.
  garbled = graph;
  const size_t header = 8 * 6 + 4 + 4 + 8 * 3 + 8 + 8;
  const uint32_t out_of_range = 1u << 30;
  std::memcpy(&garbled[header + 4], &out_of_range, 4);  // first link of element 0
  test::write_text(dir.file("index.hnsw"), garbled);
  expect_refused("index.hnsw");
  test::write_text(dir.file("index.json"), "{not json");
  expect_refused("index.json");
}

TEST(SearchCorpus, ConcurrentExactSearchesAreCombinedAndExact) {
  ScratchDir dir("corpus");
  auto table = clustered(5000, 32, 50, 0.5f, 11);
  // Stored unnormalised (as a model with normalize=false writes them): cosine via normalising.
  auto scaled = std::make_shared<VectorTable>(*table);
  for (int64_t r = 0; r < scaled->rows; ++r)
    for (int64_t i = 0; i < 32; ++i) scaled->data[r * 32 + i] *= 1.0f + (r % 5);
  write_set(dir.path(), *scaled, /*normalized=*/false);
  auto corpus = SearchCorpus::load(dir.path());
  EXPECT_EQ(corpus->index().kind(), "exact");
  EXPECT_TRUE(corpus->describe().at("normalized_at_load").get<bool>());
  const auto q = queries_from(*table, 24, 12);
  std::vector<std::future<std::vector<std::vector<SearchHit>>>> futures;
  for (int i = 0; i < 24; ++i)
    futures.push_back(std::async(
        std::launch::async, [&, i] { return corpus->search(q.data() + i * 32, 1, 3 + i % 5); }));
  for (int i = 0; i < 24; ++i) {
    const auto hits = futures[i].get();
    ASSERT_EQ(hits.size(), 1u);
    const auto truth = brute_force(*table, q.data() + i * 32, 3 + i % 5);
    ASSERT_EQ(hits[0].size(), truth.size());
    for (size_t r = 0; r < truth.size(); ++r) {
      EXPECT_EQ(hits[0][r].row, truth[r].row) << "query " << i;
      EXPECT_NEAR(hits[0][r].score, truth[r].score, 1e-6);
    }
  }
  const std::string json = corpus->hits_json(corpus->search(q.data(), 1, 2)[0]);
  const auto parsed = nlohmann::json::parse(json);
  ASSERT_EQ(parsed.size(), 2u);
  EXPECT_TRUE(parsed[0].at("id").is_number_integer()) << json;
  EXPECT_EQ(parsed[0].at("text"), "text " + parsed[0].at("id").dump());
}

}  // namespace
}  // namespace sembed::serve
