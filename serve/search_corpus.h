#pragma once

// An embedding file set made searchable: its vectors behind an index (HNSW when the directory has
// one and exact search is not forced, else exact), its texts and ids for the answers. /search and
// `sembed search` both go through it, so they give the same answer to the same query vector.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "serve/search_index.h"

namespace sembed::serve {

struct SearchCorpusOptions {
  bool exact = false;  // ignore DIR/index.hnsw
  int ef_search = 0;   // HNSW candidate list at query time (0 = the value saved in index.json)
  ExactIndexOptions exact_options;
};

class SearchCorpus {
 public:
  // Loads DIR (embeddings.npy, texts.jsonl, meta.json; see model/embedding_set.h). Vectors not
  // known to be unit length (meta.json "normalized" false, or int8) are normalised at load so that
  // inner products are cosines. Throws std::runtime_error naming the file at fault, including a
  // stale or corrupt DIR/index.hnsw.
  static std::unique_ptr<SearchCorpus> load(const std::string& dir,
                                            const SearchCorpusOptions& options = {});

  // Builds DIR/index.hnsw + DIR/index.json over DIR's vectors (as load() sees them). Returns
  // index.json's content. `progress` as in HnswIndex::build.
  static nlohmann::json build_hnsw(
      const std::string& dir, const HnswParams& params,
      const std::function<void(int64_t done, int64_t total)>& progress = {});

  // What index.json records about the embeddings it was built from (count, dim, model hash,
  // creation time), from meta.json.
  static nlohmann::json identity(const nlohmann::json& meta);

  ~SearchCorpus();

  // Top-k hits for each of `n` query vectors (row-major [n, dim()], unit length for cosine
  // scores). Thread-safe. Exact searches run on one worker thread (the only one whose OpenMP team
  // streams the table, however many HTTP threads ask); calls that arrive while it runs are
  // answered together by its next pass over the table. HNSW searches run on the calling thread.
  std::vector<std::vector<SearchHit>> search(const float* queries, int64_t n, int k) const;

  // One query's answer: [{"id": ..., "text": "...", "score": f}, ...], best first. An id that is
  // a plain decimal integer (what `sembed embed` writes) is a JSON number, any other a string.
  std::string hits_json(const std::vector<SearchHit>& hits) const;

  int64_t size() const;
  int64_t dim() const;
  const std::string& dir() const { return dir_; }
  const SearchIndex& index() const { return *index_; }
  const nlohmann::json& meta() const { return meta_; }
  const std::string& text(int64_t row) const { return texts_[static_cast<size_t>(row)]; }
  const std::string& id(int64_t row) const { return ids_[static_cast<size_t>(row)]; }
  // For /info: directory, size, dim, the index's kind and parameters, the model hash.
  nlohmann::json describe() const;

 private:
  SearchCorpus() = default;
  struct Pending;
  void run_batch(const std::vector<Pending*>& batch) const;
  void worker_loop() const;

  std::string dir_;
  std::shared_ptr<VectorTable> table_;
  std::unique_ptr<SearchIndex> index_;
  std::vector<std::string> texts_;
  std::vector<std::string> ids_;
  nlohmann::json meta_;
  bool normalized_at_load_ = false;

  // The exact-search worker and its queue (started by load() for an exact index).
  mutable std::mutex mutex_;
  mutable std::condition_variable wake_;
  mutable std::condition_variable done_;
  mutable std::deque<Pending*> pending_;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace sembed::serve
