#!/usr/bin/env bash
# Load test: wrk at 64 connections for 60 s against POST /embed, then POST /search, on one
# `sembed serve` process. Reports requests/s, latency, non-2xx answers (must be 0 for valid
# traffic), socket errors, and the server's resident memory (VmRSS) after warm-up, after the
# /embed run and after the /search run (must stay flat: within 10% of the warm-up figure).
#
#   bench/load.sh [BUILD_DIR]
#
# Model: MODEL=DIR (default: runs/supervised/model or runs/default/model from scripts/run.sh when
# present, else a random "small" model on a 5000-piece tokenizer, made here). Searchable set: the unique STS-B
# sentences (../shared/data, SEMBED_DATA_DIR), embedded with the model. Queries: the same
# sentences. Environment: CONNECTIONS (64), DURATION (60s), WARMUP (20s of each route first:
# caches and allocator arenas fill), THREADS (2), PORT (18788).
# Output: one JSON object, printed and written to BUILD_DIR/bench-results/load/.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$repo/build}" && pwd)
data=${SEMBED_DATA_DIR:-$repo/../shared/data}
conns=${CONNECTIONS:-64}
duration=${DURATION:-60s}
warmup=${WARMUP:-20s}
threads=${THREADS:-2}
port=${PORT:-18788}
sembed=$build/sembed
out=$build/bench-results/load
python=/usr/bin/python3
[[ -x $sembed ]] || { echo "missing $sembed" >&2; exit 1; }
command -v wrk > /dev/null || { echo "missing wrk (apt-get install wrk)" >&2; exit 1; }
[[ -f $data/stsbenchmark/sts-dev.csv ]] || { echo "STS-B not under $data (SEMBED_DATA_DIR)" >&2; exit 1; }
mkdir -p "$out"
cut -f6,7 "$data/stsbenchmark/sts-dev.csv" "$data/stsbenchmark/sts-train.csv" | tr '\t' '\n' |
  awk 'NF && !seen[$0]++' > "$out/sentences.txt"
"$python" - "$out" <<'PY'
import json, sys
out = sys.argv[1]
lines = [l.rstrip("\n") for l in open(out + "/sentences.txt", encoding="utf-8")]
with open(out + "/embed.jsonl", "w") as f:
    for l in lines:
        f.write(json.dumps({"inputs": l}) + "\n")
with open(out + "/search.jsonl", "w") as f:
    for l in lines:
        f.write(json.dumps({"query": l, "k": 10}) + "\n")
PY
model=${MODEL:-}
for run in supervised default; do
  if [[ -z $model && -f $repo/runs/$run/model/config.json ]]; then model=$repo/runs/$run/model; fi
done
if [[ -z $model ]]; then
  model=$out/model
  if [[ ! -f $model/config.json ]]; then
    "$sembed" -q tokenizer train -i "$out/sentences.txt" -o "$out/tok.model" --vocab-size 5000
    "$sembed" -q init --preset small -t "$out/tok.model" -o "$model" --seed 1
  fi
fi
if [[ ! -f $out/set/meta.json || $out/set/meta.json -ot $model/model.safetensors ]]; then
  "$sembed" -q embed -m "$model" -i "$out/sentences.txt" -o "$out/set" --bf16
fi

"$sembed" serve -m "$model" -e "$out/set" -p "$port" --threads "$threads" --http-threads 128 \
  --max-concurrent 1024 --bf16 2> "$out/serve.log" &
server=$!
trap 'kill -TERM $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  curl -sf "http://127.0.0.1:$port/health" > /dev/null && break
  sleep 0.1
done
rss() { awk '/^VmRSS/ {print $2}' "/proc/$server/status"; }
# Warm-up at the full connection count: the first batches allocate the model's work memory.
wrk -t 2 -c "$conns" -d "$warmup" -s "$repo/bench/serve_load.lua" "http://127.0.0.1:$port" -- \
  "$out/embed.jsonl" /embed > /dev/null
wrk -t 2 -c "$conns" -d "$warmup" -s "$repo/bench/serve_load.lua" "http://127.0.0.1:$port" -- \
  "$out/search.jsonl" /search > /dev/null
rss_warm=$(rss)
wrk -t 2 -c "$conns" -d "$duration" --latency -s "$repo/bench/serve_load.lua" \
  "http://127.0.0.1:$port" -- "$out/embed.jsonl" /embed > "$out/wrk-embed.txt"
rss_embed=$(rss)
wrk -t 2 -c "$conns" -d "$duration" --latency -s "$repo/bench/serve_load.lua" \
  "http://127.0.0.1:$port" -- "$out/search.jsonl" /search > "$out/wrk-search.txt"
rss_search=$(rss)
kill -TERM $server
wait $server
trap - EXIT
result=$out/result-$(date +%Y%m%d-%H%M%S).json
"$python" - "$out" "$rss_warm" "$rss_embed" "$rss_search" "$conns" "$duration" "$model" \
  "$(cut -d' ' -f1-3 /proc/loadavg)" > "$result" <<'PY'
import json, re, sys
out, warm, after_embed, after_search, conns, duration, model, load = sys.argv[1:9]
def parse(path):
    t = open(path).read()
    def num(pattern, default=0.0):
        m = re.search(pattern, t)
        return float(m.group(1)) if m else default
    def ms(label):
        m = re.search(r"\s%s\s+([\d.]+)(us|ms|s)\b" % re.escape(label), t)
        if not m:
            return None
        return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
    return {
        "requests": int(num(r"(\d+) requests in")),
        "requests_per_s": num(r"Requests/sec:\s+([\d.]+)"),
        "non_2xx": int(num(r"Non-2xx or 3xx responses: (\d+)")),
        "socket_errors": sum(map(int, errors.groups())) if errors else 0,
        "p50_ms": ms("50%"), "p99_ms": ms("99%"),
    }
warm, after_embed, after_search = int(warm), int(after_embed), int(after_search)
print(json.dumps({
    "connections": int(conns), "duration": duration, "model": model, "loadavg_after": load,
    "embed": parse(out + "/wrk-embed.txt"), "search": parse(out + "/wrk-search.txt"),
    "rss_kib": {"after_warmup": warm, "after_embed": after_embed, "after_search": after_search},
    "rss_growth": {"embed": after_embed / warm - 1, "search": after_search / warm - 1},
}, indent=2))
PY
cat "$result"
echo "written to $result" >&2
