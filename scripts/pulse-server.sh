#!/usr/bin/env bash
# Starts a private, headless PulseAudio server for live-capture tests and demos:
#   call_out          null sink, 16 kHz stereo: play a call into it with paplay
#   call_out.monitor  its monitor: a real-time stereo capture device (the "call")
#   mic               pipe source, 16 kHz mono, fed from the FIFO $RUNTIME/mic.fifo
# Usage: eval "$(scripts/pulse-server.sh start DIR)"  ...  scripts/pulse-server.sh stop DIR
# The first prints `export XDG_RUNTIME_DIR=... PULSE_SERVER=...` for the clients.
set -euo pipefail
cmd=${1:-start}
dir=${2:-/tmp/calmline-pulse}
export XDG_RUNTIME_DIR=$dir
case "$cmd" in
start)
    mkdir -p "$dir" && chmod 700 "$dir"
    # module-pipe-source creates the FIFO itself.
    rm -f "$dir/mic.fifo"
    cat > "$dir/default.pa" <<CONF
load-module module-native-protocol-unix auth-anonymous=1 socket=$dir/native
load-module module-null-sink sink_name=call_out rate=16000 channels=2
load-module module-pipe-source source_name=mic file=$dir/mic.fifo format=s16le rate=16000 channels=1
set-default-sink call_out
set-default-source call_out.monitor
CONF
    pulseaudio --daemonize=yes -n -F "$dir/default.pa" --exit-idle-time=-1 --disallow-exit \
        --log-target=file:"$dir/pulse.log" >/dev/null 2>&1 || true
    for _ in $(seq 1 50); do
        if PULSE_SERVER=unix:$dir/native pactl info >/dev/null 2>&1; then
            echo "export XDG_RUNTIME_DIR=$dir PULSE_SERVER=unix:$dir/native"
            exit 0
        fi
        sleep 0.2
    done
    echo "PulseAudio did not start; see $dir/pulse.log" >&2
    exit 1
    ;;
stop)
    PULSE_SERVER=unix:$dir/native pulseaudio --kill >/dev/null 2>&1 || pkill -f "pulseaudio.*$dir" || true
    ;;
esac
