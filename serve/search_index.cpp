#include "serve/search_index.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <exception>
#include <fstream>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <thread>

// hnswlib is header-only with non-inline functions in its headers: this is the one TU that
// includes it.
#include <hnswlib/hnswlib.h>

#include "common/atomic_file.h"
#include "common/cpu.h"
#include "common/parallel.h"
#include "model/runtime.h"

namespace sembed::serve {

// ------------------------------------------------------------------------------- dot products

float exact_dot(const float* a, const float* b, int64_t dim) {
  double acc = 0;
  for (int64_t i = 0; i < dim; ++i) acc += static_cast<double>(a[i]) * b[i];
  return static_cast<float>(acc);
}

namespace {

// Fast float dot products for the HNSW graph (build and search), picked once for this CPU.
// (hnswlib's own kernels are chosen at compile time from -mavx flags, which sembed does not set
// so that the binary runs on any x86-64.)
float dot_scalar(const float* a, const float* b, size_t n) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; ++i) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) float dot_avx2(const float* a, const float* b, size_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
  }
  for (; i + 8 <= n; i += 8)
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
  s0 = _mm256_add_ps(s0, s1);
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
  float s = _mm_cvtss_f32(h);
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

__attribute__((target("avx512f"))) float dot_avx512(const float* a, const float* b, size_t n) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
  }
  for (; i + 16 <= n; i += 16)
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, _mm512_add_ps(s0, s1));
  float s = 0;
  for (float lane : lanes) s += lane;
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}
#endif

using DotFn = float (*)(const float*, const float*, size_t);

DotFn pick_dot() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return dot_avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return dot_avx2;
#endif
  return dot_scalar;
}

const DotFn kDot = pick_dot();

// Screening products of one query against consecutive table rows, for batches too small for a
// matrix product to pay (a GEMM library packs the whole block first: for one query that triples
// the memory traffic of what is a memory-bound scan).
void rows_dot_fp32(const float* rows, int64_t dim, int64_t len, const float* q, float* out) {
  for (int64_t j = 0; j < len; ++j) out[j] = kDot(rows + j * dim, q, static_cast<size_t>(dim));
}

inline float bf16_to_float(uint16_t v) {
  const uint32_t bits = static_cast<uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

void rows_dot_bf16_scalar(const uint16_t* rows, int64_t dim, int64_t len, const uint16_t* q,
                          float* out) {
  for (int64_t j = 0; j < len; ++j) {
    const uint16_t* row = rows + j * dim;
    float s = 0;
    for (int64_t i = 0; i < dim; ++i) s += bf16_to_float(row[i]) * bf16_to_float(q[i]);
    out[j] = s;
  }
}

#if defined(__x86_64__)
// AVX512-BF16: 32 products per instruction, summed in fp32 (bf16 products are exact in fp32).
__attribute__((target("avx512f,avx512bw,avx512bf16"))) void rows_dot_bf16_native(
    const uint16_t* rows, int64_t dim, int64_t len, const uint16_t* q, float* out) {
  const int64_t full = dim / 32 * 32;
  for (int64_t j = 0; j < len; ++j) {
    const uint16_t* row = rows + j * dim;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < full; i += 32) {
      const __m512i a = _mm512_loadu_si512(row + i);
      const __m512i b = _mm512_loadu_si512(q + i);
      acc = _mm512_dpbf16_ps(acc, (__m512bh)a, (__m512bh)b);
    }
    alignas(64) float lanes[16];
    _mm512_store_ps(lanes, acc);
    float s = 0;
    for (float lane : lanes) s += lane;
    for (int64_t i = full; i < dim; ++i) s += bf16_to_float(row[i]) * bf16_to_float(q[i]);
    out[j] = s;
  }
}
#endif

using RowsDotBf16 = void (*)(const uint16_t*, int64_t, int64_t, const uint16_t*, float*);

RowsDotBf16 pick_rows_dot_bf16() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw"))
    return rows_dot_bf16_native;
#endif
  return rows_dot_bf16_scalar;
}

const RowsDotBf16 kRowsDotBf16 = pick_rows_dot_bf16();

float ip_distance(const void* a, const void* b, const void* dim) {
  return 1.0f - kDot(static_cast<const float*>(a), static_cast<const float*>(b),
                     *static_cast<const size_t*>(dim));
}

