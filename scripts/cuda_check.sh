#!/usr/bin/env bash
# The CUDA machine's whole check, in one call: builds sembed against that machine's pip torch
# (LibTorch 2.x) with Debian packages carried in .device-deps/debs (ICU, nlohmann-json,
# googletest source, cpp-httplib and its dependencies, CLI11, hnswlib, pkgconf) and the
# SentencePiece source in .deps/, then
#   1. bench: bench/train_bench (base preset, batch 128 x length 32, bf16) and, in the same run,
#      the same step in Python PyTorch and in transformers' BertModel (bench/train_step_baseline.py);
#   2. tests: the whole GoogleTest suite (the CUDA tests compare the GPU against the CPU);
#   3. recipes (when .device-deps/recipe exists, see scripts/fetch_device_deps.sh --recipe-work):
#      recipes/supervised.json and recipes/supervised-cuda.json on the GPU, after the tests (which
#      would otherwise take the CPU the training steps need).
# Everything it prints lands in $OUT/cuda_check.log, results in $OUT (when set: the device tool's
# folder that comes back, at most 8 files): ctest.log, train_bench_cuda.json,
# train_baseline_cuda.json, and per recipe its log and recipe_report.
#
#   scripts/fetch_device_deps.sh [--recipe-work runs/supervised/work]   # here, once
#   device run: scripts/cuda_check.sh        carry [".device-deps", ".deps/sentencepiece-0.1.97"]
#
# CUDA_CHECK_BUDGET (seconds, default 570) bounds the whole script (the device tool stops a
# command at 600 s): each phase gets what is left, the recipes' time limits are scaled to fit.
# CUDA_CHECK_PHASES (default "bench,tests,recipes") chooses phases; the build always runs
# (incrementally when build-cuda/ is already there).
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT=${OUT:-$ROOT/build-cuda/out}
mkdir -p "$OUT"
exec > >(tee "$OUT/cuda_check.log") 2>&1
BUDGET=${CUDA_CHECK_BUDGET:-570}
PHASES=${CUDA_CHECK_PHASES:-bench,tests,recipes}
T0=$SECONDS
left() { echo $((BUDGET - (SECONDS - T0))); }
say() { echo "[cuda] +$((SECONDS - T0))s $*"; }
has_phase() { [[ ",$PHASES," == *",$1,"* ]]; }

say "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader || true
nproc; free -g | head -2
g++ --version | head -1; cmake --version | head -1
for t in ninja nvcc pkg-config pkgconf python3 xz; do echo "$t: $(command -v $t || echo missing)"; done
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cxx11abi", torch._C._GLIBCXX_USE_CXX11_ABI, torch.cuda.get_device_name(0))' || exit 1

# Carried Debian packages, unpacked into a private sysroot (never into /).
SYS=$ROOT/.device-sysroot
if [[ ! -f $SYS/.complete ]]; then
  rm -rf "$SYS" && mkdir -p "$SYS"
  for f in .device-deps/debs/*.deb; do dpkg-deb -x "$f" "$SYS" || exit 1; done
  touch "$SYS/.complete"
fi
LIB=$SYS/usr/lib/x86_64-linux-gnu
export PKG_CONFIG_LIBDIR=$LIB/pkgconfig:$SYS/usr/share/pkgconfig
export PKG_CONFIG_SYSROOT_DIR=$SYS
export LD_LIBRARY_PATH=$LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
PKGCONF=$(command -v pkg-config || command -v pkgconf || echo "$SYS/usr/bin/pkgconf")
echo "pkg-config: $PKGCONF"

TORCH_PREFIX=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
TORCH_INC=$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "include"))')
STD=17
if grep -rqs "C++20 or later" "$TORCH_INC/ATen/ATen.h" "$TORCH_INC/c10/" "$TORCH_INC/torch/csrc/api/include/torch/"; then
  STD=20
fi
say "C++ standard: $STD"
GEN=(); KEEP=(); command -v ninja >/dev/null && { GEN=(-G Ninja); KEEP=(-- -k 0); }
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}

say "configure"
if ! cmake -S . -B build-cuda "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_STANDARD=$STD \
  -DCMAKE_PREFIX_PATH="$TORCH_PREFIX;$SYS/usr" -DICU_ROOT="$SYS/usr" \
  -DPKG_CONFIG_EXECUTABLE="$PKGCONF" \
  -DSEMBED_GTEST_SOURCE_DIR="$SYS/usr/src/googletest" \
  -DCMAKE_EXE_LINKER_FLAGS="-Wl,-rpath-link,$LIB -Wl,-rpath,$LIB" \
  -DHNSWLIB_INCLUDE_DIR="$SYS/usr/include"; then
  tail -60 build-cuda/CMakeFiles/CMakeError.log 2>/dev/null
  exit 1
fi
say "build"
timeout $(($(left) - 60)) cmake --build build-cuda -j "$(nproc)" "${KEEP[@]}" 2>&1 |
  grep -v "^\[[0-9]*/[0-9]*\] Building"
rc=${PIPESTATUS[0]}
if [[ $rc != 0 || ! -x build-cuda/sembed ]]; then
  say "build FAILED (rc $rc)"
  exit 1
