#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang in build-fuzz/ and runs each one for a while.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]        (default 300)
#
# Environment: FUZZ_TARGETS="fuzz_npy fuzz_requests" runs a subset; SEMBED_JOBS build jobs
# (default: all cores); CC/CXX (default clang-14/clang++-14).
#
# One fuzzer at a time, one process each. Each target starts from a fresh copy of its committed
# seed corpus (fuzz/corpus/<target>/ -> build-fuzz/corpus/<target>/: the committed corpus never
# grows). Crash, leak, timeout and OOM inputs go to build-fuzz/artifacts/<target>/ (never into the
# source tree); logs to build-fuzz/logs/<target>.log. After a crash the target is restarted for the
# rest of its time (so one bug may be counted more than once). Limits per input: 2 GB RSS, 512 MB
# per allocation, 10 s. Prints executions, exec/s and crashes per target; exits 1 if any crashed.
# Reproduce a crash with: build-fuzz/fuzz/<target> build-fuzz/artifacts/<target>/crash-...
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SECONDS_PER_TARGET=${1:-300}
BUILD=${SEMBED_FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
JOBS=${SEMBED_JOBS:-$(nproc)}
ALL_TARGETS="fuzz_requests fuzz_normalizer fuzz_tokenizer fuzz_safetensors fuzz_npy"
TARGETS=${FUZZ_TARGETS:-$ALL_TARGETS}
export CC=${CC:-clang-14} CXX=${CXX:-clang++-14}

log() { printf '[fuzz] %s\n' "$*"; }
die() { printf '[fuzz] error: %s\n' "$*" >&2; exit 2; }
[[ $SECONDS_PER_TARGET =~ ^[0-9]+$ && $SECONDS_PER_TARGET -gt 0 ]] ||
  die "usage: scripts/fuzz.sh [SECONDS_PER_TARGET]"
command -v "$CXX" >/dev/null || die "$CXX not found (apt-get install clang-14 libclang-rt-14-dev)"

log "configuring $BUILD ($CXX, SEMBED_FUZZ=ON)"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSEMBED_FUZZ=ON \
  -DSEMBED_BUILD_TESTS=OFF -DSEMBED_BUILD_BENCH=OFF >/dev/null
log "building $TARGETS (-j $JOBS)"
# shellcheck disable=SC2086
cmake --build "$BUILD" -j "$JOBS" --target $TARGETS

# Runs one target for its time; fills the globals below.
run_target() {
  local t=$1 bin="$BUILD/fuzz/$1" corpus="$BUILD/corpus/$1" art="$BUILD/artifacts/$1/"
  local logf="$BUILD/logs/$1.log" dict="$ROOT/fuzz/dict/$1.dict"
  rm -rf "$corpus" "$art"
  mkdir -p "$corpus" "$art" "$BUILD/logs"
  cp "$ROOT/fuzz/corpus/$t/"* "$corpus/"
  local args=(-print_final_stats=1 -rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=10
              -artifact_prefix="$art")
  [[ -f $dict ]] && args+=(-dict="$dict")
  : >"$logf"
  EXECS=0 RUNS=0 NEW=0 PEAK=0
  local start now left rc
  start=$(date +%s)
  while :; do
    now=$(date +%s)
    left=$((SECONDS_PER_TARGET - (now - start)))
    ((left > 0 && RUNS < 50)) || break
    RUNS=$((RUNS + 1))
    echo "=== run $RUNS: $bin ${args[*]} -max_total_time=$left $corpus" >>"$logf"
    rc=0
    UBSAN_OPTIONS=print_stacktrace=1 "$bin" "${args[@]}" -max_total_time="$left" "$corpus" \
      >>"$logf" 2>&1 || rc=$?
    local e n p
    e=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logf" | tail -1)
    n=$(sed -n 's/^stat::new_units_added: *//p' "$logf" | tail -1)
    p=$(sed -n 's/^stat::peak_rss_mb: *//p' "$logf" | tail -1)
    EXECS=$((EXECS + ${e:-0})) NEW=$((NEW + ${n:-0}))
    ((${p:-0} > PEAK)) && PEAK=$p
    ((rc == 0)) && break
    echo "=== exit status $rc" >>"$logf"
  done
  ELAPSED=$(($(date +%s) - start))
  CRASHES=$(find "$art" -maxdepth 1 \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
    -o -name 'oom-*' \) | wc -l)
}

results=()
failed=0
for t in $TARGETS; do
  log "$t: ${SECONDS_PER_TARGET}s"
  run_target "$t"
  rate=$((ELAPSED > 0 ? EXECS / ELAPSED : 0))
  line=$(printf '%-17s %12d %9d %8d %9d %8d' "$t" "$EXECS" "$rate" "$CRASHES" "$NEW" "$PEAK")
  results+=("$line")
  log "$line"
  if ((CRASHES > 0)); then
    failed=1
    log "$t: crash inputs in $BUILD/artifacts/$t/ (log: $BUILD/logs/$t.log)"
    grep -hE 'ERROR: (AddressSanitizer|libFuzzer|LeakSanitizer)|runtime error|FUZZ_CHECK|SUMMARY' \
      "$BUILD/logs/$t.log" | sort | uniq -c | head -10 || true
  fi
done

echo
printf '%-17s %12s %9s %8s %9s %8s\n' target executions exec/s crashes new_units peak_mb
printf '%s\n' "${results[@]}"
echo "(${SECONDS_PER_TARGET}s per target; exec/s = executions / wall seconds, start-up included)"
exit $failed