// hnswlib's inner-product space with sembed's dot kernel (distance = 1 - dot, as hnswlib's).
class DotSpace final : public hnswlib::SpaceInterface<float> {
 public:
  explicit DotSpace(size_t dim) : dim_(dim) {}
  size_t get_data_size() override { return dim_ * sizeof(float); }
  hnswlib::DISTFUNC<float> get_dist_func() override { return ip_distance; }
  void* get_dist_func_param() override { return &dim_; }

 private:
  size_t dim_;
};

void check_finite(const float* data, int64_t n, const std::string& what) {
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(data[i]))
      throw std::invalid_argument(what + " holds a non-finite value (NaN or Inf) at element " +
                                  std::to_string(i));
}

// Best first; equal scores by row.
bool better(const SearchHit& a, const SearchHit& b) {
  return a.score > b.score || (a.score == b.score && a.row < b.row);
}

// Rescores candidate rows exactly and keeps the best k.
std::vector<SearchHit> rescore(const float* query, const VectorTable& table,
                               const std::vector<int64_t>& rows, int k) {
  std::vector<SearchHit> hits;
  hits.reserve(rows.size());
  for (int64_t r : rows)
    hits.push_back({r, exact_dot(query, table.data.data() + r * table.dim, table.dim)});
  const size_t keep = std::min(hits.size(), static_cast<size_t>(k));
  std::partial_sort(hits.begin(), hits.begin() + static_cast<std::ptrdiff_t>(keep), hits.end(),
                    better);
  hits.resize(keep);
  return hits;
}

// ------------------------------------------------------------------------ exact screening

// Why the screening is exact. Let c_j be row j's exact score (exact_dot) and a_j the screening
// product, with |a_j - c_j| <= eps for every row (bound below). If a_k is the k-th largest a_j
// over any subset of rows, every row of the true top k has a_j >= c_j - eps >= c_k - eps >=
// a_k - 2 eps. So dropping rows with a_j < a_k - 2 eps never drops a true top-k row, nor a row
// tied with the k-th; the survivors are rescored exactly.
//
// eps = c * |q| * max_j |x_j| (Cauchy-Schwarz on the usual rounding-error bounds):
//  - fp32 products, any summation order: gamma_d = d u / (1 - d u), u = 2^-24;
//  - bf16 inputs (each rounded, relative error <= 2^-8), products summed in fp32, the result
//    rounded to bf16: 3 * 2^-8 plus second-order terms and gamma_d;
//  - exact_dot itself: <= 2^-24 relative (double sum, one rounding).
// A small absolute term covers flushed denormals.
double screening_constant(bool bf16, int64_t dim) {
  const double u32 = std::ldexp(1.0, -24);
  const double gamma = dim * u32 / (1 - dim * u32);
  if (!bf16) return 1.01 * (gamma + 2 * u32);
  const double ub = std::ldexp(1.0, -8);
  return 1.01 * (3 * ub + 4 * ub * ub + gamma * (1 + 4 * ub) + 2 * u32);
}

struct Candidates {
  std::vector<std::pair<float, int64_t>> items;  // (screening score, row)
  float floor = -std::numeric_limits<float>::infinity();
  size_t cap = 0;
};

