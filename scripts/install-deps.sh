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
# MuPDF (PDF pages, PNG/JPEG files): Debian ships it static only, so the -dev packages of
# its private libraries come too (pkg-config --static --libs mupdf, plus harfbuzz)
apt-get install -y -qq --no-install-recommends \
  libmupdf-dev libmujs-dev libgumbo-dev libopenjp2-7-dev libjbig2dec0-dev libjpeg-dev \
  zlib1g-dev libfreetype-dev libharfbuzz-dev libpng-dev libbrotli-dev
# Vulkan: loader and headers, glslangValidator (shaders are compiled at build time), and
# Mesa's drivers, whose lavapipe CPU device lets the Vulkan tests run on any machine
apt-get install -y -qq --no-install-recommends libvulkan-dev glslang-tools mesa-vulkan-drivers
# Open MPI: data-parallel training (mpirun -np N longvl train-longpt); optional for the
# build, installed so the tests run the two-rank check
apt-get install -y -qq --no-install-recommends libopenmpi-dev openmpi-bin
# SQLite: the document pool's index (longvl data)
apt-get install -y -qq --no-install-recommends libsqlite3-dev
# tests only: the independent references of the model (NumPy) and the image processor
# (Pillow), and poppler's pdftotext (the data test reads evidence pages with it)
# poppler-data: the CMaps without which pdftotext reads no CJK text (the Chinese PDF's pages)
apt-get install -y -qq --no-install-recommends python3-numpy python3-pil poppler-utils poppler-data
