#!/usr/bin/env bash
# Fit the escalation detector's main settings on ../shared/data and validate them
# leave-one-actor-out: 32 calls assembled from RAVDESS actors 1-8 (16 kHz, 8 kHz mu-law through
# sox, and 16 kHz with each turn's level flattened as by a line's gain control), every grid point
# of tests/common/escalation.rs::grid() scored, best first, then each actor's choice when judged
# with the grid point chosen on the other seven, and the pooled leave-one-actor-out figures.
# Copy the chosen values into config/default.toml. To try other settings across the grid:
# FIT_EXTRA="escalation.pitch_weight = 0.65;escalation.pitch_weight = 0.5" scripts/fit-escalation.sh
# One assembly picks one set of takes per call; the shipped values were fitted over four
# (about 4 minutes): each seed draws other takes of the same actors, so a choice that only suits
# the default draw shows up (11400714819323198485 is the default seed):
# ASSEMBLY_SEEDS=11400714819323198485,1,2,3 scripts/fit-escalation.sh
# FIT_EXTRA_ONLY=1 scores only the FIT_EXTRA alternatives on top of the shipped configuration
# (an empty alternative is the shipped configuration itself).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release --test accuracy fit_escalation_grid -- --ignored --nocapture 2>&1 \
  | grep -v '^sox WARN'