// Keeps the rows that can still be in the top k (see above); raises the floor.
void prune(Candidates& c, int k, float margin) {
  auto& items = c.items;
  if (items.size() <= static_cast<size_t>(k)) return;
  std::nth_element(items.begin(), items.begin() + (k - 1), items.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  const float floor = items[k - 1].first - margin;
  if (floor > c.floor) c.floor = floor;
  items.erase(std::remove_if(items.begin(), items.end(),
                             [&](const auto& it) { return it.first < c.floor; }),
              items.end());
  if (items.size() * 2 > c.cap) c.cap *= 2;  // many near-ties: let the list grow
}

inline float to_float(float v) {
  return v;
}
inline float to_float(uint16_t bf16) {
  const uint32_t bits = static_cast<uint32_t>(bf16) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Scores of `len` table rows (from row0) against `qn` queries, row-major [len, qn]: each query's
// candidates get the rows at or above its floor.
template <typename T>
void scan(const T* scores, int64_t len, int64_t qn, int64_t row0, Candidates* cands, float* floors,
          int k, const float* margins) {
  for (int64_t j = 0; j < len; ++j) {
    const T* row = scores + j * qn;
    // Most rows beat no query's floor once the floors have risen: test that branch-free first.
    bool any = false;
    for (int64_t i = 0; i < qn; ++i) any |= to_float(row[i]) >= floors[i];
    if (!any) continue;
    for (int64_t i = 0; i < qn; ++i) {
      const float v = to_float(row[i]);
      if (v < floors[i]) continue;
      Candidates& c = cands[i];
      c.items.emplace_back(v, row0 + j);
      if (c.items.size() >= c.cap) {
        prune(c, k, margins[i]);
        floors[i] = c.floor;
      }
    }
  }
}

}  // namespace

// ------------------------------------------------------------------------------- ExactIndex

void ExactIndexOptions::validate() const {
  if (screening != "auto" && screening != "fp32" && screening != "bf16")
    throw std::invalid_argument("screening must be auto, fp32 or bf16, got '" + screening + "'");
  if (threads < 0) throw std::invalid_argument("threads must be >= 0");
  if (block_rows < 1) throw std::invalid_argument("block_rows must be >= 1");
}

struct ExactIndex::Impl {
  std::shared_ptr<const VectorTable> table;
  ExactIndexOptions options;
  std::string screening;
  at::Tensor base;  // [rows, dim] in the screening precision
  double max_norm = 0;
};

ExactIndex::ExactIndex(std::shared_ptr<const VectorTable> table, const ExactIndexOptions& options)
    : impl_(new Impl) {
  options.validate();
  if (!table) throw std::invalid_argument("ExactIndex: no table");
  if (table->dim <= 0 && table->rows > 0)
    throw std::invalid_argument("ExactIndex: dim must be > 0");
  if (static_cast<int64_t>(table->data.size()) != table->rows * table->dim)
    throw std::invalid_argument("ExactIndex: table holds " + std::to_string(table->data.size()) +
                                " values, not rows x dim");
  check_finite(table->data.data(), static_cast<int64_t>(table->data.size()), "the vector table");
  impl_->table = table;
  impl_->options = options;
  const bool bf16 =
      options.screening == "bf16" || (options.screening == "auto" && cpu_has_native_bf16());
  impl_->screening = bf16 ? "bf16" : "fp32";
  for (int64_t r = 0; r < table->rows; ++r) {
    const float* v = table->data.data() + r * table->dim;
    double s = 0;
    for (int64_t i = 0; i < table->dim; ++i) s += static_cast<double>(v[i]) * v[i];
    impl_->max_norm = std::max(impl_->max_norm, std::sqrt(s));
  }
  if (table->rows > 0) {
    configure_torch_threads(options.threads);
    c10::InferenceMode guard;
    at::Tensor fp32 = at::from_blob(const_cast<float*>(table->data.data()),
                                    {table->rows, table->dim}, at::kFloat);
    impl_->base = bf16 ? fp32.to(at::kBFloat16).contiguous() : fp32;
  }
}

ExactIndex::~ExactIndex() = default;
int64_t ExactIndex::size() const {
  return impl_->table->rows;
}
int64_t ExactIndex::dim() const {
  return impl_->table->dim;
}
const std::string& ExactIndex::screening() const {
  return impl_->screening;
}

nlohmann::json ExactIndex::describe() const {
  return {{"kind", "exact"},
          {"size", size()},
          {"dim", dim()},
          {"screening", impl_->screening},
          {"block_rows", impl_->options.block_rows}};
}

std::vector<std::vector<SearchHit>> ExactIndex::search(const float* queries, int64_t n,
                                                       int k) const {
  if (k < 1) throw std::invalid_argument("k must be >= 1");
  const VectorTable& table = *impl_->table;
  std::vector<std::vector<SearchHit>> results(static_cast<size_t>(std::max<int64_t>(n, 0)));
  if (n <= 0 || table.rows == 0) return results;
  const int64_t dim = table.dim;
  check_finite(queries, n * dim, "the query vectors");
  const int kk = static_cast<int>(std::min<int64_t>(k, table.rows));
  const bool bf16 = impl_->screening == "bf16";

  configure_torch_threads(impl_->options.threads);
  c10::InferenceMode guard;
  at::Tensor q = at::from_blob(const_cast<float*>(queries), {n, dim}, at::kFloat);
  if (bf16) q = q.to(at::kBFloat16).contiguous();

  const double c = screening_constant(bf16, dim);
  std::vector<float> margin(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    double s = 0;
    for (int64_t t = 0; t < dim; ++t)
      s += static_cast<double>(queries[i * dim + t]) * queries[i * dim + t];
    // Round the margin up so that float arithmetic never makes it smaller than the bound.
    margin[i] = static_cast<float>(2 * c * std::sqrt(s) * impl_->max_norm * (1 + 1e-6) + 1e-30);
  }

  // Table blocks times query chunks: S = X_block [len, dim] x Q_chunk^T [dim, qn]. The table
  // block is the contiguous left operand, so no matrix product copies or transposes it, and each
  // block is read from memory once for all the queries.
  const int64_t block = impl_->options.block_rows;
  const int64_t blocks = (table.rows + block - 1) / block;
  const int64_t query_chunk = 256;
  constexpr int64_t kSmallBatch = 4;
  std::vector<at::Tensor> chunks;  // [dim, qn] each
  for (int64_t q0 = 0; q0 < n && n > kSmallBatch; q0 += query_chunk)
    chunks.push_back(q.narrow(0, q0, std::min(query_chunk, n - q0)).t().contiguous());
  // Candidates per worker (each takes a range of blocks), merged below. sembed's own threads, not
  // at::parallel_for: that template is compiled into sembed, so without -fopenmp (the Debian
  // build) it ran on the calling thread alone, and built against pip torch 2.11 (which brings its
  // own OpenMP runtime) the two batched-search tests segfaulted where workers picked their state
  // by at::get_thread_num() -- most likely a team larger than at::get_num_threads() said.
  const int threads = resolve_threads(impl_->options.threads);
  struct ThreadState {
    std::vector<Candidates> cands;
    std::vector<float> floors;
  };
  std::mutex local_mutex;
  std::vector<ThreadState> local;
  const auto new_state = [&] {
    ThreadState state;
    state.cands.resize(static_cast<size_t>(n));
    for (auto& c : state.cands) c.cap = std::max<size_t>(256, 4 * static_cast<size_t>(kk));
    state.floors.assign(static_cast<size_t>(n), -std::numeric_limits<float>::infinity());
    return state;
  };
  const auto keep = [&](ThreadState&& state) {
    std::lock_guard<std::mutex> lock(local_mutex);
    local.push_back(std::move(state));
  };

  if (n <= kSmallBatch) {
    // A few queries: one pass of dot products per query over each block (see rows_dot_fp32).
    const auto* q16 =
        bf16 ? reinterpret_cast<const uint16_t*>(q.data_ptr<at::BFloat16>()) : nullptr;
    const auto* x16 =
        bf16 ? reinterpret_cast<const uint16_t*>(impl_->base.data_ptr<at::BFloat16>()) : nullptr;
    parallel_for(static_cast<size_t>(blocks), threads, [&](size_t b0, size_t b1) {
      ThreadState mine = new_state();
      std::vector<float> scores(static_cast<size_t>(block));
      for (int64_t b = static_cast<int64_t>(b0); b < static_cast<int64_t>(b1); ++b) {
        const int64_t r0 = b * block;
        const int64_t len = std::min(block, table.rows - r0);
        for (int64_t i = 0; i < n; ++i) {
          if (bf16)
            kRowsDotBf16(x16 + r0 * dim, dim, len, q16 + i * dim, scores.data());
          else
            rows_dot_fp32(table.data.data() + r0 * dim, dim, len, queries + i * dim, scores.data());
          scan(scores.data(), len, 1, r0, mine.cands.data() + i, mine.floors.data() + i, kk,
               margin.data() + i);
        }
      }
      keep(std::move(mine));
    });
  } else {
    // Blocks one after another: each matrix product is already spread over the torch threads
    // (configure_torch_threads above); the scan after it is `dim` times cheaper.
    ThreadState mine = new_state();
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t r0 = b * block;
      const int64_t len = std::min(block, table.rows - r0);
      const at::Tensor xb = impl_->base.narrow(0, r0, len);
      for (size_t c = 0; c < chunks.size(); ++c) {
        const int64_t q0 = static_cast<int64_t>(c) * query_chunk;
        const int64_t qn = chunks[c].size(1);
        const at::Tensor s = at::matmul(xb, chunks[c]).contiguous();  // [len, qn]
        if (bf16) {
          const auto* p = reinterpret_cast<const uint16_t*>(s.data_ptr<at::BFloat16>());
          scan(p, len, qn, r0, mine.cands.data() + q0, mine.floors.data() + q0, kk,
               margin.data() + q0);
        } else {
          scan(s.data_ptr<float>(), len, qn, r0, mine.cands.data() + q0, mine.floors.data() + q0,
               kk, margin.data() + q0);
        }
      }
    }
    keep(std::move(mine));
  }

  parallel_for(static_cast<size_t>(n), threads, [&](size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; ++i) {
      Candidates all;
      all.cap = std::numeric_limits<size_t>::max();
      for (auto& state : local) {
        auto& items = state.cands[i].items;
        all.items.insert(all.items.end(), items.begin(), items.end());
        std::vector<std::pair<float, int64_t>>().swap(items);
      }
      prune(all, kk, margin[i]);
      std::vector<int64_t> rows;
      rows.reserve(all.items.size());
      for (const auto& it : all.items) rows.push_back(it.second);
      results[i] = rescore(queries + i * dim, table, rows, kk);
    }
  });
  return results;
}

