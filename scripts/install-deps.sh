#!/usr/bin/env bash
# Installs the system packages calmline's build and tests use (idempotent; skips what is there).
#   cmake: builds whisper.cpp (through whisper-rs).
#   sox + libsox-fmt-all: the tests convert real recordings to mu-law, A-law, MP3, OGG, FLAC.
#   espeak-ng: the redaction test has a synthetic voice read numbers aloud.
#   libasound2-dev + pkg-config: cpal's ALSA host; pulseaudio, pulseaudio-utils,
#   libasound2-plugins: a real (headless) sound server and ALSA's pulse plugin for live capture.
#   nats-server: the many-hubs tests run a real NATS JetStream server.
#   chromium: the floor view's test drives a real headless browser; openssl: the HTTPS test
#   makes a private CA and a certificate.
set -euo pipefail
need=()
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v c++ >/dev/null 2>&1 || need+=(g++)
command -v sox >/dev/null 2>&1 || need+=(sox)
dpkg -s libsox-fmt-all >/dev/null 2>&1 || need+=(libsox-fmt-all)
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
dpkg -s libasound2-dev >/dev/null 2>&1 || need+=(libasound2-dev)
dpkg -s libasound2-plugins >/dev/null 2>&1 || need+=(libasound2-plugins)
command -v pulseaudio >/dev/null 2>&1 || need+=(pulseaudio)
command -v paplay >/dev/null 2>&1 || need+=(pulseaudio-utils)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || need+=(nats-server)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
# PyAV (ffmpeg's codecs for Python, one wheel from PyPI): the tests write M4A/AAC, ALAC and Opus
# inputs with it (scripts/encode.py), as sox cannot.
if ! python3 -c 'import av' >/dev/null 2>&1; then
    echo "installing: PyAV (pip)" >&2
    python3 -m pip install --quiet --disable-pip-version-check av
fi
