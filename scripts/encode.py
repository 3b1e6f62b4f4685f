#!/usr/bin/env python3
"""Encode a recording with ffmpeg's encoders through PyAV (`pip install av`), for the formats
sox cannot write as recorders do: AAC and ALAC in M4A, raw AAC (ADTS), Opus in MP4, and MP3 with
its LAME header (codec libmp3lame). The tests use it to make their M4A and MP3 inputs from the
shared recordings.

    python3 scripts/encode.py IN OUT CODEC      # e.g. call.wav call.m4a aac

The container follows OUT's extension (.m4a/.mp4: MP4, .aac: ADTS, .mp3: MP3).
"""
import sys
from fractions import Fraction

import av


def main(src: str, dst: str, codec: str) -> None:
    inp = av.open(src)
    ins = inp.streams.audio[0]
    # ffmpeg's AAC encoder refuses an unnamed "2 channels" layout.
    layout = "stereo" if ins.channels == 2 else "mono"
    out = av.open(dst, "w")
    st = out.add_stream(codec, rate=ins.rate, layout=layout)
    if codec == "aac":
        st.bit_rate = 32000 * ins.channels
    fmt = st.codec_context.codec.audio_formats[0].name
    resampler = av.AudioResampler(format=fmt, layout=layout, rate=ins.rate)

    # Frames numbered by their first sample, as ffmpeg does: the encoder's priming then comes
    # out before 0 and the muxer writes the edit list that skips it, as recorders' files have.
    first = 0

    def encode(frames):
        nonlocal first
        for f in frames:
            f.pts = first
            f.time_base = Fraction(1, ins.rate)
            first += f.samples
            for packet in st.encode(f):
                out.mux(packet)

    for frame in inp.decode(ins):
        frame.pts = None
        encode(resampler.resample(frame))
    encode(resampler.resample(None))
    for packet in st.encode(None):
        out.mux(packet)
    out.close()


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