// -------------------------------------------------------------------------------- HnswIndex

void HnswParams::validate() const {
  if (m < 2 || m > 256)
    throw std::invalid_argument("m must be in [2, 256], got " + std::to_string(m));
  if (ef_construction < 1)
    throw std::invalid_argument("ef_construction must be >= 1, got " +
                                std::to_string(ef_construction));
  if (ef_search < 1)
    throw std::invalid_argument("ef_search must be >= 1, got " + std::to_string(ef_search));
  if (threads < 0) throw std::invalid_argument("threads must be >= 0");
}

using Graph = hnswlib::HierarchicalNSW<float>;

struct HnswIndex::Impl {
  std::shared_ptr<const VectorTable> table;
  std::unique_ptr<DotSpace> space;
  std::unique_ptr<Graph> graph;
  HnswParams params;
  nlohmann::json saved;  // index.json
};

HnswIndex::HnswIndex() : impl_(new Impl) {}
HnswIndex::~HnswIndex() = default;
int64_t HnswIndex::size() const {
  return impl_->table->rows;
}
int64_t HnswIndex::dim() const {
  return impl_->table->dim;
}

std::string HnswIndex::index_path(const std::string& dir) {
  return join_path(dir, "index.hnsw");
}
std::string HnswIndex::params_path(const std::string& dir) {
  return join_path(dir, "index.json");
}
bool HnswIndex::exists(const std::string& dir) {
  return path_exists(index_path(dir)) && path_exists(params_path(dir));
}

