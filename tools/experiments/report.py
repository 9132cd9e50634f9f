#!/usr/bin/python3
"""Turns a finished (or partly finished) sweep into a markdown report with tables and PNG plots.

Usage: tools/experiments/report.py SPEC.toml [--runs-dir runs] [--out docs/RESULTS.md]
                                   [--fig-dir DIR] [--title TEXT]

Reads RUNS/<spec name>/<cell>/metrics.jsonl for every cell the spec expands to (only cells with a
`done` marker), and writes one table per [[grid]] block: final test accuracy and test loss, mean ±
sample std over seeds, per dataset, model, optimizer, batch size and method, with the difference
to the plain method of the same row group. Plots (matplotlib, Agg) go to --fig-dir (default:
<out dir>/results/<spec name>/): test accuracy against batch size per method, training-loss curves,
and the queue length and mean Δ over training for the Grad Queue methods. Every number comes from
the metrics files; nothing in the tables depends on wall time, so the same seeds give the same
report.
"""
import argparse
import glob
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gqspec  # noqa: E402
from gqspec import counts_text, mean_by_step, mean_std, pm, pooled_std, verdict  # noqa: E402

import target_report  # noqa: E402
from target_report import finish_axes, plt, save_figure  # noqa: E402

BARELY_TRAINED = 0.25  # plain rows below this test accuracy are flagged in the findings


def load_cell(folder):
    if not gqspec.cell_complete(folder):
        return None
    train, evals = gqspec.read_metrics(os.path.join(folder, "metrics.jsonl"))
    with open(os.path.join(folder, "done")) as f:
        done = json.load(f)
    if done.get("status") == "diverged":
        return {"diverged": True, "wall_s": done.get("wall_s", float("nan"))}
    return {"diverged": False, "train": train, "evals": evals, "acc": evals[-1]["test_accuracy"],
            "loss": evals[-1]["test_loss"], "steps": train[-1]["step"] if train else 0,
            "wall_s": done.get("wall_s", float("nan")), "day": done.get("finished", "")[:10]}


def mean_curve(runs, key):
    """Mean over seeds of a per-step series of the train records (steps common to every seed;
    records without the value, or with NaN, left out)."""
    return mean_by_step([{t["step"]: v for t in r["train"] for v in (key(t),)
                          if v is not None and not (isinstance(v, float) and math.isnan(v))}
                         for r in runs])


def gq(key):
    return lambda t: t.get("gradqueue", {}).get(key)


def compare(g, base):
    """Mean accuracy of row g minus that of row base, and a verdict against the seed noise."""
    if not base or not g["runs"] or not base["runs"]:
        return None
    am, asd = mean_std([r["acc"] for r in g["runs"]])
    bm, bsd = mean_std([r["acc"] for r in base["runs"]])
    d = am - bm
    # A row with a diverged seed averages only its survivors: no verdict, it would flatter the row.
    if math.isnan(asd) or math.isnan(bsd) or g.get("diverged") or base.get("diverged"):
        return {"d": d, "pooled": float("nan"), "verdict": None}
    pooled = pooled_std(asd, bsd)
    return {"d": d, "pooled": pooled, "verdict": verdict(d, pooled)}


def delta_text(c):
    return "—" if c is None else f"{100 * c['d']:+.2f}"


def block_flags_text(block):
    return "".join(f", {k} {v}" for k, v in block["flags"].items())


def where_label(lb):
    return f"{lb['task']}, {lb['optimizer']}, b{lb['batch']}, {lb['method']}"


def where(f):
    return f"{f['task']}, {f['opt']}, b{f['batch']}, {f['method']}"


def mean(xs):
    return sum(xs) / len(xs) if xs else float("nan")


def mean_d(fs, key="d"):
    return mean([f[key] for f in fs])


