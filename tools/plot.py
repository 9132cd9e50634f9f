#!/usr/bin/python3
"""Turns gq-train metrics (JSONL) into PNG curves.

Usage: tools/plot.py METRICS.jsonl [MORE.jsonl ...] [-o OUT.png]
One figure: training loss against step, and test accuracy against epoch, one line per file
(labelled by file name). Uses Debian's python3-matplotlib (hence /usr/bin/python3).
"""
import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read(path):
    train, evals, extra = [], [], {}
    with open(path) as f:
        for line_no, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"{path}:{line_no}: not JSON ({e}); is this a gq-train --metrics file?")
            if r.get("type") == "train":
                train.append(r)
            elif r.get("type") == "eval":
                evals.append(r)
    return train, evals


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("metrics", nargs="+")
    ap.add_argument("-o", "--out", default=None, help="PNG path (default: first file with .png)")
    args = ap.parse_args()
    out = args.out or os.path.splitext(args.metrics[0])[0] + ".png"
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    for path in args.metrics:
        train, evals = read(path)
        label = os.path.basename(path).removesuffix(".jsonl")
        if train:
            ax_loss.plot([r["step"] for r in train], [r["loss"] for r in train], label=label)
        if evals:
            ax_acc.plot([r["epoch"] for r in evals], [100 * r["test_accuracy"] for r in evals],
                        marker="o", label=label)
    ax_loss.set(xlabel="step", ylabel="training loss", title="training loss")
    ax_acc.set(xlabel="epoch", ylabel="test accuracy (%)", title="test accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