nlohmann::json HnswIndex::describe() const {
  return {{"kind", "hnsw"},
          {"size", size()},
          {"dim", dim()},
          {"m", impl_->params.m},
          {"ef_construction", impl_->params.ef_construction},
          {"ef_search", impl_->params.ef_search}};
}

namespace {

template <typename T>
void put(std::ostream& out, const T& v) {
  out.write(reinterpret_cast<const char*>(&v), sizeof(T));
}

// hnswlib's saveIndex layout, written to a stream (saveIndex only takes a path, and the file must
// be written atomically).
void write_graph(const Graph& g, std::ostream& out) {
  put(out, g.offsetLevel0_);
  put(out, g.max_elements_);
  put(out, g.cur_element_count);
  put(out, g.size_data_per_element_);
  put(out, g.label_offset_);
  put(out, g.offsetData_);
  put(out, g.maxlevel_);
  put(out, g.enterpoint_node_);
  put(out, g.maxM_);
  put(out, g.maxM0_);
  put(out, g.M_);
  put(out, g.mult_);
  put(out, g.ef_construction_);
  out.write(g.data_level0_memory_,
            static_cast<std::streamsize>(g.cur_element_count * g.size_data_per_element_));
  for (size_t i = 0; i < g.cur_element_count; ++i) {
    const unsigned int size =
        g.element_levels_[i] > 0
            ? static_cast<unsigned int>(g.size_links_per_element_ * g.element_levels_[i])
            : 0;
    put(out, size);
    if (size) out.write(g.linkLists_[i], size);
  }
}

template <typename T>
void get(std::istream& in, T& v, const std::string& path) {
  in.read(reinterpret_cast<char*>(&v), sizeof(T));
  if (!in) throw std::runtime_error("'" + path + "' is truncated");
}

// Checks the file's header and layout before hnswlib reads it (hnswlib trusts its input: a bad
// file would crash the process).
void check_graph_file(const std::string& path, int64_t rows, int64_t dim) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open '" + path + "'");
  in.seekg(0, std::ios::end);
  const int64_t file_size = static_cast<int64_t>(in.tellg());
  in.seekg(0);
  size_t offset_level0, max_elements, count, size_per_element, label_offset, offset_data, max_m,
      max_m0, m, ef_construction;
  int max_level;
  hnswlib::tableint enter;
  double mult;
  get(in, offset_level0, path);
  get(in, max_elements, path);
  get(in, count, path);
  get(in, size_per_element, path);
  get(in, label_offset, path);
  get(in, offset_data, path);
  get(in, max_level, path);
  get(in, enter, path);
  get(in, max_m, path);
  get(in, max_m0, path);
  get(in, m, path);
  get(in, mult, path);
  get(in, ef_construction, path);
  const auto bad = [&](const std::string& why) {
    return std::runtime_error("'" + path + "' is not a valid HNSW index for these embeddings (" +
                              why + "); rebuild it with `sembed index`");
  };
  if (static_cast<int64_t>(count) != rows)
    throw bad("it holds " + std::to_string(count) + " rows, the embeddings " +
              std::to_string(rows));
  if (max_m == 0 || max_m > 100000 || max_m0 == 0 || max_m0 > 200000) throw bad("bad degree");
  const size_t links0 = max_m0 * sizeof(hnswlib::tableint) + sizeof(hnswlib::linklistsizeint);
  if (offset_level0 != 0 || offset_data != links0 || label_offset != links0 + dim * sizeof(float) ||
      size_per_element != label_offset + sizeof(hnswlib::labeltype))
    throw bad("its element layout does not match dim " + std::to_string(dim));
  if (max_elements < count) throw bad("bad capacity");
  if (count > 0 && (enter >= count || max_level < 0 || max_level > 64))
    throw bad("bad entry point");
  if (!std::isfinite(mult)) throw bad("bad level multiplier");
  const size_t links_per_level =
      max_m * sizeof(hnswlib::tableint) + sizeof(hnswlib::linklistsizeint);
  int64_t pos = static_cast<int64_t>(in.tellg()) + static_cast<int64_t>(count * size_per_element);
  in.seekg(pos);
  for (size_t i = 0; i < count; ++i) {
    unsigned int size;
    get(in, size, path);
    if (size % links_per_level != 0 || size / links_per_level > static_cast<size_t>(max_level))
      throw bad("bad link list of element " + std::to_string(i));
    pos += sizeof(size) + size;
    if (size) in.seekg(size, std::ios::cur);
  }
  if (pos != file_size) throw bad("its size does not match its content");
}

