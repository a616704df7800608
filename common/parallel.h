#pragma once

#include <cstddef>
#include <functional>

namespace sembed {

// Number of worker threads to use when the caller says 0: $SEMBED_THREADS if set, else the
// machine's hardware threads (at least 1).
int default_threads();
// `requested` if > 0, else default_threads().
int resolve_threads(int requested);

// Calls fn(begin, end) on `threads` threads over contiguous chunks of [0, n). The calling thread
// takes one chunk. The first exception thrown by any chunk is rethrown after all have finished.
void parallel_for(size_t n, int threads, const std::function<void(size_t begin, size_t end)>& fn);

}  // namespace sembed
