#!/usr/bin/env bash
# Configure and build sembed in ./build (Release). Extra arguments go to CMake's configure step.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${SEMBED_BUILD_DIR:-$ROOT/build}
JOBS=${SEMBED_JOBS:-$(nproc)}
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build "$BUILD" -j "$JOBS"
