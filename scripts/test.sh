#!/usr/bin/env bash
# Quick start, part 2: install what the tests need, then run the whole test suite on the real
# recordings in ../shared/data (unit, integration, property tests; benches are compiled and run
# in their quick mode).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/install-model.sh
scripts/install-diarisation.sh
cargo test --release --all-targets "$@"
