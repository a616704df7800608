#!/usr/bin/env bash
# Stages what scripts/cuda_check.sh needs on the CUDA machine (which has no package registry, no
# Debian texts and no ../shared/data) in .device-deps/ (git-ignored):
#   .device-deps/debs     the Debian packages it unpacks into a private sysroot
#   .device-deps/recipe   with --recipe-work DIR only: the inputs of its recipe runs, i.e. DIR's
#                         cached corpus (xz-compressed), tokenizer and prepared SNLI / pair files
#                         (DIR: the work/ folder of a finished supervised-recipe run, e.g.
#                         runs/supervised/work) and the evaluation and CoSENT files of
#                         $SEMBED_DATA_DIR (default ../shared/data). Never committed.
#
#   scripts/fetch_device_deps.sh [--recipe-work DIR]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=""
while (($#)); do
  case $1 in
    --recipe-work) WORK=$(cd "$2" && pwd); shift 2 ;;
    *) echo "usage: $0 [--recipe-work DIR]" >&2; exit 2 ;;
  esac
done
mkdir -p "$ROOT/.device-deps/debs"
cd "$ROOT/.device-deps/debs"
apt-get download libicu72 libicu-dev nlohmann-json3-dev googletest libgtest-dev libcpp-httplib0.11 \
  libcpp-httplib-dev libssl-dev libssl3 libbrotli-dev libbrotli1 zlib1g-dev zlib1g libcli11-dev \
  libhnswlib-dev pkgconf-bin libpkgconf3
# apt-get download keeps every version it ever fetched: keep the newest of each package.
ls *.deb | sed 's/_.*//' | sort | uniq -d | while read -r p; do
  ls -v "${p}"_*.deb | head -n -1 | xargs rm -f
done

[[ -z $WORK ]] && exit 0
DATA=${SEMBED_DATA_DIR:-$ROOT/../shared/data}
R=$ROOT/.device-deps/recipe
rm -rf "$R.tmp" && mkdir -p "$R.tmp/work/data" "$R.tmp/data/stsbenchmark" "$R.tmp/data/sick"
for f in corpus_raw.txt.done corpus.txt.done tokenizer.model tokenizer.model.done \
  tokenizer.model.json; do
  cp "$WORK/$f" "$R.tmp/work/"
done
cp "$WORK"/data/snli.tsv "$WORK"/data/sup_pairs.tsv "$R.tmp/work/data/"
xz -T0 -6 -c "$WORK/corpus.txt" > "$R.tmp/work/corpus.txt.xz"
cp "$DATA"/stsbenchmark/sts-{train,dev}.csv "$R.tmp/data/stsbenchmark/"
cp "$DATA"/sick/SICK_{train,test_annotated}.txt "$R.tmp/data/sick/"
rm -rf "$R" && mv "$R.tmp" "$R"
du -sh "$ROOT/.device-deps"/*
