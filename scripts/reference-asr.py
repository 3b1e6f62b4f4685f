#!/usr/bin/env python3
"""The transcription reference: faster-whisper with the same tiny.en weights calmline imports.

Usage: scripts/reference-asr.sh DIR [DIR ...]   (DIR holds transcripts.tsv, or RAVDESS labels.csv)
       options: --mulaw  (convert each file to 8 kHz mu-law with sox first, as calmline's tests do)

Prints, per folder and in all: WER (same normalisation as calmline's src/transcribe/wer.rs),
how many output segments repeat a 3+ word run back to back, and the speed as a multiple of real
time. faster-whisper runs as it ships: int8 on 2 CPU threads, beam 5, temperature fallback with
the 2.4 compression-ratio and -1 log-probability rules, its own VAD off (the files are short).
"""
import re
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

from faster_whisper import WhisperModel


def normalise(text):
    out, depth = [], 0
    for c in text:
        if c in "([":
            depth += 1
        elif c in ")]":
            depth = max(depth - 1, 0)
        elif depth > 0:
            pass
        elif c.isalnum() or c == "'":
            out.append(c.lower())
        else:
            out.append(" ")
    return [w.strip("'") for w in "".join(out).split() if w.strip("'")]


def edits(ref, hyp):
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref):
        cur = [i + 1] + [0] * len(hyp)
        for j, h in enumerate(hyp):
            cur[j + 1] = min(prev[j] + (r != h), prev[j + 1] + 1, cur[j] + 1)
        prev = cur
    return prev[len(hyp)]


def looped(text):
    w = normalise(text)
    for p in range(3, len(w) // 2 + 1):
        for i in range(0, len(w) - 2 * p + 1):
            if w[i : i + p] == w[i + p : i + 2 * p]:
                return True
    return False


def items(folder):
    folder = Path(folder)
    if (folder / "transcripts.tsv").exists():
        for line in (folder / "transcripts.tsv").read_text().splitlines()[1:]:
            f, ref = line.split("\t", 1)
            yield folder / f, ref
    else:
        for line in (folder / "labels.csv").read_text().splitlines()[1:]:
            f = line.split(",")
            yield folder / f[0], f[5]


def duration(path):
    out = subprocess.run(["soxi", "-D", str(path)], capture_output=True, text=True, check=True)
    return float(out.stdout)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    mulaw = "--mulaw" in sys.argv
    model_dir = Path.home() / ".cache/calmline/tiny.en-ct2"
    model = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=2)
    tmp = tempfile.TemporaryDirectory()
    total = [0, 0, 0, 0, 0.0, 0.0]  # edits, words, segments, loops, audio s, secs
    for folder in args:
        e = w = n = loops = 0
        audio = secs = 0.0
        for k, (path, ref) in enumerate(items(folder)):
            if mulaw:
                conv = Path(tmp.name) / f"{k}.wav"
                subprocess.run(["sox", str(path), "-D", "-r", "8000", "-e", "mu-law", str(conv)], check=True)
                path = conv
            audio += duration(path)
            t = time.perf_counter()
            segments, _ = model.transcribe(str(path), language="en", beam_size=5)
            segments = list(segments)
            secs += time.perf_counter() - t
            hyp = " ".join(s.text for s in segments)
            n += len(segments)
            loops += sum(looped(s.text) for s in segments)
            r, h = normalise(ref), normalise(hyp)
            e += edits(r, h)
            w += len(r)
        print(f"{folder}{' (mu-law)' if mulaw else ''}: WER {100 * e / w:.2f}% ({e}/{w}), "
              f"{loops} of {n} segments loop, {audio / secs:.1f}x real time ({audio:.0f} s in {secs:.1f} s)")
        for i, v in enumerate([e, w, n, loops, audio, secs]):
            total[i] += v
    e, w, n, loops, audio, secs = total
    print(f"all: WER {100 * e / w:.2f}%, {loops} of {n} segments loop, {audio / secs:.1f}x real time")


if __name__ == "__main__":
    main()
