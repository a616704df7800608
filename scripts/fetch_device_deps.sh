#!/usr/bin/env bash
# Downloads the Debian packages that scripts/cuda_check.sh unpacks on the CUDA machine (which has
# no package registry) into .device-deps/debs (git-ignored).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mkdir -p "$ROOT/.device-deps/debs"
cd "$ROOT/.device-deps/debs"
apt-get download libicu72 libicu-dev nlohmann-json3-dev googletest libgtest-dev libcpp-httplib0.11 \
  libcpp-httplib-dev libssl-dev libssl3 libbrotli-dev libbrotli1 zlib1g-dev zlib1g libcli11-dev \
  libhnswlib-dev
