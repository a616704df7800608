#!/usr/bin/env bash
# The test command (README, CI): machine set-up, build, then the whole test suite.
# Tests that need ../shared/data skip cleanly when it is absent.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${SEMBED_BUILD_DIR:-$ROOT/build}
"$ROOT/scripts/setup.sh"
start=$(date +%s)
"$ROOT/scripts/build.sh"
built=$(date +%s)
echo "[test] build took $((built - start)) s"
cd "$BUILD"
ctest -j "${SEMBED_JOBS:-$(nproc)}" --output-on-failure --timeout 600
echo "[test] tests took $(( $(date +%s) - built )) s"
