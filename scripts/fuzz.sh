#!/usr/bin/env bash
# Coverage-guided fuzzing of every input calmline parses (cargo-fuzz: libFuzzer + AddressSanitizer,
# nightly toolchain; calmline itself built with overflow checks and debug assertions, its
# dependencies as shipped). Targets (fuzz/fuzz_targets, bodies in fuzz/src/targets.rs):
#   decode      recordings from bytes: every container and codec a review accepts (Opus too)
#   pipeline    the analysis pipeline + coach fed arbitrary blocks, sizes, rates, NaN/inf samples
#   config      any TOML; a configuration that loads must also run the pipeline
#   model       whisper.cpp ggml files (the check before whisper.cpp loads one) and CTranslate2
#               model.bin + vocabulary converted as `calmline model import` does
#   hub_events  the hub's ingest body, parsed, stored in SQLite, queried
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 60 s, every target)
#
# Each corpus is seeded from ../shared/data cut small (and the repo's config, fuzz/seeds). Limits:
# 5 s per input (the slowest legitimate input takes about 0.3 s instrumented: a hang is still
# found, a busy machine is not), 2 GB of memory. Every crash, timeout or out-of-memory input is copied to
# tests/fuzz_regressions/<target>/, where `cargo test --test fuzz_regressions` replays it (a test
# that fails until the bug is fixed). Prints executions per target; exits 1 if anything was found.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
all=(decode pipeline config model hub_events)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
data=${CALMLINE_DATA:-../shared/data}

if ! rustup toolchain list | grep -q '^nightly'; then
    echo "scripts/fuzz.sh: needs a nightly toolchain (rustup toolchain install nightly)" >&2
    exit 2
fi
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked --quiet

echo "== building fuzz targets (nightly, AddressSanitizer; calmline with overflow checks and debug assertions)"
# cargo-fuzz's one codegen unit per crate: 16 built only 5% faster from nothing on two cores
# (871 s against 913 s), for slower fuzzing.
built=$(date +%s)
(cd fuzz && cargo +nightly fuzz build -O >/dev/null 2>fuzz-build.log) || {
    tail -40 fuzz/fuzz-build.log >&2
    exit 2
}
echo "   built in $(( $(date +%s) - built )) s"

