#!/usr/bin/env bash
# Builds sembed on the CUDA machine against its pip torch (LibTorch 2.x) with Debian packages
# carried in .device-deps/debs (ICU, nlohmann-json, googletest source, cpp-httplib and its
# dependencies, CLI11, hnswlib) and the SentencePiece source in .deps/, then runs the CUDA tests
# and the GPU training benchmark. Everything it prints also lands in $OUT (when set).
#
#   scripts/fetch_device_deps.sh          # here, once: downloads the .debs
#   device run: scripts/cuda_check.sh     # there, with carry [".device-deps", ".deps/sentencepiece-0.1.97"]
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT=${OUT:-$ROOT/build-cuda/out}
mkdir -p "$OUT"
exec > >(tee "$OUT/cuda_check.log") 2>&1
t_start=$SECONDS
SYS=$ROOT/.device-sysroot
rm -rf "$SYS" && mkdir -p "$SYS"
for f in .device-deps/debs/*.deb; do dpkg-deb -x "$f" "$SYS"; done
LIB=$SYS/usr/lib/x86_64-linux-gnu
export PKG_CONFIG_LIBDIR=$LIB/pkgconfig:$SYS/usr/share/pkgconfig
export PKG_CONFIG_SYSROOT_DIR=$SYS
export LD_LIBRARY_PATH=$LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
TORCH_PREFIX=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
TORCH_INC=$(dirname "$TORCH_PREFIX")/../include
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "abi", torch._C._GLIBCXX_USE_CXX11_ABI, torch.cuda.get_device_name(0))'
STD=17
if grep -rqs "C++20 or later" "$TORCH_INC/ATen/" "$TORCH_INC/c10/" 2>/dev/null; then STD=20; fi
echo "[cuda] C++ standard: $STD"
GEN=(); command -v ninja >/dev/null && GEN=(-G Ninja)
cmake -S . -B build-cuda "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_STANDARD=$STD \
  -DCMAKE_PREFIX_PATH="$TORCH_PREFIX;$SYS/usr" -DICU_ROOT="$SYS/usr" \
  -DSEMBED_GTEST_SOURCE_DIR="$SYS/usr/src/googletest" \
  -DCMAKE_EXE_LINKER_FLAGS="-Wl,-rpath-link,$LIB -Wl,-rpath,$LIB" \
  -DHNSWLIB_INCLUDE_DIR="$SYS/usr/include" || exit 1
t_cfg=$SECONDS
cmake --build build-cuda -j "$(nproc)" || exit 1
echo "[cuda] build: $((SECONDS - t_cfg)) s"
./build-cuda/sembed --version
status=0
# Every test suite runs: the CUDA ones (tests/model/cuda_test.cpp) compare the GPU against the CPU.
(cd build-cuda && ctest -j 8 --output-on-failure --timeout 300 -E "Npm|OpenAi" 2>&1 | tail -40) || status=1
./build-cuda/bench/train_bench --preset base --batch-size 128 --seq-len 32 --steps 30 --device cuda \
  --json "$OUT/train_bench_cuda.json" || status=1
echo "[cuda] total: $((SECONDS - t_start)) s, status $status"
exit $status