def overall_lines(distinct):
    """The answer over every distinct Grad Queue row: counts, mean Δ and the verdict they give."""
    better = sum(f["verdict"] == "better" for f in distinct)
    worse = sum(f["verdict"] == "worse" for f in distinct)
    md = mean_d(distinct)
    L = [f"**Overall**: of {len(distinct)} distinct Grad Queue rows, {counts_text(distinct)} "
         f"than plain training with the same base optimizer, batch size, learning rate and "
         f"seeds; the mean Δ over all of them is {100 * md:+.2f} points.", ""]
    if better <= worse and md <= 0:
        L.append("**On these budgets Grad Queue does not beat plain mini-batch training**: it is "
                 "worse beyond the seed noise at least as often as it is better, and worse on "
                 "average.")
    elif better > worse and md > 0:
        L.append("**On these budgets Grad Queue beats plain mini-batch training more often than it "
                 "loses**, and is better on average.")
    else:
        L.append("**On these budgets the evidence is mixed**: the count of better and worse rows "
                 "and the mean Δ point in different directions.")
    return L + [""]


def notable_lines(distinct):
    """The rows beyond the noise either way, and the counts by base optimizer and by task."""
    better = sorted((f for f in distinct if f["verdict"] == "better"), key=lambda f: -f["d"])
    worse = sorted((f for f in distinct if f["verdict"] == "worse"), key=lambda f: f["d"])
    rows = lambda fs: "; ".join(f"{where(f)} ({100 * f['d']:+.2f})" for f in fs)  # noqa: E731
    L = [f"- Better than plain beyond the noise ({len(better)}): {rows(better)}." if better else
         "- No Grad Queue configuration beat plain training by more than the seed noise."]
    if worse:
        L.append(f"- Worse than plain beyond the noise ({len(worse)}): {rows(worse)}.")
    for title, key in (("base optimizer", "opt"), ("task", "task")):
        parts = {}
        for f in distinct:
            parts.setdefault(f[key], []).append(f)
        L.append(f"- By {title}: " + "; ".join(
            f"`{name}`: {counts_text(fs)}, mean Δ {100 * mean_d(fs):+.2f} points"
            for name, fs in parts.items()) + ".")
    return L


def caveat_lines(summaries, diverged_rows):
    """Rows where plain barely trained, and runs that diverged: what the counts above rest on."""
    untrained = []
    for block, groups in summaries:
        for (task, opt, bs, meth), g in groups.items():
            if meth == "plain" and g["runs"]:
                m = mean([r["acc"] for r in g["runs"]])
                if m < BARELY_TRAINED:
                    untrained.append(f"{task}, {opt}, b{bs}{block_flags_text(block)} "
                                     f"({100 * m:.1f}%)")
    L = []
    if untrained:
        L.append(f"- Rows where plain training stayed below {100 * BARELY_TRAINED:.0f}% test accuracy "
                 f"(too few steps or too high a learning rate for that batch size; Grad Queue is "
                 f"then compared with a barely trained model, and differences there say little): "
                 + "; ".join(dict.fromkeys(untrained)) + ".")
    if diverged_rows:
        L.append("- Runs that diverged (gq-train stopped on a non-finite loss or gradient; left out "
                 "of their row's mean, counted in its n column; their rows and the rows compared "
                 "with them get no verdict): "
                 + "; ".join(f"{row} (seed {', '.join(map(str, seeds))})"
                             for row, seeds in diverged_rows) + ".")
    return L + [""]


def margin_trend_lines(fs, bss):
    """The paper's claim: the margin over plain grows with the batch size."""
    trend = []
    for key in dict.fromkeys((f["task"], f["opt"], f["method"]) for f in fs):
        pts = sorted((f["batch"], f["d"]) for f in fs if (f["task"], f["opt"], f["method"]) == key)
        if len(pts) >= 2:
            trend.append(pts[-1][1] > pts[0][1])
    if not trend:
        return []
    lo, hi = ([f for f in fs if f["batch"] == b] for b in (bss[0], bss[-1]))
    return [f"- Does the margin over plain grow with the batch size? It is larger at "
            f"b{bss[-1]} than at b{bss[0]} in {sum(trend)} of {len(trend)} (task, "
            f"optimizer, method) series; the mean Δ goes from "
            f"{100 * mean_d(lo):+.2f} (mean pooled seed std "
            f"{100 * mean_d(lo, 'pooled'):.2f}) at b{bss[0]} to "
            f"{100 * mean_d(hi):+.2f} (std "
            f"{100 * mean_d(hi, 'pooled'):.2f}) at b{bss[-1]}."]


