#!/usr/bin/env python3
"""How far can the per-turn signals the detector has separate angry from calm turns at all?
An exploration for issue 11 (not part of the product or the tests): before tuning the detector
further, fit classifiers offline on whole turns, with the turn boundaries known (which the live
detector does not know), and validate them leave-one-actor-out as the detector is validated.
If they do no better than the detector, the remaining errors are not in how the detector
accumulates evidence but in what the signals carry.

    pip install numpy pandas scikit-learn
    ASSEMBLY_SEEDS=11400714819323198485,1,2,3 DUMP=/tmp/feats4.csv \
      cargo test --release --test accuracy dump_assembled_features -- --ignored
    ASSEMBLY_SEEDS=11400714819323198485,1,2,3 DUMP=/tmp/verdicts4.csv \
      cargo test --release --test accuracy dump_turn_verdicts -- --ignored
    python3 scripts/explore-ceiling.py /tmp/feats4.csv /tmp/verdicts4.csv

Per turn (from each call's third): loudness, median pitch, tilt, the clearly voiced share, mean
clarity and pitch motion (see scripts/explore-voicing.py), each minus one of three baselines:
the call's first two turns; every calm or neutral turn before it (about what the detector's
baseline has learnt by then); all of the call's calm and neutral turns (an oracle). Two
classifiers, a class-balanced logistic regression and small gradient-boosted trees, each trained
on seven actors and judged on the eighth. Printed beside them: the detector's own verdicts on
the same turns, in-sample (its leave-one-actor-out figures are in tests/accuracy.rs).
"""
import importlib.util
import os
import sys

import numpy as np
import pandas as pd
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

spec = importlib.util.spec_from_file_location(
    "explore_voicing", os.path.join(os.path.dirname(__file__), "explore-voicing.py")
)
voicing = importlib.util.module_from_spec(spec)
spec.loader.exec_module(voicing)

SETS = {
    "loudness, pitch, tilt": ["loudness", "pitch", "tilt"],
    "+ clear share, motion": ["loudness", "pitch", "tilt", "clear", "motion"],
    "+ clarity": ["loudness", "pitch", "tilt", "clear", "motion", "clarity"],
    # A screen of what else the turn table has: is "faster" or a wider pitch range any help?
    "+ pace, length, pitch sd": [
        "loudness", "pitch", "tilt", "clear", "motion", "clarity", "pace", "length", "pitch_sd"
    ],
}


def figures(t, flag):
    """Balanced accuracy, normal anger flagged, calm turns flagged, calm calls with one."""
    angry, calm = t.cls != "calm", t.cls == "calm"
    ba = 0.5 * (flag[angry].mean() + (1 - flag[calm]).mean())
    calls = t[t.esc_call == 0].assign(f=flag).groupby("inst").f.max().sum()
    return (
        f"balanced accuracy {ba:.3f}, normal anger {int(flag[t.cls == 'normal'].sum())}/"
        f"{(t.cls == 'normal').sum()}, calm turns flagged {int(flag[calm].sum())}/{calm.sum()}, "
        f"calm calls with one {int(calls)}/{t[t.esc_call == 0].inst.nunique()}"
    )


def loao(t, feats, model):
    flag = pd.Series(0, index=t.index)
    for a in sorted(t.actor.unique()):
        train, test = t[t.actor != a], t[t.actor == a]
        x, y = train[feats].fillna(0), (train.cls != "calm").astype(int)
        if model == "logistic":
            m = LogisticRegression(C=1.0, max_iter=1000, class_weight="balanced").fit(x, y)
            flag[test.index] = m.predict(test[feats].fillna(0))
        else:
            m = GradientBoostingClassifier(n_estimators=150, max_depth=2, random_state=0).fit(x, y)
            # Balanced: flag above the training share of angry turns.
            p = m.predict_proba(test[feats].fillna(0))[:, 1]
            flag[test.index] = (p > y.mean()).astype(int)
    return flag


def main():
    verdicts = pd.read_csv(sys.argv[2]) if len(sys.argv) > 2 else None
    names = {
        "first": "the call's first two turns",
        "prior": "the calm turns before each turn",
        "calm": "all the call's calm turns, later ones too (oracle)",
    }
    for baseline, title in names.items():
        r, _ = voicing.turns(sys.argv[1], baseline)
        print(f"baseline: {title}")
        for enc, t in r.groupby(r.enc.astype(str)):
            t = t.copy()
            print(f"  {enc}")
            for name, feats in SETS.items():
                for model in ["logistic", "trees"]:
                    print(f"    {model:8} {name:24} {figures(t, loao(t, feats, model))}")
            if verdicts is not None and baseline == "first":
                v = verdicts.assign(enc=verdicts.enc.astype(str))
                m = t.merge(v, on=["inst", "enc", "turn"], how="left")
                m.index = t.index
                print(f"    detector (in-sample)              {figures(t, m.flag.fillna(0))}")


if __name__ == "__main__":
    main()
