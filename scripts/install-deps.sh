#!/usr/bin/env bash
# Installs the Debian packages longvl builds and tests with. Run as root (or via sudo).
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
  exec sudo "$0" "$@"
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# compiler + OpenMP (gcc's libgomp), build tools, OpenBLAS (the benchmark's reference),
# cJSON (config.json, tokenizer.json, safetensors headers), PCRE2 + utf8proc (the tokenizer)
apt-get install -y -qq --no-install-recommends \
  gcc libc6-dev libgomp1 cmake ninja-build pkg-config libopenblas-dev \
  libcjson-dev libpcre2-dev libutf8proc-dev
# tests only: the independent NumPy reference of the model (tests/reference)
apt-get install -y -qq --no-install-recommends python3-numpy
