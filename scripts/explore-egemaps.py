#!/usr/bin/env python3
"""Which voice signals separate normal-intensity anger from calm speech once the line levels
every turn (AGC), and do they survive a change of words?  An exploration for issue 11, not
part of the product or the tests.

    pip install opensmile numpy pandas soundfile
    python3 scripts/explore-egemaps.py

1. Every calm, neutral and angry RAVDESS take of ../shared/data (actors 1-8) is levelled to
   -26 dBFS RMS and described with openSMILE's eGeMAPS functionals. Each actor's baseline is the
   mean of 3 of their calm or neutral takes (as if from the first calm turns); a take's
   deviation from it is what a detector could use.
2. For a few candidate signals: normal-anger takes recalled at a threshold that passes at most
   one calm/neutral take (over all actors), and the median deviation per actor.
3. Text dependence: RAVDESS has two sentences, so a spectral-envelope signal can look better
   there than it is. The spread of each signal over takes of one calm speaker saying different
   sentences (../shared/data/asr) and over 3 s stretches of the SpokenWOZ call's two sides is
   printed beside RAVDESS's own calm spread and the anger shift.
"""
import glob
import os

import numpy as np
import opensmile
import pandas as pd
import soundfile as sf

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")
RAV = os.path.join(DATA, "emotion", "ravdess")
SIGNALS = [  # (eGeMAPS functional, sign that anger pushes it)
    ("mfcc4V_sma3nz_amean", -1),
    ("alphaRatioV_sma3nz_amean", 1),
    ("hammarbergIndexV_sma3nz_amean", -1),
    ("F0semitoneFrom27.5Hz_sma3nz_amean", 1),
    ("HNRdBACF_sma3nz_amean", -1),
    ("jitterLocal_sma3nz_amean", 1),
]
smile = opensmile.Smile(
    feature_set=opensmile.FeatureSet.eGeMAPSv02,
    feature_level=opensmile.FeatureLevel.Functionals,
)


def describe(x, rate, level=True):
    if x.ndim > 1:
        x = x.mean(1)
    if level:
        x = x * (10 ** (-26 / 20) / np.sqrt(np.mean(x**2) + 1e-12))
    return smile.process_signal(x, rate).iloc[0]


labels = pd.read_csv(os.path.join(RAV, "labels.csv"))
labels = labels[labels.emotion.isin(["neutral", "calm", "angry"])].reset_index(drop=True)
feats = pd.DataFrame(
    [describe(*sf.read(os.path.join(RAV, f))).values for f in labels.file],
    columns=smile.feature_names,
)
takes = pd.concat([labels, feats], axis=1)

names = [s for s, _ in SIGNALS]
dev = []
for actor, g in takes.groupby("actor"):
    base = g[g.emotion != "angry"].sample(3, random_state=actor)
    d = g.drop(base.index).copy()
    d[names] = d[names] - base[names].mean()
    dev.append(d)
dev = pd.concat(dev)
normal = dev[(dev.emotion == "angry") & (dev.intensity == "normal")]
calm = dev[dev.emotion != "angry"]

print("levelled takes, actors 1-8: normal anger recalled with at most one calm take over")
for name, sign in SIGNALS:
    p, n = sign * normal[name].values, sign * calm[name].values
    cut = np.sort(n)[-2]
    per_actor = " ".join(
        "%d:%+.1f/%+.1f"
        % (a, sign * normal[normal.actor == a][name].median(), sign * calm[calm.actor == a][name].median())
        for a in sorted(dev.actor.unique())
    )
    print(f"  {name:36s} {(p > cut).sum():2d}/{len(p)}   per actor anger/calm median: {per_actor}")

print("\nspread (standard deviation) over takes with different words, against the anger shift")
for name, sign in SIGNALS:
    shift = (normal.groupby("actor")[name].mean() - calm.groupby("actor")[name].mean()).abs().median()
    rav = takes[takes.emotion != "angry"].groupby("actor")[name].std().median()
    row = [f"RAVDESS calm {rav:5.2f}", f"anger shift {shift:5.2f}"]
    for pat in ["asr/sense*.wav", "asr/arctic*.wav"]:
        v = [describe(*sf.read(p))[name] for p in sorted(glob.glob(os.path.join(DATA, pat)))]
        row.append(f"{pat.split('/')[1].split('*')[0]} {np.std(v, ddof=1):5.2f}")
    x, rate = sf.read(os.path.join(DATA, "calls", "spokenwoz_MUL1011_8k_stereo.wav"))
    for ch in (0, 1):
        v = []
        for s in range(0, len(x) - 3 * rate, 3 * rate):
            seg = x[s : s + 3 * rate, ch]
            if np.sqrt(np.mean(seg**2)) < 0.01:
                continue
            r = describe(seg, rate, level=False)
            if r["VoicedSegmentsPerSec"] > 0.5:
                v.append(r[name])
        row.append(f"SpokenWOZ ch{ch} {np.std(v, ddof=1):5.2f}")
    print(f"  {name:36s} " + "  ".join(row))
