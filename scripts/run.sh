#!/usr/bin/env bash
# The main job on a built-in default: a fresh Debian 12 machine to a running semantic search
# service ("find Debian packages by meaning").
#   1. set-up (Debian packages, SentencePiece source)   2. build
#   3. sembed train --recipe RECIPE: the best CPU recipe whose data this machine has:
#      recipes/supervised.json when ../shared/data (SEMBED_DATA_DIR) holds SNLI, STS-B and SICK,
#      else recipes/default.json (raw text only); SEMBED_RECIPE=NAME chooses. Corpus from Debian
#      + npm text, prepare, tokenizer, encoder, training stages, whose time limits are scaled by
#      SEMBED_TIME_SCALE (default 0.3 for supervised, 0.15 for default: about 15 / 10 minutes on
#      2 CPU cores; 1 = the recipe's full budget)
#   4. embed the Debian package descriptions            5. build the search index
#   6. serve on 127.0.0.1:8080 (SEMBED_PORT), search page at /, and print example requests
# Every step is cached under runs/NAME/ (SEMBED_RUN_DIR): a second run skips finished steps.
# SEMBED_NO_SERVE=1 stops before serving.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA=${SEMBED_DATA_DIR:-$ROOT/../shared/data}
if [[ -n ${SEMBED_RECIPE:-} ]]; then
  RECIPE=$SEMBED_RECIPE
elif [[ -f $DATA/snli_senteval/s1.dev && -f $DATA/stsbenchmark/sts-train.csv &&
        -f $DATA/sick/SICK_train.txt ]]; then
  RECIPE=supervised
else
  RECIPE=default
fi
[[ -f $ROOT/recipes/$RECIPE.json ]] || { echo "[run] no recipe $ROOT/recipes/$RECIPE.json" >&2; exit 2; }
if [[ $RECIPE == supervised ]]; then SCALE=${SEMBED_TIME_SCALE:-0.3}; else SCALE=${SEMBED_TIME_SCALE:-0.15}; fi
echo "[run] recipe: recipes/$RECIPE.json at time scale $SCALE"
RUN=${SEMBED_RUN_DIR:-$ROOT/runs/$RECIPE}
SEMBED=${SEMBED_BUILD_DIR:-$ROOT/build}/sembed
PORT=${SEMBED_PORT:-8080}
MODEL=$RUN/model
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
# The recipe caches its own steps (corpus, prepare, tokenizer, stages) in $MODEL/work.
step train "$MODEL/recipe_report.json" "$SEMBED" train --recipe "$ROOT/recipes/$RECIPE.json" \
  --output "$MODEL" --time-scale "$SCALE"
PACKAGES=$MODEL/work/debian/packages.txt
step embed "$RUN/packages/meta.json" "$SEMBED" embed --model "$MODEL" --input "$PACKAGES" \
  --output "$RUN/packages" --bf16
step index "$RUN/packages/index.json" "$SEMBED" index --embeddings "$RUN/packages"

example="Sembed learns sentence embeddings by contrast, from plain text."
echo "[run] tokenization of: $example"
echo "  pieces: $(echo "$example" | "$SEMBED" tokenizer encode -t "$MODEL/tokenizer.model" --pieces)"
/usr/bin/python3 - "$MODEL/recipe_report.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
for name, s in report.get("final", {}).items():
    print(f"[run] model quality: {name} Spearman x100 {s['spearman']:.2f} ({s['pairs']} pairs)")
PY
echo "[run] step times (s):"
for k in "${!STEP_SECONDS[@]}"; do echo "  $k ${STEP_SECONDS[$k]}"; done
[[ ${SEMBED_NO_SERVE:-0} == 1 ]] && exit 0

URL=http://127.0.0.1:$PORT
cat <<MSG
[run] serving $(wc -l <"$PACKAGES") Debian package descriptions on $URL (Ctrl-C stops)
  search page in a browser: $URL/
  curl -s $URL/search -H 'Content-Type: application/json' -d '{"query": "edit photos", "k": 5}'
  curl -s $URL/similarity -H 'Content-Type: application/json' \\
    -d '{"inputs": {"source_sentence": "a text editor", "sentences": ["a program to edit text files", "a music player"]}}'
  curl -s $URL/embed -H 'Content-Type: application/json' -d '{"inputs": ["find packages by meaning"]}'
  curl -s $URL/v1/embeddings -H 'Content-Type: application/json' -d '{"input": "hello", "model": "sembed"}'
MSG
exec "$SEMBED" serve --model "$MODEL" --embeddings "$RUN/packages" --host 127.0.0.1 \
  --port "$PORT" --bf16
