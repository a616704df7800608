#include "common/cpu.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "common/log.h"

namespace sembed {

bool cpu_has_native_bf16() {
  // Read once: every embedding call (each served request) asks.
  static const bool native = [] {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16") || __builtin_cpu_supports("amx-bf16");
#else
    return false;
#endif
  }();
  return native;
}

bool bf16_autocast_for(bool requested, bool cuda) {
  if (!requested || cuda) return requested;
  if (cpu_has_native_bf16()) return true;
  const char* force = std::getenv("SEMBED_FORCE_BF16");
  if (force && std::strcmp(force, "1") == 0) return true;
  static std::atomic<bool> warned{false};
  if (!warned.exchange(true))
    log_warning(
        "bf16 requested, but this CPU has no native bf16 (AVX512-BF16/AMX), where bf16 autocast "
        "runs ~30x slower than fp32: using fp32 (SEMBED_FORCE_BF16=1 uses bf16 anyway)");
  return false;
}

}  // namespace sembed
