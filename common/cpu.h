#pragma once

// What the CPU can do natively, and the precision choices that follow from it. No torch here.
namespace sembed {

// True when the CPU multiplies bf16 natively (AVX512-BF16 or AMX-BF16). There bf16 autocast
// runs about 2x faster than fp32; elsewhere oneDNN emulates bf16 and a training step runs about
// 30x *slower* than in fp32 (bench/train_bench on a 2-core AVX2 EPYC: 0.018 against 0.60
// steps/s).
bool cpu_has_native_bf16();

// Whether a request for bf16 autocast (`--bf16`, a recipe's "bf16") is carried out: always on
// CUDA; on the CPU only where bf16 is native, unless $SEMBED_FORCE_BF16=1. bf16 is a speed
// option (weights stay fp32), so a CPU that would run it slower gets fp32, with one warning per
// process saying so.
bool bf16_autocast_for(bool requested, bool cuda);

}  // namespace sembed
