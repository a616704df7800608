#pragma once

// Every difference between LibTorch 1.13 (Debian, CPU) and 2.x (pip torch on the CUDA machine)
// that sembed touches lives here, keyed on TORCH_VERSION_MAJOR/MINOR.
#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <torch/version.h>

#if TORCH_VERSION_MAJOR >= 2
#define SEMBED_TORCH2 1
#else
#define SEMBED_TORCH2 0
#endif

namespace sembed::compat {

// Fused scaled-dot-product attention. q, k, v: [B, heads, T, d]; `attend`: bool, broadcastable
// to [B, heads, T, T], true = may attend. 1.13 has it only as the private
// at::_scaled_dot_product_attention; 2.x has the public op (flash / memory-efficient kernels).
inline at::Tensor scaled_dot_product_attention(const at::Tensor& q, const at::Tensor& k,
                                               const at::Tensor& v, const at::Tensor& attend,
                                               double dropout_p) {
#if SEMBED_TORCH2
  return at::scaled_dot_product_attention(q, k, v, attend, dropout_p, /*is_causal=*/false);
#else
  return std::get<0>(at::_scaled_dot_product_attention(q, k, v, attend, dropout_p,
                                                       /*need_attn_weights=*/false,
                                                       /*is_causal=*/false));
#endif
}

// Whether autocast is on for `device` in this thread.
inline bool autocast_enabled(at::DeviceType device) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  return at::autocast::is_autocast_enabled(device);
#else
  return device == at::kCUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
#endif
}

// RAII autocast to bfloat16 on `device` (CPU: oneDNN bf16 matmuls, ~2x fp32; CUDA: tensor
// cores). Weights stay fp32; matmuls run in bf16, reductions such as softmax / layer_norm in
// fp32. A disabled guard does nothing.
class AutocastGuard {
 public:
  AutocastGuard(at::DeviceType device, bool enabled) : device_(device), enabled_(enabled) {
    if (!enabled_) return;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    prev_enabled_ = at::autocast::is_autocast_enabled(device_);
    prev_dtype_ = at::autocast::get_autocast_dtype(device_);
    at::autocast::set_autocast_enabled(device_, true);
    at::autocast::set_autocast_dtype(device_, at::kBFloat16);
#else
    if (device_ == at::kCUDA) {
      prev_enabled_ = at::autocast::is_enabled();
      prev_dtype_ = at::autocast::get_autocast_gpu_dtype();
      at::autocast::set_enabled(true);
      at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    } else {
      prev_enabled_ = at::autocast::is_cpu_enabled();
      prev_dtype_ = at::autocast::get_autocast_cpu_dtype();
      at::autocast::set_cpu_enabled(true);
      at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    }
#endif
    at::autocast::increment_nesting();
  }
  ~AutocastGuard() {
    if (!enabled_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    at::autocast::set_autocast_enabled(device_, prev_enabled_);
    at::autocast::set_autocast_dtype(device_, prev_dtype_);
#else
    if (device_ == at::kCUDA) {
      at::autocast::set_enabled(prev_enabled_);
      at::autocast::set_autocast_gpu_dtype(prev_dtype_);
    } else {
      at::autocast::set_cpu_enabled(prev_enabled_);
      at::autocast::set_autocast_cpu_dtype(prev_dtype_);
    }
#endif
  }
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  at::DeviceType device_;
  bool enabled_;
  bool prev_enabled_ = false;
  at::ScalarType prev_dtype_ = at::kBFloat16;
};

}  // namespace sembed::compat
