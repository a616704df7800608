#pragma once

namespace sembed::cli {

// Some runtime settings can only be chosen through environment variables that libraries read
// while they load, before main() runs:
//  - OPENBLAS_CORETYPE: Debian's OpenBLAS 0.3.21 does not recognise recent Xeons (Sapphire
//    Rapids) and falls back to its SSE3 "Prescott" kernels, ~6x slower fp32 GEMMs than its
//    AVX-512 "SkylakeX" kernels on the same CPU. Set to SkylakeX when the CPU has AVX-512.
//  - OMP_WAIT_POLICY=passive (unless set): idle OpenMP workers sleep instead of spinning, so a
//    mostly idle server does not burn cores, a one-sentence request does not wait behind
//    spinning threads, and training on a machine shared with other work does not slow ~7x.
//  - ONEDNN_PRIMITIVE_CACHE_CAPACITY=16 for `serve`: oneDNN's per-shape primitive cache (1024
//    entries by default) otherwise grows the server's memory with every new batch shape.
// When a variable should be set and is not, this sets it and re-executes the binary once
// (SEMBED_NO_REEXEC=1 disables it). Returns normally when nothing needs to change.
void reexec_with_runtime_env(int argc, char** argv);

}  // namespace sembed::cli