def mean_delta_table(block, gq_methods, fs):
    """Mean Δ over tasks per (optimizer, method) and batch size."""
    bss = block["batch_sizes"]
    L = ["", "Mean Δ acc vs plain (points), averaged over the block's tasks:", "",
         "| optimizer | method | " + " | ".join(f"b{b}" for b in bss) + " |",
         "|---|---|" + "---:|" * len(bss)]
    for opt in block["optimizers"]:
        for m in gq_methods:
            row = []
            for bs in bss:
                ds = [f for f in fs if (f["opt"], f["method"], f["batch"]) == (opt, m, bs)]
                row.append(f"{100 * mean_d(ds):+.2f}" if ds else "—")
            L.append(f"| {opt} | {m} | " + " | ".join(row) + " |")
    return L + [""]


def best_k_lines(spec, gq_methods, fs, bss):
    """Do larger batches want more clusters: the k with the best mean Δ at each batch size, its
    lead over the next k, and whether that lead exceeds the seed noise."""
    ks = {m: spec["methods"][m].get("gq-clusters") for m in gq_methods}
    if len(set(ks.values()) - {None}) <= 1:
        return []
    best_k = []  # (batch, k, mean Δ, margin over the next k, typical noise)
    for bs in bss:
        cand = [(mean_d([f for f in fs if (f["method"], f["batch"]) == (m, bs)]), m)
                for m in gq_methods if ks[m] is not None]
        cand = sorted((c for c in cand if not math.isnan(c[0])), reverse=True)
        if len(cand) > 1:
            noise = mean_d([f for f in fs if f["batch"] == bs], "pooled")
            best_k.append((bs, ks[cand[0][1]], cand[0][0], cand[0][0] - cand[1][0], noise))
    grows = (len(best_k) > 1 and all(a[1] <= b[1] for a, b in zip(best_k, best_k[1:]))
             and best_k[-1][1] > best_k[0][1])
    clear = [b for b in best_k if b[3] > b[4]]
    return ["- Do larger batches want more clusters? The k with the best mean Δ over "
            "tasks and optimizers (its lead over the next k; the mean pooled seed std "
            "of the rows): " + ", ".join(
                f"b{b}: k = {k} ({100 * d:+.2f}; lead {100 * lead:.2f}, noise "
                f"{100 * noise:.2f})" for b, k, d, lead, noise in best_k)
            + (" — it grows with the batch size" if grows
               else " — it does not grow with the batch size here")
            + (", but no lead exceeds the seed noise." if not clear else
               f"; the lead exceeds the noise at {len(clear)} of {len(best_k)} batch sizes.")]


def compare_to_lines(block, groups, ref):
    """A block's ablations: each method's Δ against `compare_to` (which part matters)."""
    L = [f"- Against `{ref}` (which part matters):"]
    verdicts = []
    for m in block["methods"]:
        if m in ("plain", ref):
            continue
        cs = [compare(g, groups.get((t, o, b, ref))) for (t, o, b, mm), g in groups.items() if mm == m]
        cs = [c for c in cs if c and c["verdict"]]
        verdicts += [c["verdict"] for c in cs]
        if cs:
            L.append(f"  - `{m}`: {100 * mean_d(cs):+.2f} points"
                     + (f" ({cs[0]['verdict']})" if len(cs) == 1 else f" ({counts_text(cs)})"))
    if verdicts and all(v == "within noise" for v in verdicts):
        L.append(f"  - No variant differs from `{ref}` by more than the seed noise: at this "
                 "budget none of these parts can be shown to matter.")
    return L


