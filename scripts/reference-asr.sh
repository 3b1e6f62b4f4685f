#!/usr/bin/env bash
# The transcription reference calmline's figures are compared with: faster-whisper (PyPI) on the
# same tiny.en weights, int8, 2 threads. Installs faster-whisper into a virtual environment in the
# cache folder (from PyPI, once) and runs scripts/reference-asr.py on the given folders.
#   scripts/reference-asr.sh ../shared/data/asr ../shared/data/telephony
#   scripts/reference-asr.sh --mulaw ../shared/data/emotion/ravdess
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-model.sh >/dev/null   # also caches the CTranslate2 tiny.en folder
cache=${CALMLINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/calmline}
venv=$cache/faster-whisper-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import faster_whisper" 2>/dev/null; then
    echo "installing faster-whisper 1.2.1 into $venv (PyPI)..." >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet faster-whisper==1.2.1
fi
exec "$venv/bin/python" scripts/reference-asr.py "$@"
