#include "model/runtime.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include "common/cpu.h"
#include "common/parallel.h"

namespace sembed {

TorchRuntimeInfo torch_runtime_info() {
  TorchRuntimeInfo info;
  info.version = TORCH_VERSION;
  at::Tensor t = at::ones({4, 4});
  (void)at::matmul(t, t).sum().item<float>();
  info.cuda_available = torch::cuda::is_available();
  info.cuda_devices = info.cuda_available ? static_cast<int>(torch::cuda::device_count()) : 0;
  info.threads = at::get_num_threads();
  info.bf16_cpu_supported = cpu_has_native_bf16();
  return info;
}

void configure_torch_threads(int threads) {
  const int n = resolve_threads(threads);
  if (at::get_num_threads() != n) at::set_num_threads(n);
}

}  // namespace sembed