def block_findings(spec, block, groups, judged):
    """A block's findings: against plain, and with more than one batch size the trends in it."""
    fs = [f for f in judged if f["block"] == block["name"]]
    if not fs:
        return []
    best = max(fs, key=lambda f: f["d"])
    worst = min(fs, key=lambda f: f["d"])
    L = [f"### {block['name']}", "",
         f"- Against plain: of {len(fs)} Grad Queue rows, {counts_text(fs)}; mean Δ "
         f"{100 * mean_d(fs):+.2f} points. Best row {100 * best['d']:+.2f} "
         f"({where(best)}); worst row {100 * worst['d']:+.2f} ({where(worst)})."]
    bss = block["batch_sizes"]
    gq_methods = [m for m in block["methods"] if spec["methods"][m].get("gradqueue")]
    if len(bss) > 1:
        L += margin_trend_lines(fs, bss)
        L += mean_delta_table(block, gq_methods, fs)
        L += best_k_lines(spec, gq_methods, fs, bss)
    if block["compare_to"]:
        L += compare_to_lines(block, groups, block["compare_to"])
    return L + [""]


def summary(spec, summaries, findings, diverged_rows):
    """The generated 'What the numbers show' section: counts, trends and the answers to the
    questions the sweep asks (does Grad Queue beat plain; does its margin grow with the batch size;
    does the best k grow with it; which ablated part matters)."""
    L = ["## What the numbers show", "",
         "Generated from the tables above. A row is *better* (*worse*) than another when its mean "
         "accuracy differs by more than the pooled sample standard deviation of the two rows, else "
         "*within noise*; rows need ≥ 2 seeds, none of them diverged, to get a verdict (and only "
         "rows with a verdict are counted below). With 3 seeds and short budgets a single row is "
         "weak evidence; the counts and trends say more.", ""]
    judged = [f for f in findings if f["verdict"]]
    if not judged:
        return L + ["No comparison with plain could be made (no finished pairs with ≥ 2 seeds).", ""]
    distinct = list({f["cells"]: f for f in judged}.values())  # rows shared by blocks once
    L += overall_lines(distinct) + notable_lines(distinct) + caveat_lines(summaries, diverged_rows)
    for block, groups in summaries:
        L += block_findings(spec, block, groups, judged)
    return L


def slug(*parts):
    return "_".join(str(p).replace(" ", "-").replace("/", "-").replace(":", "") for p in parts)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("spec")
    ap.add_argument("--runs-dir", default=None,
                    help="root of the run folders (default: the spec's runs_dir, else <repo>/runs)")
    ap.add_argument("--out", default=os.path.join(gqspec.REPO, "docs", "RESULTS.md"))
    ap.add_argument("--fig-dir", default=None)
    ap.add_argument("--title", default=None)
    return ap.parse_args()


def load_spec(path, runs_dir):
    """The spec and its run folder; tuned blocks need the run folder to know the cells at their
    chosen lr, so the spec is loaded again with it."""
    try:
        spec = gqspec.load(path)
        root = gqspec.runs_root(spec, runs_dir)
        return gqspec.load(path, runs=root), root
    except gqspec.SpecError as e:
        gqspec.die(str(e))


