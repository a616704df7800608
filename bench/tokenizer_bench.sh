#!/usr/bin/env bash
# Tokenizer throughput on real English text: sembed's normalise+encode (all cores) against
# Debian's spm_encode, same model, same text, one run.
#
#   bench/tokenizer_bench.sh [BUILD_DIR] [extra tokenizer_bench flags...]
#
# 1. Builds a corpus with `sembed prepare --dedupe` from ../shared/data: the wiki1m prefix (its
#    truncated last line dropped), the STS-B train+dev sentences and the Brown corpus with its
#    POS tags stripped ("The/at jury/nn" -> "The jury").
# 2. Trains an 8000-piece unigram tokenizer on it, unless one is already there.
# 3. Runs BUILD_DIR/bench/tokenizer_bench and keeps its JSON.
#
# Everything goes to BUILD_DIR/bench-results/tokenizer/ (never into the source tree: the data
# must not be committed). Needs the targets `sembed` and `tokenizer_bench` built, and spm_encode
# (apt-get install sentencepiece).
# Environment: SEMBED_DATA_DIR (default <repo>/../shared/data), REPEAT (copies of the corpus,
# default 5), THREADS (sembed threads, default 0 = all cores), REBUILD=1 (redo corpus + model).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$repo/build}
shift || true
build=$(cd "$build" && pwd)
data=${SEMBED_DATA_DIR:-$repo/../shared/data}
repeat=${REPEAT:-5}
threads=${THREADS:-0}
sembed=$build/sembed
bench=$build/bench/tokenizer_bench
out=$build/bench-results/tokenizer

for exe in "$sembed" "$bench"; do
  if [[ ! -x $exe ]]; then
    echo "missing $exe: cmake --build $build --target sembed tokenizer_bench" >&2
    exit 1
  fi
done
if [[ ! -d $data ]]; then
  echo "shared data not found at $data (set SEMBED_DATA_DIR)" >&2
  exit 1
fi
data=$(cd "$data" && pwd)
mkdir -p "$out/raw"
if [[ ${REBUILD:-0} == 1 ]]; then
  rm -f "$out/corpus.txt" "$out/tok8000.model" "$out/tok8000.model.json"
fi

if [[ ! -s $out/corpus.txt ]]; then
  echo "== building the corpus from $data" >&2
  wiki=$data/wiki1m_prefix/wiki1m_for_simcse.head1280000.txt
  # Only newline-terminated lines: the copy ends in the middle of a sentence.
  head -n "$(wc -l < "$wiki")" "$wiki" > "$out/raw/wiki.txt"
  # Sentence 1 and 2 of every pair (TAB-separated, no quoting).
  cut -f6,7 "$data/stsbenchmark/sts-train.csv" "$data/stsbenchmark/sts-dev.csv" |
    tr '\t' '\n' > "$out/raw/sts.txt"
  # One sentence per non-empty line; the text of a token is what precedes its last '/'.
  awk '{ line = ""
         for (i = 1; i <= NF; i++) { w = $i; sub(/\/[^\/]*$/, "", w); line = line (i > 1 ? " " : "") w }
         if (NF > 0) print line }' "$data"/brown/c[a-r][0-9][0-9] > "$out/raw/brown.txt"
  "$sembed" prepare --dedupe --threads "$threads" -o "$out/corpus.txt" \
    -i "$out/raw/wiki.txt" "$out/raw/sts.txt" "$out/raw/brown.txt"
fi

if [[ ! -s $out/tok8000.model ]]; then
  echo "== training an 8000-piece tokenizer" >&2
  "$sembed" tokenizer train -i "$out/corpus.txt" -o "$out/tok8000.model" --vocab-size 8000 \
    --threads "$threads"
fi

echo "== benchmark (repeat $repeat)" >&2
result=$out/result-$(date +%Y%m%d-%H%M%S).json
"$bench" --tokenizer "$out/tok8000.model" --input "$out/corpus.txt" --repeat "$repeat" \
  --threads "$threads" --tmp-dir "$out" "$@" > "$result"
cp "$result" "$out/latest.json"
cat "$result"
echo "== written to $result" >&2
