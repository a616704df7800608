#!/usr/bin/env bash
# Encoder throughput on real sentences: sembed (fp32, bf16) against the same weights in PyTorch
# Python (fp32, bf16 autocast), same ids, same batches, same thread count, one run.
#
#   bench/encode_bench.sh [BUILD_DIR]
#
# 1. The unique sentences of STS-B (sts-dev.csv and sts-train.csv, columns 6 and 7).
# 2. A 5000-piece unigram tokenizer trained on them and a "small" model (6 layers x 384, 12 heads,
#    ffn 1536; random weights: speed does not depend on them) made with `sembed init`, unless
#    already there.
# 3. BUILD_DIR/bench/encode_bench: sembed's Embedder on the tokenised sentences, length-sorted
#    batches of 64; writes the ids and its vectors for step 4.
# 4. bench/pytorch_encoder.py (Debian's /usr/bin/python3 with python3-torch 1.13): reads
#    model.safetensors itself, embeds the same ids sentence-transformers style, and checks that
#    its fp32 vectors equal sembed's (mean cosine must exceed 0.9999, else the run fails: the
#    comparison would not be of the same model). For context it also times fp32 with its Linear
#    layers on oneDNN, the GEMM library sembed uses for fp32 inference.
# 5. One JSON object with sentences/s of all four, the ratios, and the fp32/bf16 agreement,
#    printed and written to BUILD_DIR/bench-results/encode/ (never the source tree: the data
#    must not be committed).
#
# Needs the targets `sembed` and `encode_bench` built. Timings are disturbed by anything else
# running: the JSON records the load average before and after.
# Environment: SEMBED_DATA_DIR (default <repo>/../shared/data), THREADS (default 2), BATCH (64),
# REPEAT and MIN_SECONDS (timed passes per configuration: up to REPEAT, default 3, stopping once
# they took MIN_SECONDS together, default 30; the fastest counts, so that a short run is not one
# noisy sample), LIMIT (first N sentences only; default all), PYTHON (default /usr/bin/python3),
# REBUILD=1 (redo tokenizer and model), MODEL (an existing mean-pooling model directory, e.g. a
# trained one, instead of the random "small" one: random weights barely move a pre-LN stack off
# its embeddings, so they flatter the fp32/bf16 agreement).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$repo/build}
build=$(cd "$build" && pwd)
data=${SEMBED_DATA_DIR:-$repo/../shared/data}
threads=${THREADS:-2}
batch=${BATCH:-64}
repeat=${REPEAT:-3}
min_seconds=${MIN_SECONDS:-30}
python=${PYTHON:-/usr/bin/python3}
sembed=$build/sembed
bench=$build/bench/encode_bench
out=$build/bench-results/encode

for exe in "$sembed" "$bench"; do
  if [[ ! -x $exe ]]; then
    echo "missing $exe: cmake --build $build --target sembed encode_bench" >&2
    exit 1
  fi
done
if ! "$python" -c 'import torch, numpy' 2>/dev/null; then
  echo "$python lacks torch or numpy (apt-get install python3-torch python3-numpy)" >&2
  exit 1
fi
sts=${data}/stsbenchmark
if [[ ! -f $sts/sts-dev.csv || ! -f $sts/sts-train.csv ]]; then
  echo "STS-B not found under $data (set SEMBED_DATA_DIR)" >&2
  exit 1
fi
mkdir -p "$out/run"
if [[ ${REBUILD:-0} == 1 ]]; then
  rm -rf "$out/tok.model" "$out/tok.model.json" "$out/model"
fi

# Columns 6 and 7 (TAB-separated, no quoting), first occurrence of each sentence kept.
cut -f6,7 "$sts/sts-dev.csv" "$sts/sts-train.csv" | tr '\t' '\n' | awk 'NF && !seen[$0]++' \
  > "$out/sentences-all.txt"
if [[ -n ${LIMIT:-} ]]; then
  head -n "$LIMIT" "$out/sentences-all.txt" > "$out/sentences.txt"
else
  cp "$out/sentences-all.txt" "$out/sentences.txt"
fi

model=${MODEL:-$out/model}
if [[ -z ${MODEL:-} && ! -s $out/tok.model ]]; then
  echo "== training a 5000-piece tokenizer on $(wc -l < "$out/sentences-all.txt") sentences" >&2
  "$sembed" -q tokenizer train -i "$out/sentences-all.txt" -o "$out/tok.model" \
    --vocab-size 5000 --threads "$threads"
