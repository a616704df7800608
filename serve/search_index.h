#pragma once

// Top-k inner-product search over a table of float vectors.
//  - ExactIndex: every row scored. Blocked matrix products over all cores (LibTorch: OpenBLAS for
//    fp32, oneDNN for bf16) with a running threshold per query, then the survivors rescored with
//    exact_dot and partially sorted. Exact whatever the screening precision: see search_index.cpp.
//  - HnswIndex: hnswlib's graph (inner-product space) built by `sembed index` and saved beside the
//    embeddings (DIR/index.hnsw + DIR/index.json), approximate; its hits are rescored with
//    exact_dot too, so a row's score is the same whichever index found it.
// Torch and hnswlib stay in the .cpp file.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sembed::serve {

// Row-major float vectors, shared read-only by the indexes over them.
struct VectorTable {
  int64_t rows = 0;
  int64_t dim = 0;
  std::vector<float> data;  // rows * dim
};

struct SearchHit {
  int64_t row = 0;
  float score = 0;  // exact_dot(query, row)
};

// The inner product every reported score is: float products summed in double in index order, then
// rounded to float. Deterministic (no reassociation), so equal inputs give equal scores anywhere.
float exact_dot(const float* a, const float* b, int64_t dim);

class SearchIndex {
 public:
  virtual ~SearchIndex() = default;
  // For each of `n` queries (row-major [n, dim()]), the min(k, size()) rows with the largest
  // inner products, best first, equal scores by row. Thread-safe. Throws std::invalid_argument
  // for k < 1.
  virtual std::vector<std::vector<SearchHit>> search(const float* queries, int64_t n,
                                                     int k) const = 0;
  virtual std::string kind() const = 0;  // "exact" or "hnsw"
  virtual int64_t size() const = 0;
  virtual int64_t dim() const = 0;
  // Kind, size and parameters, for /info and logs.
  virtual nlohmann::json describe() const = 0;
};

struct ExactIndexOptions {
  // Precision of the screening products: "fp32", "bf16" (half the memory traffic; where the CPU
  // has AVX512-BF16/AMX several times the arithmetic rate) or "auto" (bf16 on such CPUs, else
  // fp32). Results are exact either way; only the speed and the memory (bf16 keeps a copy of
  // the table, 2 bytes per value) differ.
  std::string screening = "auto";
  int threads = 0;             // CPU threads (0 = all cores)
  int64_t block_rows = 16384;  // table rows per matrix product
  void validate() const;
};

class ExactIndex : public SearchIndex {
 public:
  // Throws std::invalid_argument for bad options or a table with NaN/Inf values.
  explicit ExactIndex(std::shared_ptr<const VectorTable> table,
                      const ExactIndexOptions& options = {});
  ~ExactIndex() override;
  std::vector<std::vector<SearchHit>> search(const float* queries, int64_t n, int k) const override;
  std::string kind() const override { return "exact"; }
  int64_t size() const override;
  int64_t dim() const override;
  nlohmann::json describe() const override;
  // "fp32" or "bf16": the screening precision in use.
  const std::string& screening() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct HnswParams {
  int m = 16;                 // graph degree (links per node; 2m on the bottom layer)
  int ef_construction = 200;  // candidate list while building (recall of the graph)
  int ef_search = 64;         // default candidate list at query time (max(ef_search, k) is used)
  int threads = 0;            // build threads (0 = all cores)
  uint64_t seed = 100;        // level generator seed
  void validate() const;
};

class HnswIndex : public SearchIndex {
 public:
  // DIR/index.hnsw (hnswlib's own format, readable by hnswlib's loadIndex) and DIR/index.json
  // (parameters, the identity of the embeddings it was built from, the .hnsw size).
  static std::string index_path(const std::string& dir);
  static std::string params_path(const std::string& dir);
  static bool exists(const std::string& dir);

  // Builds over `table` (rows inserted on params.threads threads) and writes both files, each
  // atomically (index.json last). `identity` describes the embeddings (count, hash...); load()
  // refuses an index whose identity differs. `progress` receives rows inserted so far (called
  // from the calling thread about twice a second). Returns the build time in seconds.
  static double build(const VectorTable& table, const std::string& dir, const HnswParams& params,
                      const nlohmann::json& identity,
                      const std::function<void(int64_t done)>& progress = {});

  // Loads DIR's index for `table`. ef_search > 0 overrides the saved default. Throws
  // std::runtime_error naming the file when it is missing, corrupt, or built from other
  // embeddings (identity, row count or dim differ): rebuild it with `sembed index`.
  static std::unique_ptr<HnswIndex> load(const std::string& dir,
                                         std::shared_ptr<const VectorTable> table,
                                         const nlohmann::json& identity, int ef_search = 0);

  ~HnswIndex() override;
  std::vector<std::vector<SearchHit>> search(const float* queries, int64_t n, int k) const override;
  std::string kind() const override { return "hnsw"; }
  int64_t size() const override;
  int64_t dim() const override;
  nlohmann::json describe() const override;

 private:
  HnswIndex();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sembed::serve
