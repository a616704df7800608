// Search over N x D unit vectors: sembed's exact top-k (bf16 and fp32 screening) against FAISS
// IndexFlatIP (Debian's python3-faiss, same data, same queries, same threads, same run), then an
// HNSW index (build time, recall@k against exact, QPS at several ef). Prints one JSON object.
//
//   search_bench [--rows 1000000] [--dim 256] [--queries 1000] [-k 10] [--threads 2]
//                [--data clustered|random] [--python /usr/bin/python3] [--work DIR]
//
// Queries are answered in one batch (QPS = queries / seconds) and one at a time (latency).
// FAISS runs from bench/faiss_flat.py on the .npy files written to --work.
// Run it with OPENBLAS_CORETYPE set (e.g. SkylakeX on AVX-512 CPUs) so that this binary and FAISS
// use the same BLAS kernels: Debian's OpenBLAS 0.3.21 falls back to its slow Prescott kernels on
// recent Xeons, and a FAISS run on those made sembed look 6x faster instead of 1.6x.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/atomic_file.h"
#include "common/parallel.h"
#include "model/npy.h"
#include "model/runtime.h"
#include "serve/search_index.h"

using namespace sembed;
using namespace sembed::serve;
using Clock = std::chrono::steady_clock;

namespace {

double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

void normalize(float* v, int64_t dim) {
  double s = 0;
  for (int64_t i = 0; i < dim; ++i) s += double(v[i]) * v[i];
  const float inv = static_cast<float>(1 / std::sqrt(s));
  for (int64_t i = 0; i < dim; ++i) v[i] *= inv;
}

// Unit vectors: "random" (isotropic Gaussian) or "clustered" (noisy copies of random centres,
// closer to real sentence embeddings, where neighbours are meaningful). Generated on all cores,
// deterministic per row.
std::vector<float> make_vectors(int64_t rows, int64_t dim, const std::string& kind,
                                const std::vector<float>& centres, int64_t clusters, float noise,
                                uint64_t seed, int threads) {
  std::vector<float> out(static_cast<size_t>(rows * dim));
  parallel_for(static_cast<size_t>(rows), threads, [&](size_t b, size_t e) {
    for (size_t r = b; r < e; ++r) {
      std::mt19937_64 rng(seed * 1000003 + r);
      std::normal_distribution<float> normal;
      float* v = out.data() + r * dim;
      if (kind == "random") {
        for (int64_t i = 0; i < dim; ++i) v[i] = normal(rng);
      } else {
        const float* c = centres.data() + (rng() % clusters) * dim;
        for (int64_t i = 0; i < dim; ++i) v[i] = c[i] + noise * normal(rng);
      }
      normalize(v, dim);
    }
  });
  return out;
}

void write_npy(const std::string& path, const std::vector<float>& data, int64_t rows,
               int64_t cols) {
  NpyRowWriter w(path, "<f4", cols);
  w.append(data.data(), rows);
  w.finish();
}

double recall(const std::vector<std::vector<SearchHit>>& got,
              const std::vector<std::vector<SearchHit>>& truth) {
  double hit = 0, total = 0;
  for (size_t i = 0; i < truth.size(); ++i) {
    std::set<int64_t> want;
    for (const auto& h : truth[i]) want.insert(h.row);
    for (const auto& h : got[i]) hit += want.count(h.row);
    total += static_cast<double>(truth[i].size());
  }
  return total > 0 ? hit / total : 0;
}

struct Timing {
  double batch_qps = 0;
  double single_ms = 0;
};

Timing time_index(const SearchIndex& index, const std::vector<float>& q, int64_t nq, int64_t dim,
                  int k, int singles, std::vector<std::vector<SearchHit>>* hits) {
  Timing t;
  index.search(q.data(), std::min<int64_t>(nq, 8), k);  // warm-up
  auto start = Clock::now();
  auto result = index.search(q.data(), nq, k);
  t.batch_qps = nq / since(start);
  start = Clock::now();
  for (int i = 0; i < singles; ++i) index.search(q.data() + i * dim, 1, k);
  t.single_ms = 1000 * since(start) / singles;
  if (hits) *hits = std::move(result);
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Exact and HNSW top-k search against FAISS IndexFlatIP"};
  int64_t rows = 1000000, dim = 256, nq = 1000, clusters = 10000;
  int k = 10, threads = 2, singles = 20, m = 16, ef_construction = 200;
  float noise = 0.8f;
  std::string data = "clustered", python = "/usr/bin/python3", work;
  std::string faiss_script = std::string(SEMBED_SOURCE_DIR) + "/bench/faiss_flat.py";
  std::vector<int> efs = {16, 32, 64, 128, 256};
  bool skip_hnsw = false, skip_faiss = false;
  app.add_option("--rows", rows, "Vectors")->capture_default_str();
  app.add_option("--dim", dim, "Dimensions")->capture_default_str();
  app.add_option("--queries", nq, "Queries (answered as one batch)")->capture_default_str();
  app.add_option("-k", k, "Hits per query")->capture_default_str();
  app.add_option("--threads", threads, "Threads for sembed and FAISS")->capture_default_str();
  app.add_option("--singles", singles, "Queries timed one at a time")->capture_default_str();
  app.add_option("--data", data, "clustered or random")
      ->check(CLI::IsMember({"clustered", "random"}))
      ->capture_default_str();
  app.add_option("--clusters", clusters, "Cluster centres (clustered data)")->capture_default_str();
  app.add_option("--noise", noise, "Noise around the centres (clustered data)")
      ->capture_default_str();
  app.add_option("--m", m, "HNSW degree")->capture_default_str();
  app.add_option("--ef-construction", ef_construction, "HNSW build list")->capture_default_str();
  app.add_option("--ef", efs, "HNSW query lists to measure")->capture_default_str();
  app.add_option("--python", python, "Python with numpy and faiss")->capture_default_str();
  app.add_option("--faiss-script", faiss_script, "bench/faiss_flat.py")->capture_default_str();
  app.add_option("--work", work, "Scratch directory for the .npy files and the index")->required();
  app.add_flag("--no-hnsw", skip_hnsw, "Skip the HNSW part");
  app.add_flag("--no-faiss", skip_faiss, "Skip FAISS");
  CLI11_PARSE(app, argc, argv);

  configure_torch_threads(threads);
  make_directories(work);
  nlohmann::json out = {{"rows", rows}, {"dim", dim},         {"queries", nq},
                        {"k", k},       {"threads", threads}, {"data", data}};
  if (data == "clustered") {
    out["clusters"] = clusters;
    out["noise"] = noise;
  }
  std::fprintf(stderr, "generating %lld x %lld %s unit vectors...\n", (long long)rows,
               (long long)dim, data.c_str());
  std::vector<float> centres(static_cast<size_t>(clusters * dim));
  {
    std::mt19937_64 rng(1);
    std::normal_distribution<float> normal;
    for (auto& c : centres) c = normal(rng);
  }
  auto table = std::make_shared<VectorTable>();
  table->rows = rows;
  table->dim = dim;
  table->data = make_vectors(rows, dim, data, centres, clusters, noise, 2, threads);
  const std::vector<float> queries =
      make_vectors(nq, dim, data, centres, clusters, noise, 3, threads);

  // sembed exact: bf16 and fp32 screening.
  std::vector<std::vector<SearchHit>> truth;
  std::string primary;  // the default screening (auto): its hits are the ground truth
  for (const std::string screening : {"auto", "fp32"}) {
    ExactIndexOptions o;
    o.screening = screening;
    o.threads = threads;
    auto start = Clock::now();
    ExactIndex index(table, o);
    const double prep = since(start);
    std::vector<std::vector<SearchHit>> hits;
    const Timing t = time_index(index, queries, nq, dim, k, singles, &hits);
    const std::string key = "exact_" + index.screening();
    out[key] = {{"batch_qps", t.batch_qps}, {"single_query_ms", t.single_ms}, {"prepare_s", prep}};
    if (primary.empty()) {
      primary = key;
      truth = std::move(hits);
    } else if (key != primary) {
      out[key]["agreement_with_" + primary] = recall(hits, truth);
    }
    std::fprintf(stderr, "%s: %.1f QPS batched, %.2f ms per single query\n", key.c_str(),
                 t.batch_qps, t.single_ms);
  }

  // FAISS IndexFlatIP on the same vectors and queries.
  if (!skip_faiss) {
    const std::string base_npy = join_path(work, "base.npy");
    const std::string query_npy = join_path(work, "queries.npy");
    const std::string ids_npy = join_path(work, "faiss_ids.npy");
    write_npy(base_npy, table->data, rows, dim);
    write_npy(query_npy, queries, nq, dim);
    const std::string cmd = python + " " + faiss_script + " " + base_npy + " " + query_npy + " " +
                            std::to_string(k) + " " + std::to_string(threads) + " " +
                            std::to_string(singles) + " " + ids_npy;
    std::fprintf(stderr, "FAISS: %s\n", cmd.c_str());
    FILE* pipe = popen(cmd.c_str(), "r");
    std::string text;
    char buf[4096];
    while (pipe && fgets(buf, sizeof(buf), pipe)) text += buf;
    const int status = pipe ? pclose(pipe) : -1;
    if (status != 0 || text.empty()) {
      std::fprintf(stderr, "FAISS run failed (status %d)\n", status);
      out["faiss"] = nullptr;
    } else {
      out["faiss"] = nlohmann::json::parse(text);
      // FAISS's ids (as float32: exact below 2^24) against sembed's exact hits.
      const NpyMatrix ids = read_npy_matrix(ids_npy);
      std::vector<std::vector<SearchHit>> theirs(static_cast<size_t>(ids.rows));
      for (int64_t i = 0; i < ids.rows; ++i)
        for (int64_t j = 0; j < ids.cols; ++j)
          theirs[i].push_back({static_cast<int64_t>(ids.data[i * ids.cols + j]), 0});
      out["faiss"]["agreement_with_" + primary] = recall(theirs, truth);
    }
    std::remove(base_npy.c_str());
  }

  // HNSW: build, recall@k against exact, QPS per ef.
  if (!skip_hnsw) {
    HnswParams params;
    params.m = m;
    params.ef_construction = ef_construction;
    params.threads = threads;
    const std::string dir = join_path(work, "hnsw");
    const nlohmann::json identity = {{"bench", true}, {"rows", rows}};
    std::fprintf(stderr, "building HNSW (m %d, ef_construction %d)...\n", m, ef_construction);
    const double build_s = HnswIndex::build(*table, dir, params, identity, [&](int64_t done) {
      std::fprintf(stderr, "\r  %lld / %lld", (long long)done, (long long)rows);
    });
    std::fprintf(stderr, "\n");
    nlohmann::json h = {
        {"m", m},
        {"ef_construction", ef_construction},
        {"build_s", build_s},
        {"index_bytes",
         nlohmann::json::parse(read_file(HnswIndex::params_path(dir)))["index_bytes"]}};
    for (int ef : efs) {
      auto index = HnswIndex::load(dir, table, identity, ef);
      std::vector<std::vector<SearchHit>> hits;
      const Timing t = time_index(*index, queries, nq, dim, k, singles * 10, &hits);
      const double r = recall(hits, truth);
      h["ef"][std::to_string(ef)] = {
          {"recall", r}, {"batch_qps", t.batch_qps}, {"single_query_ms", t.single_ms}};
      std::fprintf(stderr, "hnsw ef %d: recall@%d %.4f, %.0f QPS batched, %.3f ms single\n", ef, k,
                   r, t.batch_qps, t.single_ms);
    }
    out["hnsw"] = h;
    remove_all(dir);
  }
  out["exact_primary"] = primary;
  if (out.contains("faiss") && out["faiss"].is_object()) {
    const double faiss_qps = out["faiss"]["batch_qps"];
    out["exact_vs_faiss_batch"] = out[primary]["batch_qps"].get<double>() / faiss_qps;
    out["exact_vs_faiss_single"] = out["faiss"]["single_query_ms"].get<double>() /
                                   out[primary]["single_query_ms"].get<double>();
  }
  std::printf("%s\n", out.dump(2).c_str());
  return 0;
}
