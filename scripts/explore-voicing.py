#!/usr/bin/env python3
"""Does anger change how clearly voiced speech is, or how restless its pitch is, and does that
survive a change of words?
The screen behind the turn path's rough-voice alternative (config/default.toml,
`turn_rough_*`) and its restless-pitch one (`turn_motion_*`). An exploration for issue 11,
not part of the product or the tests.

    pip install numpy pandas
    ASSEMBLY_SEEDS=11400714819323198485,1,2,3 DUMP=/tmp/feats4.csv \
      cargo test --release --test accuracy dump_assembled_features -- --ignored
    FILES=$(ls ../shared/data/calls/spokenwoz_MUL1011_8k_stereo.wav \
      ../shared/data/calls/pyannote_sample.wav ../shared/data/telephony/*.wav | paste -sd,) \
      DUMP=/tmp/real.csv cargo test --release --test accuracy dump_file_features -- --ignored
    python3 scripts/explore-voicing.py /tmp/feats4.csv /tmp/real.csv

1. Per assembled customer turn (16 kHz, mu-law, levelled), over its active hops: the share with
   pitch clarity >= 0.8 (`clear`), the mean clarity, the pitch motion per 10 ms (`motion`, see
   `motion()`; x100 = semitones a second), and for comparison the median pitch, mean
   tilt and mean loudness; each minus the mean of the call's first two (calm) turns. The area
   under the ROC curve of each against calm and neutral turns, for normal and strong anger
   (0.5 = no use; under 0.5 = anger lowers it).
2. Text dependence: the same share over consecutive 2 s stretches of active speech of real
   calm speakers (SpokenWOZ's two sides, the pyannote sample, the announcer), each minus the
   first two stretches, beside the anger shift; and the pitch motion over 3 s stretches.
"""
import sys

import numpy as np
import pandas as pd

CLEAR = 0.8


def auc(pos, neg):
    pos, neg = pos.dropna().values, neg.dropna().values
    ranks = pd.Series(np.concatenate([pos, neg])).rank().values
    return (ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))


def motion(d, by):
    """Pitch motion per hop (the restless-pitch path): the change in semitones from the previous
    hop when both are voiced active speech, capped at 3 (NaN otherwise). Times 100: per second."""
    st = pd.Series(
        np.where((d.hz > 0) & (d.active == 1), 12 * np.log2(d.hz.clip(lower=1) / 100), np.nan),
        index=d.index,
    )
    return st.groupby([d[k] for k in by]).diff().abs().clip(upper=3)


def turns(path, baseline="first"):
    """Per assembled customer turn (each call's turns from the third on), each feature minus
    its mean over the call's first two turns (`baseline="first"`), over every calm or neutral
    turn before it (`"prior"`, about what the detector's baseline has learnt by then), or over
    all of the call's calm and neutral turns, later ones too (`"calm"`, an oracle)."""
    d = pd.read_csv(path)
    # A new call (of any assembly) starts where the 16 kHz hop count restarts.
    d["inst"] = ((d.enc.astype(str) == "16") & (d.hop == 0)).cumsum()
    d["motion"] = motion(d, ["inst", "enc"])
    d = d[(d.turn >= 0) & (d.active == 1)].copy()
    d["st"] = np.where(d.hz > 0, 12 * np.log2(d.hz.clip(lower=1) / 100), np.nan)
    d["clear"] = (d.clar >= CLEAR).astype(float)
    d["tilt_v"] = np.where(d.hz > 0, d.tilt, np.nan)
    g = d.groupby(["inst", "enc", "turn"])
    t = pd.DataFrame(
        {
            "label": g.label.first(),
            "actor": g.actor.first(),
            "esc_call": g.esc_call.first(),
            "esc": g.esc.first(),
            "clear": g.clear.mean(),
            "clarity": g.clar.mean(),
            "motion": g.motion.mean(),
            "pitch": g.st.median(),
            "tilt": g.tilt_v.mean(),
            "loudness": g.loud.mean(),
            # Screened in scripts/explore-ceiling.py only: syllable pace, the turn's length
            # (log of its active hops: the same sentence said faster or slower), pitch spread.
            "pace": g.pace.mean(),
            "length": np.log(g.size()),
            "pitch_sd": g.st.std(),
        }
    ).reset_index()
    feats = ["clear", "clarity", "motion", "pitch", "tilt", "loudness"]
    # Measured against the same baselines as `feats`, but not part of this script's own output.
    extra = ["pace", "length", "pitch_sd"]
    out = []
    for _, call in t.groupby(["inst", "enc"]):
        rest = call[call.turn >= 2].copy()
        if baseline == "prior":
            calm = call[feats + extra].where(call.esc == 0)
            # Mean of the calm turns before each turn (pandas skips the NaN of angry ones).
            prior = calm.expanding().mean().shift(1)
            rest[feats + extra] = rest[feats + extra] - prior.loc[rest.index]
        else:
            ref = call[call.esc == 0] if baseline == "calm" else call[call.turn < 2]
            rest[feats + extra] = rest[feats + extra] - ref[feats + extra].mean()
        out.append(rest)
    r = pd.concat(out)
    r["cls"] = np.where(
        r.label.str.contains("angry_normal"),
        "normal",
        np.where(r.label.str.contains("angry_strong"), "strong", "calm"),
    )
    return r, feats


def main():
    r, feats = turns(sys.argv[1])
    print("AUC against calm and neutral turns (normal / strong anger); mean shift")
    for enc, e in r.groupby(r.enc.astype(str)):
        calm = e[e.cls == "calm"]
        cells = []
        for f in feats:
            a_n = auc(e[e.cls == "normal"][f], calm[f])
            a_s = auc(e[e.cls == "strong"][f], calm[f])
            shift = e[e.cls == "normal"][f].mean()
            cells.append(f"{f} {a_n:.2f}/{a_s:.2f} ({shift:+.2f}, calm sd {calm[f].std():.2f})")
        print(f"  {enc:>3}: " + "; ".join(cells))
    if len(sys.argv) < 3:
        return
    d = pd.read_csv(sys.argv[2])
    d["name"] = d.file.str.split("/").str[-1]
    print(f"real calm speech, share with clarity >= {CLEAR} over 2 s stretches of active speech")
    for (name, chan), g in d.groupby(["name", "chan"]):
        a = g[g.active == 1]
        n = len(a) // 200
        if n < 4:
            continue
        share = np.array([(a.iloc[k * 200 : (k + 1) * 200].clar >= CLEAR).mean() for k in range(n)])
        dev = share[2:] - share[:2].mean()
        print(f"  {name} ch{chan}: {n} stretches, sd {share.std():.3f}, lowest {dev.min():+.3f}")
    print("real calm speech, pitch motion (semitones a second) over 3 s stretches of active speech")
    d["motion"] = motion(d, ["name", "chan"])
    for (name, chan), g in d.groupby(["name", "chan"]):
        a = g[g.active == 1]
        n = len(a) // 300
        if n < 4:
            continue
        m = np.array([a.iloc[k * 300 : (k + 1) * 300].motion.mean() * 100 for k in range(n)])
        dev = m[2:] - m[:2].mean()
        print(f"  {name} ch{chan}: {n} stretches, mean {m.mean():.1f}, sd {m.std():.1f}, highest {dev.max():+.1f}")


if __name__ == "__main__":
    main()