def header(spec, a, results):
    """The title, the description and the list of what the report rests on."""
    target = spec.get("report", {}).get("mode") == "target"
    n_done = sum(r is not None for r in results.values())
    n_diverged = sum(bool(r and r["diverged"]) for r in results.values())
    spec_path = os.path.relpath(os.path.abspath(a.spec), gqspec.REPO)
    L = [f"# {a.title or 'Results: sweep `' + spec['name'] + '`'}", "",
         "Generated by `tools/experiments/report.py` from the metrics of every cell; no number "
         "below is typed by hand. Regenerate with the commands under *How these numbers were "
         "produced*.", ""]
    if spec["description"]:
        L += [spec["description"].strip(), ""]
    if target:
        L.append(f"- Spec: `{spec_path}` (the cells of a tuned group at its chosen lr exist once its "
                 "tuning runs are done; the count above includes them).")
    else:
        L.append(f"- Spec: `{spec_path}` — {len(spec['cells'])} cells, **{n_done} finished**"
                 + (f" ({n_diverged} of them diverged)" if n_diverged else "")
                 + ("" if n_done == len(spec["cells"]) else f" ({len(spec['cells']) - n_done} missing: "
                    "their rows show fewer seeds or —)") + ".")
    if spec["estimate"]:
        L.append(f"- Size (estimated before running): {spec['estimate'].strip()}")
    walls = [r["wall_s"] for r in results.values() if r]
    if walls:
        tw = sum(walls)
        L.append(f"- Measured: the finished cells took {int(tw // 3600)} h {int(tw % 3600 // 60):02d} min "
                 f"of wall time in all (sum over cells; mean {tw / len(walls):.1f} s per cell).")
    L.append(("- Learning-rate policy (each tuned group runs at its chosen multiple of it): " if target
              else "- Learning rate, the same for every method of a row group: ")
             + f"{gqspec.lr_policy_text(spec)} (b = batch size). Shared flags: "
             + ", ".join(f"`--{k} {v}`" for k, v in spec["defaults"].items()) + ".")
    if not target:
        L.append("- Tables: final test accuracy (%) and test loss after the last epoch (or the step "
                 "budget), mean ± sample standard deviation over seeds (n = seeds finished). "
                 "Δ acc = mean accuracy minus that of `plain` in the same dataset/optimizer/batch group.")
    return L + [""]


def provenance(a, root):
    """How these numbers were produced: the sweeps (sweep.json), this report's command, and the
    last reproducibility check (verify.json)."""
    history = gqspec.read_json(os.path.join(root, "sweep.json"), [])
    L = ["## How these numbers were produced", ""]
    if history:
        L += ["Sweep invocations, in the order they started (each skips the cells already done):", "",
              "```sh"]
        for h in history:
            # Sweeps record their cell count after each cell; older ones only when they ended.
            ran = (f"{h['cells_run']} cells run" if h.get("wall_s") is not None
                   else "no cell finished yet (running, or killed)")
            if h.get("stopped_by"):
                ran += f", stopped by signal {h['stopped_by']} (its cell resumes)"
            L.append(f"{gqspec.portable_command(h['command'])}    # commit {h['commit']}, "
                     f"{h.get('cpus', '?')} CPUs, {ran}")
        L += ["```", "", "(`$DATA`: the data folder the sweep read; `$BIN`: a copy of gq-train kept "
              "outside the repository.)"]
    else:
        L.append("(no sweep.json found: the run folders were not made by sweep.py)")
    L += ["", "Report:", "", "```sh",
          gqspec.command_line("tools/experiments/report.py", a.spec), "```", "",
          "Each cell's exact gq-train command is in `" + os.path.relpath(root, gqspec.REPO)
          + "/<cell>/command.sh`.", ""]
    verified = gqspec.read_json(os.path.join(root, "verify.json"), None)
    if verified is not None:
        v = verified[-1]
        same = [c for c in v["cells"] if c["identical"]]
        L += [f"Reproducibility check ({v['date'][:10]}, commit {v['commit'][:12]}): "
              f"`{gqspec.portable_command(v['command'])}` reran {len(v['cells'])} finished cells from scratch; "
              f"**{len(same)} of {len(v['cells'])}** gave metrics identical to the stored runs "
              "(every field but images/s): " + "; ".join(
                  f"{c['cell']} ({'identical' if c['identical'] else 'DIFFERENT'})"
                  for c in v["cells"]) + ".", ""]
    return L


def group_rows(block, results):
    """A block's rows: (task, opt, batch, method) -> the label, finished runs, diverged seeds, the
    number of seeds asked for and the cells."""
    groups = {}
    for cid, lb in block["rows"]:
        key = (lb["task"], lb["optimizer"], lb["batch"], lb["method"])
        g = groups.setdefault(key, {"label": lb, "runs": [], "want": 0, "cells": []})
        g["want"] += 1
        g["cells"].append(cid)
        if results[cid] and results[cid]["diverged"]:
            g.setdefault("diverged", []).append(lb["seed"])
        elif results[cid]:
            g["runs"].append(results[cid])
    return groups


