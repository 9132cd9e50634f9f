#!/usr/bin/python3
"""The difference of two arms' final accuracies with its 95% Welch interval, and paired by seed
where both arms ran the same seeds: the numbers docs/PERF.md quotes for runs outside a spec's
report (e.g. airbench94 in bf16 against fp32).

  compare.py [--field test_accuracy_tta] --a METRICS... --b METRICS...

Each METRICS is a gq-train --metrics file (its last eval record counts) or a sweep cell's folder
(its metrics.jsonl; its cell.json gives the seed). Files pair by seed where a cell names it, else
in the order given."""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from welch import ci_text, combo, diff  # noqa: E402


def final(path, field):
    """(seed or None, the last eval record's `field` in %) of a metrics file or a cell folder."""
    seed = None
    if os.path.isdir(path):
        with open(os.path.join(path, "cell.json")) as f:
            seed = json.load(f)["flags"]["seed"]
        path = os.path.join(path, "metrics.jsonl")
    with open(path) as f:
        evals = [r for r in map(json.loads, f) if r.get("type") == "eval"]
    if not evals or field not in evals[-1]:
        sys.exit(f"compare.py: {path}: no eval record with '{field}'")
    return seed, 100 * evals[-1][field]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--field", default="test_accuracy", help="the eval record's field (test_accuracy)")
    ap.add_argument("--a", nargs="+", required=True, help="arm A's metrics files or cell folders")
    ap.add_argument("--b", nargs="+", required=True, help="arm B's")
    args = ap.parse_args()
    a = [final(p, args.field) for p in args.a]
    b = [final(p, args.field) for p in args.b]
    if all(s is not None for s, _ in a + b):
        a, b = sorted(a), sorted(b)
    xa, xb = [v for _, v in a], [v for _, v in b]
    print(f"A: n {len(xa)} mean {sum(xa) / len(xa):.3f}   B: n {len(xb)} mean {sum(xb) / len(xb):.3f}")
    print(f"A - B, Welch 95%: {ci_text(diff(xa, xb))}")
    if len(xa) == len(xb) and [s for s, _ in a] == [s for s, _ in b]:
        print(f"A - B, paired 95%: {ci_text(combo([(1.0, [x - y for x, y in zip(xa, xb)])]))}")


if __name__ == "__main__":
    main()