fi
say "build done"
./build-cuda/sembed --version
# pytorch.org builds export libstdc++ pieces (cmake/Dependencies.cmake): libstdc++ must be named
# before torch, or every test that writes a file crashes.
echo "libtorch_cpu exports $(nm -D --defined-only "$(dirname "$TORCH_INC")/lib/libtorch_cpu.so" |
  c++filt | grep -c 'std::filesystem') std::filesystem symbols; sembed needs:" \
  $(readelf -d build-cuda/sembed | grep NEEDED | head -3 | grep -o '\[.*\]')
status=0

if has_phase bench; then
  say "bench: sembed"
  timeout 120 ./build-cuda/bench/train_bench --preset base --batch-size 128 --seq-len 32 --steps 50 \
    --device cuda --json "$OUT/train_bench_cuda.json" || status=1
  timeout 120 ./build-cuda/bench/train_bench --preset base --batch-size 128 --seq-len 32 --steps 50 \
    --device cuda --fp32 --json build-cuda/train_bench_cuda_fp32.json || status=1
  # A larger step for context: how far the step is from the GPU's ceiling once kernels are big.
  timeout 90 ./build-cuda/bench/train_bench --preset base --batch-size 512 --seq-len 64 --steps 20 \
    --device cuda --json build-cuda/train_bench_cuda_512x64.json | grep -E "tokens_per_s|mfu" || status=1
  say "bench: Python baselines"
  timeout 150 python3 bench/train_step_baseline.py --preset base --batch-size 128 --seq-len 32 \
    --steps 50 --device cuda --json "$OUT/train_baseline_cuda.json" || status=1
  python3 - "$OUT" <<'EOF' || true
import json, sys, os
out = sys.argv[1]
s = json.load(open(os.path.join(out, "train_bench_cuda.json")))
b = json.load(open(os.path.join(out, "train_baseline_cuda.json")))
print(f"[cuda] sembed base 128x32 bf16: {s['tokens_per_s']:.0f} tokens/s, "
      f"{s['model_tflops_per_s']:.1f} TFLOP/s, MFU {100 * s['mfu']:.2f}% of {s['peak_tflops']}")
for k in ("pytorch", "hf_bert"):
    r = b.get(k, {})
    if "tokens_per_s" in r:
        print(f"[cuda] {k}: {r['tokens_per_s']:.0f} tokens/s; sembed / {k} = "
              f"{s['tokens_per_s'] / r['tokens_per_s']:.2f}x")
    else:
        print(f"[cuda] {k}: {r.get('error')}")
EOF
fi

if has_phase tests; then
  say "tests"
  # CLI tests leave --device at auto: on this machine they train and embed on the GPU.
  (cd build-cuda && SEMBED_THREADS=1 timeout $(($(left) - 15)) ctest -j 8 --timeout 240 \
    --output-on-failure -E "Npm|OpenAi" > "$OUT/ctest.log" 2>&1); rc=$?
  grep -E "tests passed|tests failed|Failed|\*\*\*|Skipped|Not Run" "$OUT/ctest.log" | head -60
  grep -E "^\[ *(OK|SKIPPED|FAILED) *\] Cuda\." "$OUT/ctest.log" || true
  (cd build-cuda && ctest -N -R Cuda | tail -5)
  [[ $rc == 0 ]] || status=1
  say "tests done (ctest rc $rc)"
fi

pids=()
if has_phase recipes && [[ -d .device-deps/recipe/work ]]; then
  # Each run starts from the carried corpus/tokenizer cache (the machine has no Debian texts).
  for r in supervised supervised-cuda; do
    d=runs/cuda-$r
    if [[ ! -f $d/work/tokenizer.model.done ]]; then
      mkdir -p "$d/work" && cp -r .device-deps/recipe/work/. "$d/work/" &&
        python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
          "$d/work/corpus.txt.xz" "$d/work/corpus.txt" && rm "$d/work/corpus.txt.xz"
    fi
  done
  # Stage time limits add up to 3000 s (supervised) and 390 s (supervised-cuda): scale them to
  # what is left, keeping 90 s for the fresh model's and each stage's evaluations.
  rem=$(($(left) - 30))
  for r in supervised supervised-cuda; do
    total=3000; [[ $r == supervised-cuda ]] && total=390
    scale=$(python3 -c "print(round(max(0.01, min(1.0, ($rem - 90) / $total)), 4))")
    say "recipe $r: $rem s left, time scale $scale"
    SEMBED_DATA_DIR=$ROOT/.device-deps/recipe/data timeout "$rem" ./build-cuda/sembed train \
      --recipe recipes/$r.json --output runs/cuda-$r --device cuda --threads 4 --time-scale "$scale" \
      > "$OUT/recipe-$r.log" 2>&1 &
    pids+=($!)
  done
fi

for i in "${!pids[@]}"; do
  wait "${pids[$i]}"; rc=$?
  say "recipe run $i: rc $rc"
done
if ((${#pids[@]})); then
  for r in supervised supervised-cuda; do
    f=runs/cuda-$r/recipe_report.json
    [[ -f $f ]] && cp "$f" "$OUT/recipe_report-$r.json"
    tail -4 "$OUT/recipe-$r.log"
    python3 - "$f" <<'EOF' || true
import json, sys
r = json.load(open(sys.argv[1]))
print("[cuda]", sys.argv[1], "final:", json.dumps(r.get("final")), "seconds:", round(r.get("seconds", 0)))
for s in r.get("steps", []):
    print("   ", {k: v for k, v in s.items() if k in ("step", "stage", "seconds", "dev", "steps", "best_dev", "cached")})
EOF
  done
fi
say "total, status $status"
exit $status
