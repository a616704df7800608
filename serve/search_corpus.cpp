#include "serve/search_corpus.h"

#include <algorithm>

#include "common/atomic_file.h"
#include "common/log.h"
#include "model/embedding_set.h"
#include "serve/batcher.h"
#include "serve/responses.h"

namespace sembed::serve {
namespace {

struct LoadedSet {
  std::shared_ptr<VectorTable> table;
  std::vector<std::string> texts, ids;
  nlohmann::json meta;
  bool normalized_at_load = false;
};

LoadedSet load_set(const std::string& dir) {
  EmbeddingSet set = load_embedding_set(dir);
  LoadedSet out;
  out.table = std::make_shared<VectorTable>();
  out.table->rows = set.rows;
  out.table->dim = set.dim;
  out.table->data = std::move(set.vectors);
  out.texts = std::move(set.texts);
  out.ids = std::move(set.ids);
  out.meta = std::move(set.meta);
  const bool unit =
      out.meta.value("normalized", false) && out.meta.value("dtype", "float32") == "float32";
  if (!unit) {
    normalize_rows(out.table->data.data(), out.table->rows, out.table->dim);
    out.normalized_at_load = true;
  }
  return out;
}

bool is_plain_integer(const std::string& s) {
  size_t i = s[0] == '-' ? 1 : 0;
  if (i >= s.size() || s.size() - i > 18) return false;
  if (s[i] == '0' && s.size() - i > 1) return false;
  for (; i < s.size(); ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

}  // namespace

struct SearchCorpus::Pending {
  const float* queries = nullptr;
  int64_t n = 0;
  int k = 0;
  std::vector<std::vector<SearchHit>> hits;
  std::exception_ptr error;
  bool done = false;
};

nlohmann::json SearchCorpus::identity(const nlohmann::json& meta) {
  nlohmann::json id = nlohmann::json::object();
  for (const char* key : {"count", "dim", "dtype", "normalized", "model_hash", "created"})
    if (meta.contains(key)) id[key] = meta[key];
  return id;
}

std::unique_ptr<SearchCorpus> SearchCorpus::load(const std::string& dir,
                                                 const SearchCorpusOptions& options) {
  LoadedSet set = load_set(dir);
  std::unique_ptr<SearchCorpus> corpus(new SearchCorpus());
  corpus->dir_ = dir;
  corpus->table_ = set.table;
  corpus->texts_ = std::move(set.texts);
  corpus->ids_ = std::move(set.ids);
  corpus->meta_ = std::move(set.meta);
  corpus->normalized_at_load_ = set.normalized_at_load;
  if (!options.exact && HnswIndex::exists(dir)) {
    corpus->index_ = HnswIndex::load(dir, set.table, identity(corpus->meta_), options.ef_search);
  } else {
    corpus->index_ = std::make_unique<ExactIndex>(set.table, options.exact_options);
    SearchCorpus* c = corpus.get();
    corpus->worker_ = std::thread([c] { c->worker_loop(); });
  }
  return corpus;
}

nlohmann::json SearchCorpus::build_hnsw(
    const std::string& dir, const HnswParams& params,
    const std::function<void(int64_t done, int64_t total)>& progress) {
  params.validate();
  LoadedSet set = load_set(dir);
  const int64_t total = set.table->rows;
  HnswIndex::build(*set.table, dir, params, identity(set.meta), [&](int64_t done) {
    if (progress) progress(done, total);
  });
  return nlohmann::json::parse(read_file(HnswIndex::params_path(dir)));
}

SearchCorpus::~SearchCorpus() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (worker_.joinable()) worker_.join();
}
int64_t SearchCorpus::size() const {
  return table_->rows;
}
int64_t SearchCorpus::dim() const {
  return table_->dim;
}

nlohmann::json SearchCorpus::describe() const {
  nlohmann::json d = index_->describe();
  d["dir"] = dir_;
  d["normalized_at_load"] = normalized_at_load_;
  if (meta_.contains("model_hash")) d["model_hash"] = meta_["model_hash"];
  return d;
}

std::vector<std::vector<SearchHit>> SearchCorpus::search(const float* queries, int64_t n,
                                                         int k) const {
  if (!worker_.joinable()) return index_->search(queries, n, k);
  Pending me;
  me.queries = queries;
  me.n = n;
  me.k = k;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    pending_.push_back(&me);
    wake_.notify_one();
    done_.wait(lock, [&] { return me.done; });
  }
  if (me.error) std::rethrow_exception(me.error);
  return std::move(me.hits);
}

void SearchCorpus::worker_loop() const {
  for (;;) {
    std::vector<Pending*> batch;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
      if (pending_.empty()) return;  // stopping with nothing left
      batch.assign(pending_.begin(), pending_.end());
      pending_.clear();
    }
    run_batch(batch);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (Pending* p : batch) p->done = true;  // under the lock: callers read it under the lock
    }
    done_.notify_all();
  }
}

void SearchCorpus::run_batch(const std::vector<Pending*>& batch) const {
  const int64_t dim = table_->dim;
  int64_t total = 0;
  int k = 1;
  for (const Pending* p : batch) {
    total += p->n;
    k = std::max(k, p->k);
  }
  std::vector<std::vector<SearchHit>> hits;
  std::exception_ptr error;
  try {
    if (batch.size() == 1) {
      hits = index_->search(batch[0]->queries, batch[0]->n, batch[0]->k);
    } else {
      std::vector<float> all;
      all.reserve(static_cast<size_t>(total * dim));
      for (const Pending* p : batch) all.insert(all.end(), p->queries, p->queries + p->n * dim);
      hits = index_->search(all.data(), total, k);
    }
  } catch (...) {
    error = std::current_exception();
  }
  // Hits are totally ordered (score, then row) and exact, so a smaller k is a prefix.
  size_t at = 0;
  for (Pending* p : batch) {
    if (error) {
      p->error = error;
    } else {
      p->hits.assign(
          std::make_move_iterator(hits.begin() + static_cast<std::ptrdiff_t>(at)),
          std::make_move_iterator(hits.begin() + static_cast<std::ptrdiff_t>(at + p->n)));
      for (auto& h : p->hits)
        if (h.size() > static_cast<size_t>(p->k)) h.resize(static_cast<size_t>(p->k));
    }
    at += static_cast<size_t>(p->n);
  }
}

std::string SearchCorpus::hits_json(const std::vector<SearchHit>& hits) const {
  std::string out = "[";
  for (size_t i = 0; i < hits.size(); ++i) {
    if (i > 0) out += ',';
    const std::string& id = ids_[static_cast<size_t>(hits[i].row)];
    out += "{\"id\":";
    out += !id.empty() && is_plain_integer(id)
               ? id
               : nlohmann::json(id).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out += ",\"text\":";
    out += nlohmann::json(texts_[static_cast<size_t>(hits[i].row)])
               .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out += ",\"score\":";
    append_float(out, hits[i].score);
    out += '}';
  }
  out += ']';
  return out;
}

}  // namespace sembed::serve
