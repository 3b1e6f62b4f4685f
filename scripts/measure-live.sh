#!/usr/bin/env bash
# Measures `calmline live` on a real (private, headless) PulseAudio server: a scenario call is
# played into a null sink in real time and captured from its monitor, with transcription.
# Prints: acoustic cue latency (from the customer's voice onset in the first angry turn to the
# `acknowledge` cue and to the confirmed escalation), CPU use, peak resident memory, and the
# transcription lag. Usage: scripts/measure-live.sh [CALL] (default: scenario_escalating_a01)
set -euo pipefail
cd "$(dirname "$0")/.."
call=${1:-scenario_escalating_a01}
data=../shared/data/calls
tmp=$(mktemp -d)
trap 'scripts/pulse-server.sh stop "$tmp/pa" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
cargo build --release --quiet
eval "$(scripts/pulse-server.sh start "$tmp/pa")"
dur=$(soxi -D "$data/$call.wav")
# Voice onset of the first angry customer turn, from the file (the same analysis, offline).
onset=$(./target/release/calmline review "$data/$call.wav" --no-transcribe --out - --format json 2>/dev/null |
  python3 -c "
import json, sys, csv
r = json.load(sys.stdin)
turn = [float(t['start_s']) for t in csv.DictReader(open('$data/$call.turns.csv')) if t['escalated'] == '1'][0]
c = r['timeline']['customer']; hop = r['timeline']['hop_s']
i = int(turn / hop)
while not c['voiced'][i]: i += 1
print(i * hop)")
first_voice=$(./target/release/calmline review "$data/$call.wav" --no-transcribe --out - --format json 2>/dev/null |
  python3 -c "
import json, sys
r = json.load(sys.stdin); hop = r['timeline']['hop_s']
print(min(t['voiced'].index(True) for t in r['timeline'].values() if isinstance(t, dict) and True in t.get('voiced', [])) * hop)")
(sleep 1.5; paplay --device=call_out "$data/$call.wav") &
/usr/bin/time -v -o "$tmp/time.txt" ./target/release/calmline live --device call_out.monitor --ui json \
  --duration "$(python3 -c "print($dur + 3)")" > "$tmp/events.jsonl" 2>/dev/null
wait
python3 - "$tmp/events.jsonl" "$tmp/time.txt" "$onset" "$first_voice" <<'EOF'
import json, sys, re
events = [json.loads(l) for l in open(sys.argv[1]) if l.startswith('{')]
onset, first_voice = float(sys.argv[3]), float(sys.argv[4])
live_first = next(e['t_s'] for e in events if e['type'] == 'levels' and e['voiced'])
offset = live_first - first_voice   # live call clock minus file time
ack = next((e for e in events if e['type'] == 'cue' and e['kind'] == 'acknowledge'), None)
start = next((e for e in events if e['type'] == 'episode_start' and e['speaker'] == 'customer'), None)
summary = next(e['summary'] for e in events if e['type'] == 'summary')
t = open(sys.argv[2]).read()
rss = int(re.search(r'Maximum resident set size \(kbytes\): (\d+)', t).group(1)) / 1024
user = float(re.search(r'User time \(seconds\): ([\d.]+)', t).group(1))
sys_ = float(re.search(r'System time \(seconds\): ([\d.]+)', t).group(1))
wall = summary['duration_s']
print(f"customer voice onset of the first angry turn: {onset:.2f} s into the call")
if start: print(f"escalation confirmed (episode_start): {start['t_s'] - offset - onset:+.2f} s after it")
if ack: print(f"acknowledge cue:                      {ack['t_s'] - offset - onset:+.2f} s after it")
print(f"CPU: {100 * (user + sys_) / wall:.0f}% of one core over {wall:.0f} s (user {user:.1f} s, sys {sys_:.1f} s)")
print(f"peak resident memory: {rss:.0f} MB")
print(f"transcription lag p50 {summary['transcript_lag_p50_s']:.2f} s, p95 {summary['transcript_lag_p95_s']:.2f} s, skipped {summary['transcripts_skipped']}")
print(f"dropped samples {summary['dropped_samples']}, cues {summary['cues']}, alerts {summary['alerts']}")
EOF
