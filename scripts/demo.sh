#!/usr/bin/env bash
# Quick start, part 1: build calmline and review the sample call.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/install-model.sh
cargo build --release --quiet
./target/release/calmline review samples/escalating_call.flac --out reviews --vtt
echo
echo "Open reviews/escalating_call.html in a browser (it needs no network); the data is in"
echo "reviews/escalating_call.json, the transcript as subtitles in reviews/escalating_call.vtt."