// Checks every link and label of a loaded graph.
void check_graph(const Graph& g, int64_t rows, const std::string& path) {
  const auto bad = [&](const std::string& why) {
    return std::runtime_error("'" + path + "' is corrupt (" + why +
                              "); rebuild it with `sembed index`");
  };
  std::vector<uint8_t> seen(static_cast<size_t>(rows), 0);
  for (size_t i = 0; i < g.cur_element_count; ++i) {
    const hnswlib::labeltype label = g.getExternalLabel(static_cast<hnswlib::tableint>(i));
    if (label >= static_cast<size_t>(rows) || seen[label]) throw bad("bad label");
    seen[label] = 1;
    for (int level = 0; level <= g.element_levels_[i]; ++level) {
      hnswlib::linklistsizeint* list =
          level == 0 ? g.get_linklist0(static_cast<hnswlib::tableint>(i))
                     : g.get_linklist(static_cast<hnswlib::tableint>(i), level);
      const unsigned short n = g.getListCount(list);
      if (n > (level == 0 ? g.maxM0_ : g.maxM_)) throw bad("bad link count");
      const auto* links = reinterpret_cast<const hnswlib::tableint*>(list + 1);
      for (unsigned short t = 0; t < n; ++t)
        if (links[t] >= g.cur_element_count) throw bad("bad link");
    }
  }
}

}  // namespace

