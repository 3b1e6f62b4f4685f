#!/usr/bin/env bash
# Quick start, part 1: build calmline and review the sample call.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
./target/release/calmline review samples/escalating_call.flac --out reviews
echo
echo "Open reviews/escalating_call.html in a browser (it needs no network); the data is in reviews/escalating_call.json."
