#!/usr/bin/env python3
"""Writes the bundled `driftmon compare` example: examples/baseline.jsonl
and examples/current.jsonl, 400 rows each, deterministic (seeded).

Each row has a 32-d unit-norm "embedding", an "intent" and a "positive"
rating.  The current week drifts on purpose: a new topic cluster takes a
third of the traffic, "debug" questions grow at the cost of "general",
and satisfaction falls from about 88% to about 74%.
Standard library only, so it runs anywhere python3 does.
"""
import json
import math
import random
import sys

DIM = 32
ROWS = 400


def unit(v):
    n = math.sqrt(sum(x * x for x in v)) or 1.0
    return [round(x / n, 6) for x in v]


def topic_centres(rng, k):
    return [[rng.gauss(0, 1) for _ in range(DIM)] for _ in range(k)]


def row(rng, centre, intent, positive):
    v = [c + rng.gauss(0, 0.9) for c in centre]
    return {"embedding": unit(v), "intent": intent, "positive": positive}


def week(rng, centres, topic_weights, intent_weights, p_positive):
    intents = ["code", "reasoning", "general", "debug", "documentation"]
    out = []
    for _ in range(ROWS):
        t = rng.choices(range(len(centres)), weights=topic_weights)[0]
        i = rng.choices(intents, weights=intent_weights)[0]
        out.append(row(rng, centres[t], i, rng.random() < p_positive))
    return out


def main():
    rng = random.Random(20261126)
    centres = topic_centres(rng, 4)
    base = week(rng, centres, [1, 1, 1, 0], [30, 20, 30, 10, 10], 0.88)
    cur = week(rng, centres, [1, 1, 0.5, 1.5], [30, 20, 12, 28, 10], 0.74)
    outdir = sys.argv[1] if len(sys.argv) > 1 else "examples"
    for name, rows in (("baseline", base), ("current", cur)):
        with open(f"{outdir}/{name}.jsonl", "w") as f:
            for r in rows:
                f.write(json.dumps(r, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
