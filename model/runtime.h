#pragma once

#include <string>

namespace sembed {

// Facts about the LibTorch runtime, with std types only (no torch in this header).
struct TorchRuntimeInfo {
  std::string version;  // LibTorch version sembed was built with, e.g. "1.13.0"
  bool cuda_available = false;
  int cuda_devices = 0;
  int threads = 0;  // intra-op threads in use
  bool bf16_cpu_supported = false;
};

// Runs a tiny tensor op (proof that LibTorch works in this process) and reports the runtime.
TorchRuntimeInfo torch_runtime_info();

// Sets LibTorch's intra-op thread count: `threads` > 0, else from the hardware / $SEMBED_THREADS
// (LibTorch starts at 1 thread on Debian's build). Idempotent.
void configure_torch_threads(int threads = 0);

}  // namespace sembed