fi
if [[ -z ${MODEL:-} && ! -f $out/model/config.json ]]; then
  echo "== sembed init --preset small" >&2
  "$sembed" -q init --preset small -t "$out/tok.model" -o "$out/model" --seed 1
fi

echo "== load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "== sembed ($threads threads, batches of $batch)" >&2
"$bench" --model "$model" --input "$out/sentences.txt" --threads "$threads" \
  --batch-size "$batch" --repeat "$repeat" --min-seconds "$min_seconds" --out-dir "$out/run" \
  > "$out/run/sembed.json"
echo "== pytorch ($python)" >&2
"$python" "$repo/bench/pytorch_encoder.py" --model "$model" --ids "$out/run/ids.txt" \
  --threads "$threads" --batch-size "$batch" --repeat "$repeat" --min-seconds "$min_seconds" \
  --compare "$out/run/sembed_fp32.npy" --compare-bf16 "$out/run/sembed_bf16.npy" --onednn-fp32 \
  > "$out/run/pytorch.json"

result=$out/result-$(date +%Y%m%d-%H%M%S).json
status=0
"$python" - "$out/run/sembed.json" "$out/run/pytorch.json" > "$result" <<'EOF' || status=$?
import json, sys
s = json.load(open(sys.argv[1]))
p = json.load(open(sys.argv[2]))
rate = lambda side: side["sentences_per_s"]
same = p["cosine_vs_sembed_fp32"]["mean"]
r = {
    "benchmark": "encode",
    "model": s["model"], "sentences": s["sentences"], "tokens": s["tokens"],
    "encoder": s["encoder"],
    "threads": s["threads"], "batch_size": s["batch_size"], "torch_python": p["torch_version"],
    "sentences_per_s": {
        "sembed_fp32": rate(s["sembed_fp32"]), "sembed_bf16": rate(s["sembed_bf16"]),
        "pytorch_fp32": rate(p["pytorch_fp32"]), "pytorch_bf16": rate(p["pytorch_bf16"])},
    "ratio": {
        "fp32_sembed_over_pytorch": rate(s["sembed_fp32"]) / rate(p["pytorch_fp32"]),
        "bf16_sembed_over_pytorch": rate(s["sembed_bf16"]) / rate(p["pytorch_bf16"]),
        # sentence-transformers runs fp32 unless told otherwise.
        "sembed_bf16_over_pytorch_fp32": rate(s["sembed_bf16"]) / rate(p["pytorch_fp32"])},
    # Context: PyTorch fp32 with its Linear layers on oneDNN, as sembed runs fp32 inference (the
    # ATen default here is OpenBLAS): how much of the fp32 gap is the choice of GEMM library.
    "pytorch_fp32_onednn_sentences_per_s": rate(p["pytorch_fp32_onednn"]),
    "fp32_sembed_over_pytorch_onednn": rate(s["sembed_fp32"]) / rate(p["pytorch_fp32_onednn"]),
    "goal_ratio": 2.0,
    "cosine_sembed_fp32_bf16": s["cosine_fp32_bf16"],
    "goal_cosine_fp32_bf16": 0.999,
    "cosine_pytorch_vs_sembed_fp32": p["cosine_vs_sembed_fp32"],
    "cosine_pytorch_vs_sembed_bf16": p.get("cosine_bf16_vs_sembed_bf16"),
    "same_model": same > 0.9999,
    "tokenize_seconds": s["tokenize_seconds"],
    "seconds": {k: v["seconds"] for k, v in (("sembed_fp32", s["sembed_fp32"]),
                ("sembed_bf16", s["sembed_bf16"]), ("pytorch_fp32", p["pytorch_fp32"]),
                ("pytorch_bf16", p["pytorch_bf16"]))},
    "load_average_before": s["load_average_before"],
    "load_average_after": open("/proc/loadavg").read().split()[:3],
}
json.dump(r, sys.stdout, indent=2)
print()
sys.exit(0 if r["same_model"] else 3)
EOF
cp "$result" "$out/latest.json"
cat "$result"
echo "== written to $result" >&2
if [[ $status != 0 ]]; then
  echo "PyTorch's fp32 vectors differ from sembed's: not the same model, ratios meaningless" >&2
fi
exit "$status"
