#!/usr/bin/env python3
"""Turn-level verdicts of a calmline review against a scenario call's labelled customer turns.

usage: turns.py REVIEW.json TURNS.csv
A turn counts as flagged when most of its voiced timeline steps are inside an escalation episode.
"""
import csv, json, sys

def verdicts(review, turns):
    tl = review["timeline"]; hop = tl["hop_s"]; c = tl["customer"]
    out = []
    for t in turns:
        a, b = int(float(t["start_s"]) / hop), int(float(t["end_s"]) / hop)
        idx = [i for i in range(a, min(b, len(c["voiced"]))) if c["voiced"][i]] or list(range(a, min(b, len(c["voiced"]))))
        frac = sum(c["escalated"][i] for i in idx) / max(1, len(idx))
        mx = max((c["escalation"][i] for i in idx), default=0)
        out.append((t, frac, mx, frac >= 0.5))
    return out

if __name__ == "__main__":
    review = json.load(open(sys.argv[1]))
    turns = list(csv.DictReader(open(sys.argv[2])))
    for t, frac, mx, flag in verdicts(review, turns):
        ok = flag == (t["escalated"] == "1")
        print(f'{t["start_s"]:>8} {t["emotion"]:>8} {t["intensity"]:>7} lab={t["escalated"]} frac={frac:.2f} max={mx:.2f} {"ok" if ok else "WRONG"}')