double HnswIndex::build(const VectorTable& table, const std::string& dir, const HnswParams& params,
                        const nlohmann::json& identity,
                        const std::function<void(int64_t done)>& progress) {
  params.validate();
  if (table.rows <= 0) throw std::invalid_argument("cannot index an empty embedding set");
  if (table.rows >= static_cast<int64_t>(std::numeric_limits<hnswlib::tableint>::max()))
    throw std::invalid_argument("too many rows for an HNSW index: " + std::to_string(table.rows));
  check_finite(table.data.data(), static_cast<int64_t>(table.data.size()), "the embeddings");
  const auto start = std::chrono::steady_clock::now();
  DotSpace space(static_cast<size_t>(table.dim));
  Graph graph(&space, static_cast<size_t>(table.rows), static_cast<size_t>(params.m),
              static_cast<size_t>(params.ef_construction), params.seed);
  graph.addPoint(table.data.data(), 0);

  // Rows go to the threads in small chunks from one counter; the calling thread reports progress.
  const int threads = std::max(
      1, std::min<int>(resolve_threads(params.threads), static_cast<int>(table.rows / 64 + 1)));
  std::atomic<int64_t> next{1}, done{1};
  std::atomic<int> finished{0};
  std::mutex mutex;
  std::condition_variable all_done;
  std::exception_ptr error;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      try {
        constexpr int64_t kChunk = 64;
        for (;;) {
          const int64_t b = next.fetch_add(kChunk);
          if (b >= table.rows) break;
          const int64_t e = std::min(b + kChunk, table.rows);
          for (int64_t r = b; r < e; ++r)
            graph.addPoint(table.data.data() + r * table.dim, static_cast<hnswlib::labeltype>(r));
          done += e - b;
          std::lock_guard<std::mutex> lock(mutex);
          if (error) break;
        }
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!error) error = std::current_exception();
        next = table.rows;  // the others stop at their next chunk
      }
      {
        std::lock_guard<std::mutex> lock(mutex);
        ++finished;
      }
      all_done.notify_all();
    });
  }
  {
    std::unique_lock<std::mutex> lock(mutex);
    while (finished < threads) {
      all_done.wait_for(lock, std::chrono::milliseconds(500));
      if (progress) {
        lock.unlock();
        progress(done.load());
        lock.lock();
      }
    }
  }
  for (auto& w : workers) w.join();
  if (error) std::rethrow_exception(error);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  make_directories(dir);
  AtomicFile file(index_path(dir));
  write_graph(graph, file.stream());
  file.commit();
  std::ifstream written(index_path(dir), std::ios::binary | std::ios::ate);
  const int64_t bytes = static_cast<int64_t>(written.tellg());

  std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  const nlohmann::json saved = {{"format", "sembed-hnsw"},
                                {"format_version", 1},
                                {"space", "ip"},
                                {"library", "hnswlib 0.6"},
                                {"rows", table.rows},
                                {"dim", table.dim},
                                {"m", params.m},
                                {"ef_construction", params.ef_construction},
                                {"ef_search", params.ef_search},
                                {"seed", params.seed},
                                {"index_bytes", bytes},
                                {"build_seconds", seconds},
                                {"build_threads", threads},
                                {"created", stamp},
                                {"embeddings", identity}};
  write_file_atomic(params_path(dir), saved.dump(2) + "\n");
  return seconds;
}