# --- seeds ----------------------------------------------------------------------------------
seed() { mkdir -p "fuzz/corpus/$1"; }
for t in "${all[@]}"; do seed "$t"; done
call=$(ls "$data"/calls/*.wav 2>/dev/null | head -1 || true)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -n "$call" ] && command -v sox >/dev/null 2>&1; then
    # 0.3 s of a real call in every accepted format; the first byte picks the name's extension
    # (0 wav, 1 flac, 2 mp3, 3 ogg, 6 aiff, 8 m4a, 9 aac).
    sox "$call" -r 16000 -b 16 "$tmp/a.wav" trim 1 0.3
    sox "$call" -r 8000 -e mu-law "$tmp/u.wav" trim 1 0.3
    sox "$call" -r 8000 -e a-law "$tmp/al.wav" trim 1 0.3
    sox "$call" -r 8000 -e ima-adpcm "$tmp/ima.wav" trim 1 0.3 2>/dev/null || true
    sox "$call" -r 8000 -c 1 -e gsm-full-rate "$tmp/gsm.wav" trim 1 0.3 2>/dev/null || true
    sox "$call" -r 16000 -e floating-point -b 32 "$tmp/f.wav" trim 1 0.3
    sox "$call" "$tmp/a.flac" trim 1 0.3
    sox "$call" -r 16000 "$tmp/a.mp3" trim 1 0.3 2>/dev/null || true
    sox "$call" "$tmp/a.ogg" trim 1 0.3 2>/dev/null || true
    sox "$call" "$tmp/a.aiff" trim 1 0.3
    for f in "$tmp"/*.wav; do { printf '\x00'; cat "$f"; } > "fuzz/corpus/decode/seed-$(basename "$f")"; done
    [ -f "$tmp/a.flac" ] && { printf '\x01'; cat "$tmp/a.flac"; } > fuzz/corpus/decode/seed-a.flac
    [ -f "$tmp/a.mp3" ] && { printf '\x02'; cat "$tmp/a.mp3"; } > fuzz/corpus/decode/seed-a.mp3
    [ -f "$tmp/a.ogg" ] && { printf '\x03'; cat "$tmp/a.ogg"; } > fuzz/corpus/decode/seed-a.ogg
    { printf '\x06'; cat "$tmp/a.aiff"; } > fuzz/corpus/decode/seed-a.aiff
    # M4A (AAC, ALAC) and raw AAC through ffmpeg's encoders (PyAV), where it is installed.
    if python3 scripts/encode.py "$tmp/a.wav" "$tmp/aac.m4a" aac 2>/dev/null; then
        python3 scripts/encode.py "$tmp/a.wav" "$tmp/alac.m4a" alac 2>/dev/null || true
        python3 scripts/encode.py "$tmp/a.wav" "$tmp/a.aac" aac 2>/dev/null || true
        for f in "$tmp"/*.m4a; do { printf '\x08'; cat "$f"; } > "fuzz/corpus/decode/seed-$(basename "$f")"; done
        [ -f "$tmp/a.aac" ] && { printf '\x09'; cat "$tmp/a.aac"; } > fuzz/corpus/decode/seed-a.aac
        # Opus (libopus through its symphonia adapter) in Ogg and in WebM (symphonia's Matroska).
        python3 scripts/encode.py "$tmp/a.wav" "$tmp/a.opus" libopus 2>/dev/null || true
        python3 scripts/encode.py "$tmp/a.wav" "$tmp/a.webm" libopus 2>/dev/null || true
        [ -f "$tmp/a.opus" ] && { printf '\x03'; cat "$tmp/a.opus"; } > fuzz/corpus/decode/seed-a.opus
        [ -f "$tmp/a.webm" ] && { printf '\x05'; cat "$tmp/a.webm"; } > fuzz/corpus/decode/seed-a.webm
    fi
    # The pipeline's blocks: rate pick, stereo flag, then (u16 frames, kind 3 = u8 samples,
    # samples) from a real call's bytes.
    sox "$call" -r 16000 -c 1 -b 8 -e unsigned "$tmp/u8.raw" trim 1 0.5
    for rate in 0 1 2; do
        {
            printf "\\x0$rate\\x00\\x40\\x06\\x03"
            head -c 1600 "$tmp/u8.raw"
            printf '\x40\x06\x01\x40\x06\x00'
        } > "fuzz/corpus/pipeline/seed-$rate"
    done
else
    echo "scripts/fuzz.sh: no recordings in $data/calls (or no sox): audio seeds skipped" >&2
fi
cp config/*.toml fuzz/corpus/config/ 2>/dev/null || true
model=$(ls models/ggml-*.bin 2>/dev/null | head -1 || true)
if [ -n "$model" ]; then
    { printf '\x00'; head -c 65536 "$model"; } > fuzz/corpus/model/seed-ggml
fi
ct2=${XDG_CACHE_HOME:-$HOME/.cache}/calmline/tiny.en-ct2
if [ -f "$ct2/model.bin" ]; then
    { printf '\x01'; head -c 4096 "$ct2/model.bin"; printf '\xff'; head -c 2048 "$ct2/vocabulary.txt"; } \
        > fuzz/corpus/model/seed-ct2
fi
cp fuzz/seeds/hub_events/*.json fuzz/corpus/hub_events/ 2>/dev/null || true
# Inputs that once crashed stay in every corpus.
for t in "${targets[@]}"; do
    [ -d "tests/fuzz_regressions/$t" ] && cp tests/fuzz_regressions/"$t"/* "fuzz/corpus/$t/" 2>/dev/null || true
done
# The configuration's own keys as a dictionary.
{
    grep -ohE '^\[[a-z_.]+\]' config/*.toml | sort -u | sed 's/.*/"&"/'
    grep -ohE '^[a-z_]+ *=' config/*.toml | sed 's/ *=$//' | sort -u | sed 's/.*/"&"/'
    printf '"="\n"true"\n"false"\n"nan"\n"inf"\n"-inf"\n"1e39"\n"0"\n"-1"\n"[]"\n"{}"\n'
} > fuzz/dict/config.dict

# --- runs -----------------------------------------------------------------------------------
found=0
total=0
summary=()
for t in "${targets[@]}"; do
    rm -rf "fuzz/artifacts/$t"
    mkdir -p "fuzz/artifacts/$t"
    dict=()
    [ -f "fuzz/dict/$t.dict" ] && dict=("-dict=dict/$t.dict")
    log="fuzz/artifacts/$t.log"
    echo "== $t: $secs s"
    set +e
    (cd fuzz && cargo +nightly fuzz run -O "$t" "corpus/$t" -- \
        -max_total_time="$secs" -timeout=5 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 "${dict[@]}" >"../$log" 2>&1)
    rc=$?
    set -e
    runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
    runs=${runs:-0}
    total=$((total + runs))
    new=0
    for a in fuzz/artifacts/"$t"/crash-* fuzz/artifacts/"$t"/timeout-* fuzz/artifacts/"$t"/oom-* \
        fuzz/artifacts/"$t"/slow-unit-*; do
        [ -f "$a" ] || continue
        case "$a" in *slow-unit-*) continue ;; esac
        mkdir -p "tests/fuzz_regressions/$t"
        cp "$a" "tests/fuzz_regressions/$t/"
        echo "   kept $(basename "$a") as tests/fuzz_regressions/$t/$(basename "$a")"
        new=$((new + 1))
    done
    if [ "$rc" -ne 0 ] && [ "$new" -eq 0 ]; then
        echo "   libFuzzer exited $rc without an artifact; see $log" >&2
        tail -20 "$log" >&2
        new=1
    fi
    found=$((found + new))
    summary+=("$(printf '%-11s %12s executions  %s' "$t" "$runs" "$([ "$new" -eq 0 ] && echo 'no crash' || echo "$new FOUND")")")
done
echo "== fuzzing summary ($secs s per target)"
printf '   %s\n' "${summary[@]}"
echo "   total: $total executions"
[ "$found" -eq 0 ]