def table_row(block, groups, key, findings, diverged_rows):
    """One row of a block's table; a Grad Queue row's comparison with plain goes to `findings`, a
    row with diverged seeds to `diverged_rows`."""
    task, opt, bs, meth = key
    g, ref = groups[key], block["compare_to"]
    lb = g["label"]
    am, asd = mean_std([r["acc"] for r in g["runs"]])
    lm, lsd = mean_std([r["loss"] for r in g["runs"]])
    d_plain = compare(g, groups.get((task, opt, bs, "plain")))
    if d_plain and lb["gradqueue"]:  # Grad Queue against plain (not, e.g., plain in bf16)
        findings.append({"block": block["name"], "task": task, "opt": opt, "batch": bs,
                         "method": meth, "cells": frozenset(g["cells"]), **d_plain})
    cols = [delta_text(d_plain) if meth != "plain" else "—"]
    if ref:
        cols.append(delta_text(compare(g, groups.get((task, opt, bs, ref)))) if meth != ref else "—")
    steps = sorted({r["steps"] for r in g["runs"]})
    got = len(g["runs"]) + len(g.get("diverged", []))
    n = f"{len(g['runs'])}" + ("" if got == g["want"] else f"/{g['want']}")
    if g.get("diverged"):
        n += f" (+{len(g['diverged'])} diverged)"
        diverged_rows.append((where_label(lb), g["diverged"]))
    return (f"| {lb['dataset']} | {lb['model']} | {opt} | {bs} | {meth} | {n} | "
            f"{pm(am, asd, 100)} | {' | '.join(cols)} | {pm(lm, lsd, 1, 4)} | "
            f"{'/'.join(map(str, steps)) or '—'} |")


def block_table(block, groups, findings, diverged_rows):
    L = [f"## {block['name']}", ""]
    if block["note"]:
        L += [block["note"].strip(), ""]
    if block["flags"]:
        L += ["Block flags (on top of the task's): "
              + ", ".join(f"`--{k} {v}`" for k, v in block["flags"].items()) + ".", ""]
    head = "| dataset | model | optimizer | batch | method | n | test acc % | Δ acc vs plain |"
    rule = "|---|---|---|---:|---|---:|---:|---:|"
    if block["compare_to"]:
        head += f" Δ acc vs {block['compare_to']} |"
        rule += "---:|"
    L += [head + " test loss | steps |", rule + "---:|---:|"]
    L += [table_row(block, groups, key, findings, diverged_rows) for key in groups]
    return L + [""]


def plot_acc_vs_batch(block, groups, task, color, fig_dir):
    """Test accuracy against the batch size, one line per method, one panel per optimizer."""
    fig, axes = plt.subplots(1, len(block["optimizers"]), squeeze=False,
                             figsize=(5 * len(block["optimizers"]), 3.6))
    for ax, opt in zip(axes[0], block["optimizers"]):
        for meth in block["methods"]:
            xs, ms, ss = [], [], []
            for bs in block["batch_sizes"]:
                g = groups.get((task, opt, bs, meth))
                if g and g["runs"]:
                    m, s = mean_std([r["acc"] for r in g["runs"]])
                    xs.append(bs), ms.append(100 * m), ss.append(0 if math.isnan(s) else 100 * s)
            if xs:
                ax.errorbar(xs, ms, yerr=ss, marker="o", capsize=3, label=meth, color=color[meth])
        ax.set_xscale("log", base=2)
        ax.set_xlabel("batch size")
        ax.set_ylabel("test accuracy %")
        ax.set_title(f"{task} / {opt}")
        finish_axes(ax, legend_size=7)
    name = save_figure(fig, fig_dir, slug("acc-vs-batch", block["name"], task) + ".png", dpi=90)
    return f"{task}: test accuracy vs batch size", name