std::unique_ptr<HnswIndex> HnswIndex::load(const std::string& dir,
                                           std::shared_ptr<const VectorTable> table,
                                           const nlohmann::json& identity, int ef_search) {
  if (!table) throw std::invalid_argument("HnswIndex::load: no table");
  const std::string json_path = params_path(dir);
  const std::string graph_path = index_path(dir);
  nlohmann::json saved;
  try {
    saved = nlohmann::json::parse(read_file(json_path));
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error("'" + json_path + "' is not valid JSON: " + e.what());
  }
  const auto stale = [&](const std::string& why) {
    return std::runtime_error("the HNSW index in '" + dir + "' does not match its embeddings (" +
                              why + "); rebuild it with `sembed index --embeddings " + dir +
                              "`, or search exactly with --exact");
  };
  HnswParams params;
  int64_t rows = -1, dim = -1, bytes = -1;
  try {
    if (saved.at("format").get<std::string>() != "sembed-hnsw" ||
        saved.at("format_version").get<int>() != 1)
      throw std::runtime_error("'" + json_path + "' has an unknown format or format_version");
    rows = saved.at("rows").get<int64_t>();
    dim = saved.at("dim").get<int64_t>();
    bytes = saved.at("index_bytes").get<int64_t>();
    params.m = saved.at("m").get<int>();
    params.ef_construction = saved.at("ef_construction").get<int>();
    params.ef_search = saved.value("ef_search", params.ef_search);
    params.seed = saved.value("seed", params.seed);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error("'" + json_path + "' is missing a field: " + e.what());
  }
  if (rows != table->rows)
    throw stale(std::to_string(rows) + " rows indexed, " + std::to_string(table->rows) +
                " embedded");
  if (dim != table->dim)
    throw stale("dim " + std::to_string(dim) + " indexed, " + std::to_string(table->dim) +
                " embedded");
  if (saved.value("embeddings", nlohmann::json()) != identity)
    throw stale("built from other embeddings");
  {
    std::ifstream f(graph_path, std::ios::binary | std::ios::ate);
    if (!f) throw std::runtime_error("cannot open '" + graph_path + "'");
    if (static_cast<int64_t>(f.tellg()) != bytes)
      throw stale("index.hnsw was replaced after index.json");
  }
  if (ef_search > 0) params.ef_search = ef_search;
  params.validate();
  check_graph_file(graph_path, table->rows, table->dim);

  std::unique_ptr<HnswIndex> index(new HnswIndex());
  Impl& impl = *index->impl_;
  impl.table = std::move(table);
  impl.params = params;
  impl.saved = saved;
  impl.space = std::make_unique<DotSpace>(static_cast<size_t>(dim));
  // hnswlib's loading constructor leaves some members unset; start from the empty one with
  // every member its destructor touches in a safe state.
  impl.graph = std::make_unique<Graph>(impl.space.get());
  Graph& g = *impl.graph;
  g.num_deleted_ = 0;
  g.cur_element_count = 0;
  g.data_level0_memory_ = nullptr;
  g.linkLists_ = nullptr;
  g.visited_list_pool_ = nullptr;
  g.metric_distance_computations = 0;
  g.metric_hops = 0;
  try {
    g.loadIndex(graph_path, impl.space.get());
  } catch (const std::exception& e) {
    g.cur_element_count = 0;  // the destructor must not walk half-loaded link lists
    throw std::runtime_error("cannot load '" + graph_path + "': " + e.what());
  }
  check_graph(g, impl.table->rows, graph_path);
  g.setEf(static_cast<size_t>(params.ef_search));
  return index;
}

std::vector<std::vector<SearchHit>> HnswIndex::search(const float* queries, int64_t n,
                                                      int k) const {
  if (k < 1) throw std::invalid_argument("k must be >= 1");
  const VectorTable& table = *impl_->table;
  std::vector<std::vector<SearchHit>> results(static_cast<size_t>(std::max<int64_t>(n, 0)));
  if (n <= 0 || table.rows == 0) return results;
  check_finite(queries, n * table.dim, "the query vectors");
  const int kk = static_cast<int>(std::min<int64_t>(k, table.rows));
  auto one = [&](int64_t i) {
    const float* q = queries + i * table.dim;
    auto found = impl_->graph->searchKnn(q, static_cast<size_t>(kk));
    std::vector<int64_t> rows;
    rows.reserve(found.size());
    while (!found.empty()) {
      rows.push_back(static_cast<int64_t>(found.top().second));
      found.pop();
    }
    results[i] = rescore(q, table, rows, kk);
  };
  if (n == 1) {
    one(0);
  } else {
    parallel_for(static_cast<size_t>(n), resolve_threads(0), [&](size_t b, size_t e) {
      for (size_t i = b; i < e; ++i) one(static_cast<int64_t>(i));
    });
  }
  return results;
}

}  // namespace sembed::serve
