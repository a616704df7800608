#!/usr/bin/env bash
# The whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer.
#
#   scripts/sanitize.sh [ctest arguments...]       e.g. scripts/sanitize.sh -L tokenizer
#
# Configures build-asan/ (RelWithDebInfo, -DSEMBED_SANITIZE=ON: every sembed target and the
# SentencePiece library compiled and linked with -fsanitize=address,undefined), builds it and runs
# ctest. Prebuilt libraries (Debian's libtorch, OpenBLAS, ICU, GoogleTest) are not instrumented:
# ASan still checks every access sembed's own code makes, UBSan checks sembed's code only.
# Environment: SEMBED_ASAN_BUILD_DIR (default build-asan), SEMBED_SANITIZE_BUILD_TYPE (default
# RelWithDebInfo), SEMBED_JOBS (build and ctest jobs, default all cores), CC/CXX as usual (GCC by
# default; clang works too). Not part of .ci/run (it roughly doubles the CI time): run it by hand
# or in a nightly job.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${SEMBED_ASAN_BUILD_DIR:-$ROOT/build-asan}
JOBS=${SEMBED_JOBS:-$(nproc)}
TYPE=${SEMBED_SANITIZE_BUILD_TYPE:-RelWithDebInfo}

log() { printf '[sanitize] %s\n' "$*"; }

log "configuring $BUILD ($TYPE, SEMBED_SANITIZE=ON)"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE="$TYPE" -DSEMBED_SANITIZE=ON \
  -DSEMBED_BUILD_TESTS=ON -DSEMBED_BUILD_BENCH=OFF >/dev/null
start=$(date +%s)
log "building (-j $JOBS)"
cmake --build "$BUILD" -j "$JOBS"
built=$(date +%s)
log "build took $((built - start)) s"

# halt_on_error / abort_on_error: the first finding fails the test (with its report in the
# output). detect_leaks=1: LeakSanitizer stays on; the whole suite runs clean with it (LibTorch's,
# OpenMP's and glog's per-process allocations stay reachable, so they are not reported). If a
# prebuilt library ever does report a leak that is not sembed's, suppress it by library name
# (LSAN_OPTIONS=suppressions=FILE with "leak:libtorch") rather than turning detection off.
# UBSan: halt on the first finding, with a stack trace (the build already uses
# -fno-sanitize-recover=undefined, so a finding aborts the process).
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=1:detect_leaks=1:strict_init_order=1:check_initialization_order=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
log "ASAN_OPTIONS=$ASAN_OPTIONS"
log "UBSAN_OPTIONS=$UBSAN_OPTIONS"

cd "$BUILD"
# Instrumented code runs 2-5x slower: a longer per-test timeout than scripts/test.sh.
status=0
ctest -j "$JOBS" --output-on-failure --timeout 1800 "$@" || status=$?
log "tests took $(($(date +%s) - built)) s"
if ((status != 0)); then
  log "failures: look for 'ERROR: AddressSanitizer' or 'runtime error' in the output above"
fi
exit $status