def plot_curves(block, groups, task, opt, color, fig_dir):
    """Per batch size, the training loss and (for Grad Queue) qlen and mean Δ over training."""
    bss = block["batch_sizes"]
    fig, axes = plt.subplots(3, len(bss), squeeze=False, figsize=(4 * len(bss), 8))
    any_gq = False
    for j, bs in enumerate(bss):
        for meth in block["methods"]:
            g = groups.get((task, opt, bs, meth))
            if not g or not g["runs"]:
                continue
            axes[0][j].plot(*mean_curve(g["runs"], lambda t: t.get("loss")), label=meth, color=color[meth])
            if g["label"]["gradqueue"]:
                any_gq = True
                axes[1][j].plot(*mean_curve(g["runs"], gq("qlen")), label=meth, color=color[meth])
                axes[2][j].plot(*mean_curve(g["runs"], gq("mean_delta")), label=meth, color=color[meth])
        axes[0][j].set_title(f"{task} / {opt} / b{bs}", fontsize=9)
        for i, yl in enumerate(("train loss", "qlen", "mean Δ")):
            axes[i][j].set_ylabel(yl)
            axes[i][j].set_xlabel("step")
            finish_axes(axes[i][j])
    if not any_gq:
        for j in range(len(bss)):
            axes[1][j].set_visible(False), axes[2][j].set_visible(False)
    name = save_figure(fig, fig_dir, slug("curves", block["name"], task, opt) + ".png")
    return f"{task} / {opt}: training loss, qlen and mean Δ (mean over seeds)", name


def block_figures(block, groups, fig_dir, out_dir):
    """A block's PNGs and the lines that show them; every method keeps its colour."""
    figs = []
    color = {m: f"C{i % 10}" for i, m in enumerate(block["methods"])}
    for task in block["tasks"]:
        if len(block["batch_sizes"]) > 1:
            figs.append(plot_acc_vs_batch(block, groups, task, color, fig_dir))
        figs += [plot_curves(block, groups, task, opt, color, fig_dir) for opt in block["optimizers"]]
    L = []
    for caption, name in figs:
        L += [f"![{caption}]({os.path.relpath(os.path.join(fig_dir, name), out_dir)})", ""]
    return L


def sweep_sections(spec, results, fig_dir, out_dir):
    """The Δ-accuracy report: per block its table and plots, then what the numbers show."""
    findings = []  # one per Grad Queue row with a plain row to compare to
    diverged_rows = []  # (row, seeds whose run stopped on a non-finite loss)
    summaries = []  # (block, groups) for the summary section
    L = []
    for block in spec["blocks"]:
        groups = group_rows(block, results)
        summaries.append((block, groups))
        L += block_table(block, groups, findings, diverged_rows)
        L += block_figures(block, groups, fig_dir, out_dir)
    return L + summary(spec, summaries, findings, diverged_rows)


def main():
    a = parse_args()
    spec, root = load_spec(a.spec, a.runs_dir)
    out = os.path.abspath(a.out)
    out_dir = os.path.dirname(out)
    fig_dir = os.path.abspath(a.fig_dir or os.path.join(out_dir, "results", spec["name"]))
    os.makedirs(fig_dir, exist_ok=True)
    for stale in glob.glob(os.path.join(fig_dir, "*.png")):  # the last report's: drop a figure
        os.remove(stale)                                       # this one no longer draws
    os.makedirs(out_dir, exist_ok=True)
    results = {cid: load_cell(os.path.join(root, cid)) for cid in spec["cells"]}
    L = header(spec, a, results) + provenance(a, root)
    if spec.get("report", {}).get("mode") == "target":
        # A tuned steps-to-target study (specs/scale.toml): its own tables, plots and answers.
        target_report.write(spec, root, results, L, fig_dir, out_dir)
    else:
        L += sweep_sections(spec, results, fig_dir, out_dir)
    with open(out, "w") as f:
        f.write("\n".join(L))
    n_done = sum(r is not None for r in results.values())
    print(f"wrote {out} ({n_done}/{len(spec['cells'])} cells) and {len(os.listdir(fig_dir))} PNGs in {fig_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
