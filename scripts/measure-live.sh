#!/usr/bin/env bash
# Measures `calmline live` on a real (private, headless) PulseAudio server: a scenario call is
# played into a null sink in real time and captured from its monitor, with transcription.
# Prints: the acoustic cue latency end to end on the wall clock (from the moment the audio in
# which the customer's level rises was handed to the sound server, to the moment the
# `acknowledge` cue line was written), CPU use, peak resident memory and the transcription lag.
# "The level rises": the customer's 100 ms RMS level first reaches 6 dB over the median level of
# their speech in the calm turns, within the first angry turn.
# Usage: [PERIOD_MS=100] scripts/measure-live.sh [CALL] (default: scenario_escalating_a01)
set -euo pipefail
cd "$(dirname "$0")/.."
call=${1:-scenario_escalating_a01}
data=../shared/data/calls
tmp=$(mktemp -d)
trap 'scripts/pulse-server.sh stop "$tmp/pa" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
cargo build --release --quiet
eval "$(scripts/pulse-server.sh start "$tmp/pa")"
printf '[live]\nperiod_ms = %s\n' "${PERIOD_MS:-100}" > "$tmp/live.toml"
dur=$(soxi -D "$data/$call.wav")
rise=$(python3 - "$data/$call.wav" "$data/$call.turns.csv" <<'EOF'
import array, csv, math, sys, wave
w = wave.open(sys.argv[1]); rate = w.getframerate()
assert w.getsampwidth() == 2 and w.getnchannels() == 2
x = array.array('h', w.readframes(w.getnframes()))[1::2]   # right: the customer
hop = rate // 100
db = [10 * math.log10(max(sum(v * v for v in x[i:i + hop]) / hop, 1e-3) / 32768 ** 2)
      for i in range(0, len(x) - hop, hop)]
turns = list(csv.DictReader(open(sys.argv[2])))
first = next(t for t in turns if t['escalated'] == '1')
calm = sorted(d for t in turns if t['escalated'] == '0' and float(t['start_s']) < float(first['start_s'])
              for d in db[int(float(t['start_s']) * 100):int(float(t['end_s']) * 100)] if d > -50)
base = calm[len(calm) // 2]
for i in range(int(float(first['start_s']) * 100), int(float(first['end_s']) * 100)):
    if 10 * math.log10(sum(10 ** (d / 10) for d in db[i - 9:i + 1]) / 10) >= base + 6:
        print((i + 1) / 100); break
EOF
)
# The offline review of the same file: when the customer is first voiced and when the cue comes
# on the file's clock, to split the latency into detection and delivery.
./target/release/calmline review "$data/$call.wav" --no-transcribe --out - --format json \
  2>/dev/null > "$tmp/offline.json"
# Play once calmline is capturing (its first status line): audio played before the capture
# stream exists waits in the sound server and would be counted as calmline's latency.
(for _ in $(seq 1 300); do grep -q '"type":"status"' "$tmp/events.txt" 2>/dev/null && break; sleep 0.05; done
 date +%s.%N > "$tmp/play_t"; paplay --device=call_out ${PAPLAY_ARGS:-} "$data/$call.wav") &
/usr/bin/time -v -o "$tmp/time.txt" ./target/release/calmline live --device call_out.monitor \
  --ui json --config "$tmp/live.toml" --duration "$(python3 -c "print($dur + 6)")" 2>/dev/null |
  python3 -u -c "
import sys, time
for line in sys.stdin: print(f'{time.time():.3f} {line}', end='')" > "$tmp/events.txt"
wait
python3 - "$tmp/events.txt" "$tmp/time.txt" "$rise" "$(cat "$tmp/play_t")" "$tmp/offline.json" <<'EOF'
import json, sys, re
rows = [l.split(' ', 1) for l in open(sys.argv[1])]
events = [(float(w), json.loads(j)) for w, j in rows if j.startswith('{')]
rise, play = float(sys.argv[3]), float(sys.argv[4])
at = play + rise   # wall time at which the rise was handed to the sound server
ack = next((w for w, e in events if e['type'] == 'cue' and e['kind'] == 'acknowledge'), None)
start = next((w for w, e in events if e['type'] == 'episode_start' and e['speaker'] == 'customer'), None)
first = next((w for w, e in events if e['type'] in ('rising', 'episode_start') and e['speaker'] == 'customer'
              and w >= at - 0.5), None)
summary = next(e['summary'] for w, e in events if e['type'] == 'summary')
t = open(sys.argv[2]).read()
rss = int(re.search(r'Maximum resident set size \(kbytes\): (\d+)', t).group(1)) / 1024
user = float(re.search(r'User time \(seconds\): ([\d.]+)', t).group(1))
sys_ = float(re.search(r'System time \(seconds\): ([\d.]+)', t).group(1))
wall = summary['duration_s']
off = json.load(open(sys.argv[5]))
# The live call clock against the file's: align the customer's loudness steps (0.1 s).
ref = off['timeline']['customer']['loudness_db']
live = [(w, e) for w, e in events if e['type'] == 'levels' and e['speaker'] == 'customer']
def cost(k):
    d = [abs(e['loudness_db'] - ref[j + k]) for j, (w, e) in enumerate(live)
         if 0 <= j + k < len(ref) and ref[j + k] > -70]
    return sum(d) / max(len(d), 1)
k = min(range(-100, 101), key=cost)
offset = live[0][1]['t_s'] - (k + 1) * off['timeline']['hop_s']   # live clock minus file time
# Delivery: from the audio being handed to the server to its levels line being written.
deliv = sorted(w - play - (e['t_s'] - offset) for w, e in live)
off_ack = next((c['t_s'] for c in off['cues'] if c['kind'] == 'acknowledge'), None)
live_ack = next((e for w, e in events if e['type'] == 'cue' and e['kind'] == 'acknowledge'), None)
print(f"customer's level rises (first angry turn): {rise:.2f} s into the call")
if first: print(f"first signal (rising or episode) on screen: {first - at:+.2f} s after it (wall clock)")
if start: print(f"escalation confirmed (episode_start) on screen: {start - at:+.2f} s after it (wall clock)")
if ack: print(f"acknowledge cue on screen:                     {ack - at:+.2f} s after it (wall clock)")
if off_ack: print(f"  detection (offline review, file clock):     {off_ack - rise:+.2f} s")
if live_ack: print(f"  detection (live, call clock):               {live_ack['t_s'] - offset - rise:+.2f} s")
print(f"  delivery of every levels step (audio to the server -> line written): median {deliv[len(deliv) // 2]:.2f} s, p95 {deliv[len(deliv) * 95 // 100]:.2f} s (includes up to 0.1 s of the step)")
print(f"CPU: {100 * (user + sys_) / wall:.0f}% of one core over {wall:.0f} s (user {user:.1f} s, sys {sys_:.1f} s)")
print(f"peak resident memory: {rss:.0f} MB")
print(f"transcription lag p50 {summary['transcript_lag_p50_s']:.2f} s, p95 {summary['transcript_lag_p95_s']:.2f} s, skipped {summary['transcripts_skipped']}")
print(f"dropped samples {summary['dropped_samples']}, cues {summary['cues']}, alerts {summary['alerts']}")
EOF
