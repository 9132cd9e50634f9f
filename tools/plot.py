#!/usr/bin/python3
"""Turns gq-train metrics (JSONL) into PNG curves, and gq-eval --json's confusion matrix into a PNG.

Usage: tools/plot.py METRICS.jsonl [MORE.jsonl ...] [-o OUT.png]
       tools/plot.py --confusion EVAL.json [-o OUT.png]
One figure, one line per file (labelled by file name), everything against the step: the training
loss with the test and validation losses; every accuracy an evaluation recorded (test, validation,
with test-time augmentation: any "*accuracy*" key), as points joined by lines, so that one
evaluation is a visible point and evaluations inside an epoch (--eval-every) spread out; the
learning rate; and, for Grad Queue runs, its diagnostics (queue length; mean scarcity weight,
fraction amplified and cos(G*, g-bar)). Records of other types (the run headers) are skipped.
--confusion: one cell per true class (row) and prediction (column) holding the count, shaded by
its share of the row, so that every class reads on the same scale however many samples it has.
Uses Debian's python3-matplotlib and python3-numpy (hence /usr/bin/python3).
"""
import argparse
import json
import os
import sys

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

GQ_RATIOS = (("mean_delta", "mean weight"), ("frac_delta_gt1", "fraction amplified"),
             ("cos_gstar_gbar", "cos(G*, g-bar)"))


def read(path):
    """The file's train and eval records, in order; exits naming the line that is not JSON."""
    train, evals = [], []
    try:
        f = open(path)
    except OSError as e:
        sys.exit(f"plot.py: cannot read {path}: {e.strerror}")
    with f:
        for line_no, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"{path}:{line_no}: not JSON ({e}); is this a gq-train --metrics file?")
            if not isinstance(r, dict) or "step" not in r:
                continue  # a header or a record of another kind
            if r.get("type") == "train":
                train.append(r)
            elif r.get("type") == "eval":
                evals.append(r)
    return train, evals


def series(records, key, scale=1.0):
    pts = [(r["step"], scale * r[key]) for r in records if isinstance(r.get(key), (int, float))]
    return [p[0] for p in pts], [p[1] for p in pts]


def draw_losses(ax, label, train, evals):
    ax.plot(*series(train, "loss"), label=f"{label} train")
    for key in ("test_loss", "val_loss"):
        steps, values = series(evals, key)
        if steps:
            ax.plot(steps, values, marker="o", label=f"{label} {key.removesuffix('_loss')}")


def draw_accuracies(ax, label, evals):
    keys = sorted({k for r in evals for k in r if "accuracy" in k})
    for key in keys:
        steps, values = series(evals, key, 100.0)
        ax.plot(steps, values, marker="o", label=f"{label} {key.replace('_accuracy', '')}")


def draw_gradqueue(ax_len, ax_ratio, label, train):
    gq = [dict(r["gradqueue"], step=r["step"]) for r in train
          if isinstance(r.get("gradqueue"), dict)]
    if not gq:
        return False
    ax_len.plot(*series(gq, "qlen"), label=f"{label} qlen")
    ax_len.plot(*series(gq, "queue_count"), linestyle=":", label=f"{label} held")
    for key, name in GQ_RATIOS:
        ax_ratio.plot(*series(gq, key), label=f"{label} {name}")
    return True


def labels(paths):
    """Each file's name without .jsonl; with its folder when two files share a name."""
    names = [os.path.basename(p).removesuffix(".jsonl") for p in paths]
    if len(set(names)) == len(names):
        return names
    return [os.path.join(os.path.basename(os.path.dirname(os.path.abspath(p))), n)
            for p, n in zip(paths, names)]


def read_confusion(path):
    """gq-eval --json's report; exits naming the file and what was expected."""
    try:
        with open(path) as f:
            r = json.load(f)
    except OSError as e:
        sys.exit(f"plot.py: cannot read {path}: {e.strerror}")
    except json.JSONDecodeError as e:
        sys.exit(f"{path}: not JSON ({e}); expected gq-eval --json output")
    names = r.get("classes") if isinstance(r, dict) else None
    m = r.get("confusion") if isinstance(r, dict) else None
    n = len(names) if isinstance(names, list) else 0
    if n == 0 or not isinstance(m, list) or len(m) != n or any(
            not isinstance(row, list) or len(row) != n or
            not all(isinstance(c, int) and c >= 0 for c in row) for row in m):
        sys.exit(f"{path}: expected gq-eval --json output: 'classes' (N names) and 'confusion' "
                 f"(N rows of N counts)")
    return r


def draw_confusion(path, out):
    r = read_confusion(path)
    names, counts = r["classes"], np.array(r["confusion"], dtype=np.int64)
    n = len(names)
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    side = max(6.0, 0.6 * n + 2)
    fig, ax = plt.subplots(figsize=(side, side))
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), names, rotation=45, ha="right")
    ax.set_yticks(range(n), names)
    if n <= 30:  # the counts, in white where the cell is dark
        for i in range(n):
            for j in range(n):
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize="small",
                        color="white" if share[i, j] > 0.5 else "black")
    accuracy = r.get("accuracy")
    ax.set(xlabel="predicted", ylabel="true class",
           title=f"{r.get('model', '?')} on {r.get('dataset', '?')}, step {r.get('step', '?')}: "
                 + (f"accuracy {100 * accuracy:.2f}% " if isinstance(accuracy, float) else "")
                 + f"({counts.sum()} samples)")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("metrics", nargs="*", help="gq-train --metrics files")
    ap.add_argument("--confusion", metavar="EVAL.json",
                    help="draw the confusion matrix of gq-eval --json output instead")
    ap.add_argument("-o", "--out", default=None, help="PNG path (default: first file with .png)")
    args = ap.parse_args()
    if args.confusion:
        if args.metrics:
            ap.error("--confusion draws one gq-eval --json file; plot metrics files separately")
        out = args.out or os.path.splitext(args.confusion)[0] + ".png"
        draw_confusion(args.confusion, out)
        print(f"wrote {out}")
        return
    if not args.metrics:
        ap.error("give gq-train --metrics files, or --confusion EVAL.json")
    out = args.out or os.path.splitext(args.metrics[0])[0] + ".png"
    runs = [(label, *read(p)) for label, p in zip(labels(args.metrics), args.metrics)]
    has_gq = any(isinstance(r.get("gradqueue"), dict) for _, train, _ in runs for r in train)
    fig, axes = plt.subplots(2, 3 if has_gq else 2, figsize=(16 if has_gq else 11, 8),
                             squeeze=False)
    ax_loss, ax_acc, ax_lr = axes[0][0], axes[0][1], axes[1][0]
    for label, train, evals in runs:
        draw_losses(ax_loss, label, train, evals)
        draw_accuracies(ax_acc, label, evals)
        ax_lr.plot(*series(train, "lr"), label=label)
        if has_gq:
            draw_gradqueue(axes[0][2], axes[1][2], label, train)
    ax_loss.set(xlabel="step", ylabel="loss", title="loss")
    ax_acc.set(xlabel="step", ylabel="accuracy (%)", title="accuracy")
    ax_lr.set(xlabel="step", ylabel="learning rate", title="learning rate")
    if has_gq:
        axes[0][2].set(xlabel="step", ylabel="entries", title="Grad Queue: queue length")
        axes[1][2].set(xlabel="step", title="Grad Queue: scarcity weights and direction")
    axes[1][1].axis("off")
    for ax in (a for row in axes for a in row):
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
