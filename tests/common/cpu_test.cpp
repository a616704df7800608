// Precision choices from the CPU's features.
#include "common/cpu.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace sembed {
namespace {

TEST(Cpu, Bf16IsCarriedOutOnlyWhereItIsFast) {
  ::unsetenv("SEMBED_FORCE_BF16");
  EXPECT_FALSE(bf16_autocast_for(false, false));
  EXPECT_FALSE(bf16_autocast_for(false, true));
  EXPECT_TRUE(bf16_autocast_for(true, true));  // CUDA: always
  EXPECT_EQ(bf16_autocast_for(true, false), cpu_has_native_bf16());
  ::setenv("SEMBED_FORCE_BF16", "1", 1);
  EXPECT_TRUE(bf16_autocast_for(true, false));
  EXPECT_FALSE(bf16_autocast_for(false, false));  // forcing never turns bf16 on unasked
  ::setenv("SEMBED_FORCE_BF16", "0", 1);
  EXPECT_EQ(bf16_autocast_for(true, false), cpu_has_native_bf16());
  ::unsetenv("SEMBED_FORCE_BF16");
}

}  // namespace
}  // namespace sembed
