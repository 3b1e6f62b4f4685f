#!/usr/bin/env python3
"""Decode a recording with ffmpeg's decoders through PyAV (`pip install av`) into a 32-bit float
WAV at the stream's own rate: the reference the tests hold calmline's Opus decoding to.

    python3 scripts/decode.py IN OUT.wav
"""
import struct
import sys

import av


def main(src: str, dst: str) -> None:
    inp = av.open(src)
    st = inp.streams.audio[0]
    chunks, rate, channels = [], None, None
    for frame in inp.decode(st):
        # Float decoders only (Opus, Vorbis, AAC give float): integer samples would need scaling.
        if frame.format.name not in ("flt", "fltp"):
            sys.exit(f"{src}: the decoder gives {frame.format.name}, not float samples")
        a = frame.to_ndarray()
        if frame.format.is_planar:
            a = a.T
        rate, channels = frame.sample_rate, len(frame.layout.channels)
        chunks.append(a.astype("<f4").reshape(-1).tobytes())
    data = b"".join(chunks)
    with open(dst, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt ")
        # fmt: 16 bytes, IEEE float (3), channels, rate, bytes per second, block, bits.
        f.write(struct.pack("<IHHIIHH", 16, 3, channels, rate, rate * channels * 4,
                            channels * 4, 32))
        f.write(b"data" + struct.pack("<I", len(data)) + data)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(*sys.argv[1:])
