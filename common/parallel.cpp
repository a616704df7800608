#include "common/parallel.h"

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sembed {

int default_threads() {
  if (const char* env = std::getenv("SEMBED_THREADS")) {
    try {
      int n = std::stoi(env);
      if (n > 0) return n;
    } catch (...) {
    }
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

int resolve_threads(int requested) {
  return requested > 0 ? requested : default_threads();
}

void parallel_for(size_t n, int threads, const std::function<void(size_t, size_t)>& fn) {
  if (n == 0) return;
  size_t workers = std::min<size_t>(std::max(1, threads), n);
  if (workers == 1) {
    fn(0, n);
    return;
  }
  std::exception_ptr error;
  std::mutex error_mutex;
  auto run = [&](size_t begin, size_t end) {
    try {
      fn(begin, end);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
    }
  };
  const size_t chunk = (n + workers - 1) / workers;
  std::vector<std::thread> pool;
  pool.reserve(workers - 1);
  for (size_t w = 1; w < workers; ++w) {
    size_t begin = w * chunk, end = std::min(n, begin + chunk);
    if (begin < end) pool.emplace_back(run, begin, end);
  }
  run(0, std::min(n, chunk));
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace sembed
