#!/usr/bin/env bash
# The main job on a built-in default: a fresh Debian 12 machine to a working pipeline.
#   1. set-up (Debian packages, SentencePiece source)   2. build
#   3. default corpus from Debian + npm text             4. sembed prepare
#   5. sembed tokenizer train                            6. show a tokenization
# Every step is cached under runs/default/: a second run skips finished steps.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN=${SEMBED_RUN_DIR:-$ROOT/runs/default}
SEMBED=${SEMBED_BUILD_DIR:-$ROOT/build}/sembed
mkdir -p "$RUN"
declare -A STEP_SECONDS=()

step() {  # step NAME DONE_FILE COMMAND...
  local name=$1 done_file=$2
  shift 2
  if [[ -e $done_file ]]; then
    echo "[run] $name: done earlier ($done_file)"
    return
  fi
  echo "[run] $name ..."
  local t0=$SECONDS
  "$@"
  STEP_SECONDS[$name]=$((SECONDS - t0))
  echo "[run] $name: ${STEP_SECONDS[$name]} s"
}

step setup "$RUN/.setup-done" bash -c "'$ROOT/scripts/setup.sh' && touch '$RUN/.setup-done'"
# The build is always re-run (incremental: seconds when nothing changed).
t0=$SECONDS; "$ROOT/scripts/build.sh"; STEP_SECONDS[build]=$((SECONDS - t0))
step corpus "$RUN/corpus/raw.txt" /usr/bin/python3 "$ROOT/scripts/corpus.py" "$RUN/corpus"
step prepare "$RUN/sentences.txt" "$SEMBED" prepare --input "$RUN/corpus/raw.txt" \
  --output "$RUN/sentences.txt" --split-sentences --dedupe --min-chars 12 --max-chars 600
step tokenizer "$RUN/tokenizer.model" "$SEMBED" tokenizer train --input "$RUN/sentences.txt" \
  --output "$RUN/tokenizer.model" --vocab-size 16000 --input-sentence-size 1000000

example="Sembed learns sentence embeddings by contrast, from plain text."
echo "[run] tokenization of: $example"
echo "  pieces: $(echo "$example" | "$SEMBED" tokenizer encode -t "$RUN/tokenizer.model" --pieces)"
echo "  ids:    $(echo "$example" | "$SEMBED" tokenizer encode -t "$RUN/tokenizer.model")"
echo "[run] step times (s):"
for k in "${!STEP_SECONDS[@]}"; do echo "  $k ${STEP_SECONDS[$k]}"; done
