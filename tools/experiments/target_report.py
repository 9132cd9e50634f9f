"""The steps-to-target report of a tuned study (a spec with `[report] mode = "target"`, e.g.
specs/scale.toml): every (task, batch, optimizer, method) group is tuned on its own (lr_grid), and
the report asks how many steps each arm needs to reach a task's target test accuracy, what it ends
at, what it costs in wall time, and answers the study's questions by stated rules. report.py calls
write(); every number comes from the metrics files.
"""
import json
import math
import os

from gqspec import (counts_text, mean_by_step, mean_std, pm, pooled_std, portable_command, read_json,
                    verdict)

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def steps_to(run, acc):
    """The step of the first evaluation whose test accuracy is at least `acc` (None: never)."""
    if run is None or run["diverged"]:
        return None
    for e in run["evals"]:
        if e["test_accuracy"] >= acc - 1e-12:
            return e["step"]
    return None


def reach_stats(runs, acc):
    """(mean, std, reached, n) of the steps to `acc` over the runs that reached it."""
    st = [steps_to(r, acc) for r in runs]
    got = [s for s in st if s is not None]
    m, s = mean_std(got)
    return m, s, len(got), len(runs)


def reach_text(m, s, k, n):
    if n == 0:
        return "—"
    if k == 0:
        return f"not reached (0/{n})"
    return pm(m, s, 1, 0) + ("" if k == n else f" ({k}/{n} reached)")


def train_s_per_step(run, batch):
    """Training seconds per step from the train records' images/s (gq-train leaves evaluation time
    out of it), so arms compare at equal steps without start-up and evaluation."""
    prev, secs = 0, 0.0
    for t in run["train"]:
        if t.get("images_per_s"):
            secs += (t["step"] - prev) * batch / t["images_per_s"]
        prev = t["step"]
    return secs / prev if prev else float("nan")


def arm(opt, meth):
    return f"{opt} {meth}"


def collect(spec, results):
    """groups[(task, batch, opt, meth)] = {label, runs (finished, final stage), diverged seeds,
    want (seeds asked), tuning: {mult: [val acc]}, choice, grid}."""
    groups = {}
    for block in spec["blocks"]:
        for key, t in block["tuning"].items():
            task, opt, bs, meth = key
            g = groups.setdefault((task, bs, opt, meth), {
                "runs": [], "diverged": [], "want": len(block["seeds"]), "tuning": {},
                "tune_ids": [], "choice": t["choice"], "grid": block["lr_grid"], "final_ids": [],
                "gradqueue": bool(spec["methods"][meth].get("gradqueue")), "label": None})
            for mult, cid in t["cells"]:
                g["tune_ids"].append(cid)
                r = results.get(cid)
                if r is None:
                    continue
                acc = 0.0 if r["diverged"] or "val_accuracy" not in r["evals"][-1] \
                    else r["evals"][-1]["val_accuracy"]
                g["tuning"].setdefault(mult, []).append(acc)
        for cid, lb in block["rows"]:
            g = groups[(lb["task"], lb["batch"], lb["optimizer"], lb["method"])]
            g["label"] = lb
            g["final_ids"].append(cid)
            r = results.get(cid)
            if r is None:
                continue
            if r["diverged"]:
                g["diverged"].append(lb["seed"])
            else:
                g["runs"].append(r)
    return groups


def complete(g):
    return len(g["runs"]) + len(g["diverged"]) == g["want"] and g["want"] > 0


def targets(spec, groups):
    """{task: (target or None, how)}: a fixed `target`, or `target_from` a baseline row (its mean
    final test accuracy minus `minus`, once all its seeds finished)."""
    out = {}
    for task, t in spec["tasks"].items():
        if "target" in t:
            out[task] = (float(t["target"]), f"fixed at {100 * float(t['target']):.2f}%")
        elif "target_from" in t:
            tf = t["target_from"]
            g = groups.get((task, tf["batch"], tf["optimizer"], tf["method"]))
            minus = float(tf.get("minus", 0.0))
            row = f"`{arm(tf['optimizer'], tf['method'])}` at batch {tf['batch']}"
            if g and complete(g) and g["runs"]:
                m, s = mean_std([r["acc"] for r in g["runs"]])
                out[task] = (m - minus, f"{row}: final test accuracy {pm(m, s, 100)}% "
                                        f"(n = {len(g['runs'])}) minus {100 * minus:.2f} points")
            else:
                out[task] = (None, f"{row} minus {100 * minus:.2f} points (pending: that row is not finished)")
        else:
            out[task] = (None, "none set")
    return out


def acc_compare(g, base):
    """Δ final test accuracy of g vs base and the pooled seed std (both complete, ≥ 2 seeds each,
    none diverged), else None."""
    if not (g and base and complete(g) and complete(base)) or g["diverged"] or base["diverged"]:
        return None
    am, asd = mean_std([r["acc"] for r in g["runs"]])
    bm, bsd = mean_std([r["acc"] for r in base["runs"]])
    if math.isnan(asd) or math.isnan(bsd):
        return None
    pooled = pooled_std(asd, bsd)
    return {"d": am - bm, "pooled": pooled, "verdict": verdict(am - bm, pooled)}


def claim_verdict(cs):
    """supports: more than half of the judged rows better; contradicts: more than half worse, or
    none better and at least one worse; else cannot decide (the differences are within the noise)."""
    if not cs:
        return "cannot decide (no finished pair yet)"
    b = sum(c["verdict"] == "better" for c in cs)
    w = sum(c["verdict"] == "worse" for c in cs)
    if b * 2 > len(cs):
        return "supports"
    if w * 2 > len(cs) or (b == 0 and w > 0):
        return "contradicts"
    return "cannot decide"


# Figure helpers, also report.py's.
def finish_axes(ax, legend_size=6):
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=legend_size)


def save_figure(fig, fig_dir, name, dpi=80):
    fig.tight_layout()
    fig.savefig(os.path.join(fig_dir, name), dpi=dpi)
    plt.close(fig)
    return name



def study_size(spec, root, groups, results):
    """What the study has cost so far: cells finished of those it will have (every tuned group has
    its tuning cells and `want` final cells, whether or not the final cells exist yet: they exist
    once the tuning is done), wall time per task, and the wall times of finished cells that the
    spec no longer has (a spec edit dropped them, e.g. a moved lr grid, or their group's tuning is
    being redone and they may come back): they cost time too."""
    want = len({c for g in groups.values() for c in g["tune_ids"]}) + sum(g["want"] for g in groups.values())
    done = sum(results.get(c) is not None for g in groups.values() for c in g["tune_ids"] + g["final_ids"])
    walls = {}  # task -> wall time of each finished cell (tuning and final)
    for (task, _, _, _), g in groups.items():
        for c in g["tune_ids"] + g["final_ids"]:
            r = results.get(c)
            if r is not None:
                walls.setdefault(task, []).append(r["wall_s"])
    dropped = []
    for c in sorted(os.listdir(root)):
        if c not in spec["cells"] and os.path.isfile(os.path.join(root, c, "done")):
            with open(os.path.join(root, c, "done")) as f:
                dropped.append(json.load(f).get("wall_s", 0.0))
    return {"want": want, "done": done, "walls": walls, "dropped": dropped,
            "total": sum(w for ws in walls.values() for w in ws)}


def size_lines(size):
    """The lines under the title: complete or not, and the compute spent."""
    done, want, dropped = size["done"], size["want"], size["dropped"]
    return [f"**{'Complete' if done == want else 'Incomplete'}: {done} of {want} cells finished**"
            + ("" if done == want else " — tables show what ran; rows with fewer seeds or — are "
               "still to run, and the answers below are provisional") + ".",
            f"Compute so far: {size['total'] / 3600:.2f} h of wall time summed over the finished cells "
            f"(tuning and final runs, one core each)"
            + (f", plus {sum(dropped) / 3600:.2f} h in {len(dropped)} finished cell(s) that a later "
               f"edit of the spec dropped or has not yet taken back (their folders stay in the results)"
               if dropped else "")
            + ".", ""]


def targets_section(spec, tasks, tg):
    L = ["## Targets and method", "",
         "Each (task, batch size, optimizer, method) group gets its own learning rate: one "
         "tuning run per multiplier of the optimizer's lr policy (the same grid and number of "
         "tuning runs for every group), scored by the final accuracy on a validation slice held "
         "out of the training set (never the test set); then the seeds at the chosen value. "
         "Steps to target = the step of the first evaluation whose test accuracy reaches the "
         "task's target (resolution: the task's `--eval-every`); mean ± sample std over the "
         "seeds that reached it, with how many did.", ""]
    for task in tasks:
        t, how = tg[task]
        sc = spec["tasks"][task].get("lr_scale", {})
        L.append(f"- `{task}`: target {'%.2f%%' % (100 * t) if t is not None else 'pending'} ({how})."
                 + (" Learning-rate policy × " + ", ".join(f"{v:g} for `{o}`" for o, v in sc.items())
                    + " on this task (the grid centred on its good values)." if sc else ""))
    return L + [""]


def spec_order(spec, with_batch=True):
    """Sort key of group keys (task, batch, opt, meth): by batch, then as the spec lists them."""
    opts, meths = list(spec["optimizers"]), list(spec["methods"])
    if with_batch:
        return lambda k: (k[1], opts.index(k[2]), meths.index(k[3]))
    return lambda k: (opts.index(k[2]), meths.index(k[3]))


def lr_text(g, row, edges):
    """The chosen lr (× the policy), marked and listed in `edges` when at an edge of the grid; or
    the tuning's progress."""
    if not g["choice"]:
        return f"tuning ({sum(len(v) for v in g['tuning'].values())}/{len(g['tune_ids'])})"
    mult = g["choice"][0]
    lr = g["label"]["lr"] if g["label"] else float("nan")
    edge = ""
    if mult == min(g["grid"]):
        edge = " (low edge)"
    elif mult == max(g["grid"]):
        edge = " (high edge)"
    if edge:
        edges.append(f"{row}{edge.replace('(', '').replace(')', '')}")
    return f"{lr:g} (×{mult:g}){edge}"


def cost_ratio(g, base, bs, row, other_day):
    """Training seconds per step, and its ratio to plain Nesterov's at the same batch size; a ratio
    whose rows were timed on other days (under another machine load) is marked † and listed."""
    sps = mean_std([train_s_per_step(r, bs) for r in g["runs"]])[0]
    bsps = mean_std([train_s_per_step(r, bs) for r in base["runs"]])[0] if base else float("nan")
    ratio = "—" if math.isnan(sps) or math.isnan(bsps) else f"{sps / bsps:.2f}"
    if base and ratio != "—" and {r["day"] for r in g["runs"]} != {r["day"] for r in base["runs"]}:
        ratio += " †"
        other_day.append(row)
    return sps, ratio


def arm_row(groups, key, target, edges, other_day):
    """One row of a task's table."""
    task, bs, opt, meth = key
    g = groups[key]
    row = f"{task} b{bs} {arm(opt, meth)}"
    lrt = lr_text(g, row, edges)
    n = f"{len(g['runs'])}" + ("" if len(g["runs"]) == g["want"] else f"/{g['want']}")
    if g["diverged"]:
        n += f" (+{len(g['diverged'])} diverged)"
    st = reach_text(*reach_stats(g["runs"], target)) if target is not None and g["runs"] else "—"
    am, asd = mean_std([r["acc"] for r in g["runs"]])
    steps = "/".join(map(str, sorted({r["steps"] for r in g["runs"]}))) or "—"
    wm, _ = mean_std([r["wall_s"] for r in g["runs"]])
    sps, ratio = cost_ratio(g, groups.get((task, bs, "nesterov", "plain")), bs, row, other_day)
    return (f"| {bs} | {arm(opt, meth)} | {lrt} | {n} | {st} | {pm(am, asd, 100)} | {steps} | "
            f"{'—' if math.isnan(wm) else f'{wm:.0f}'} | "
            f"{'—' if math.isnan(sps) else f'{1000 * sps:.1f}'} | {ratio} |")


def tuning_table(groups, keys):
    """The mean validation accuracy per multiplier, the chosen one in bold."""
    grid = sorted({m for k in keys for m in groups[k]["grid"]})
    L = ["Tuning (final validation accuracy %, one run per multiplier; **bold** = chosen):", "",
         "| batch | arm | " + " | ".join(f"×{m:g}" for m in grid) + " |",
         "|---:|---|" + "---:|" * len(grid)]
    for key in keys:
        g = groups[key]
        cells = []
        for m in grid:
            v = g["tuning"].get(m)
            txt = "—" if not v else f"{100 * sum(v) / len(v):.2f}"
            if g["choice"] and g["choice"][0] == m:
                txt = f"**{txt}**"
            cells.append(txt)
        L.append(f"| {key[1]} | {arm(key[2], key[3])} | " + " | ".join(cells) + " |")
    return L + [""]


def task_tables(spec, groups, task, target, edges, other_day):
    keys = sorted((k for k in groups if k[0] == task), key=spec_order(spec))
    L = [f"## {task}", "",
         "| batch | arm | lr (× policy) | n | steps to target | final test acc % | steps | "
         "wall s / run | train ms / step | × plain |",
         "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    L += [arm_row(groups, key, target, edges, other_day) for key in keys]
    return L + [""] + tuning_table(groups, keys)


def plot_lr_sensitivity(task, groups, keys, bss, color, fig_dir):
    """Validation accuracy of the tuning runs against the multiplier."""
    fig, axes = plt.subplots(1, len(bss), squeeze=False, figsize=(4.5 * len(bss), 3.6))
    for ax, bs in zip(axes[0], bss):
        for key in keys:
            if key[1] != bs or not groups[key]["tuning"]:
                continue
            tu = groups[key]["tuning"]
            xs = sorted(tu)
            ax.plot(xs, [100 * sum(tu[x]) / len(tu[x]) for x in xs], marker="o",
                    label=arm(key[2], key[3]), color=color[arm(key[2], key[3])])
        ax.set_xscale("log", base=2)
        ax.set_xlabel("lr multiplier (× policy)")
        ax.set_ylabel("final val accuracy %")
        ax.set_title(f"{task} / b{bs}", fontsize=9)
        finish_axes(ax)
    name = save_figure(fig, fig_dir, f"lr-sensitivity_{task}.png")
    return f"{task}: learning-rate sensitivity per arm (tuning runs)", name


def plot_steps_vs_batch(task, target, groups, keys, bss, color, fig_dir):
    """Steps to target against the batch size, per arm, with the seed spread."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for x in color:
        xs, ms, ss, full = [], [], [], []
        for bs in bss:
            g = next((groups[k] for k in keys if k[1] == bs and arm(k[2], k[3]) == x), None)
            if not g or not g["runs"]:
                continue
            m, s, k, n = reach_stats(g["runs"], target)
            if k:
                xs.append(bs), ms.append(m), ss.append(0 if math.isnan(s) else s), full.append(k == n)
        if xs:
            ax.errorbar(xs, ms, yerr=ss, marker="o", capsize=3, label=x, color=color[x])
            part = [(b, m) for b, m, f in zip(xs, ms, full) if not f]
            if part:  # some seeds did not reach the target: an open marker
                ax.plot(*zip(*part), "o", mfc="white", color=color[x])
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch size")
    ax.set_ylabel(f"steps to {100 * target:.2f}% test acc")
    ax.set_title(f"{task}: steps to target (open marker: not every seed reached it)", fontsize=9)
    finish_axes(ax)
    name = save_figure(fig, fig_dir, f"steps-vs-batch_{task}.png")
    return f"{task}: steps to target vs batch size (mean ± std over seeds)", name


def plot_curves(task, target, groups, keys, bss, color, fig_dir):
    """Loss and test-accuracy curves, mean over seeds."""
    fig, axes = plt.subplots(2, len(bss), squeeze=False, figsize=(4.5 * len(bss), 6.5))
    for j, bs in enumerate(bss):
        for key in keys:
            g = groups[key]
            if key[1] != bs or not g["runs"]:
                continue
            x = arm(key[2], key[3])
            axes[0][j].plot(*mean_by_step([{t["step"]: t["loss"] for t in r["train"]} for r in g["runs"]]),
                            label=x, color=color[x], lw=0.8)
            axes[1][j].plot(*mean_by_step([{e["step"]: e["test_accuracy"] for e in r["evals"]}
                                           for r in g["runs"]], 100), label=x, color=color[x], lw=0.8)
        if target is not None:
            axes[1][j].axhline(100 * target, color="k", ls=":", lw=0.8)
        axes[0][j].set_title(f"{task} / b{bs}", fontsize=9)
        axes[0][j].set_ylabel("train loss")
        axes[0][j].set_yscale("log")
        axes[1][j].set_ylabel("test accuracy %")
        for i in (0, 1):
            axes[i][j].set_xlabel("step")
            finish_axes(axes[i][j])
    name = save_figure(fig, fig_dir, f"curves_{task}.png")
    return f"{task}: training loss and test accuracy (mean over seeds; dotted: target)", name


def task_figures(spec, groups, task, target, fig_dir):
    """A task's PNGs, (caption, file name) each; every arm keeps its colour across them."""
    keys = [k for k in groups if k[0] == task]
    bss = sorted({k[1] for k in keys})
    arms = dict.fromkeys(arm(k[2], k[3]) for k in sorted(keys, key=spec_order(spec, with_batch=False)))
    color = {x: f"C{i % 10}" for i, x in enumerate(arms)}
    figs = [plot_lr_sensitivity(task, groups, keys, bss, color, fig_dir)]
    if target is not None:
        figs.append(plot_steps_vs_batch(task, target, groups, keys, bss, color, fig_dir))
    figs.append(plot_curves(task, target, groups, keys, bss, color, fig_dir))
    return figs


def time_section(size, other_day):
    """Where the time goes: wall time summed per task."""
    return ["## Where the time goes", "",
            "Wall time of the finished cells per task (tuning + final runs, one core each): "
            + "; ".join(f"`{t}` {sum(ws) / 3600:.2f} h ({len(ws)} cells)" for t, ws in size["walls"].items())
            + f". Total {size['total'] / 3600:.2f} h. Per arm, the tables give the wall time per run (start-up, "
            "training and evaluations) and the training time per step from gq-train's images/s "
            "(evaluation excluded), relative to plain Nesterov at the same batch size: the cost of "
            "Grad Queue's clustering and queue at equal steps. Measured with one core per run on a "
            "2-core machine that other work (builds, a second sweep) shared, whose load differed "
            "from session to session: compare rows that ran on the same days. † marks a ratio whose "
            "row and plain row ran on different days"
            + (f" ({'; '.join(other_day)})" if other_day else " (none)") + ".", ""]


def step_cost_section(root):
    """The arms' step costs measured side by side (sweep.py --step-cost), if they were."""
    cost = read_json(os.path.join(root, "step-cost.json"), None)
    if cost is None:
        return []
    ms = {(r["task"], r["batch"], r["optimizer"], r["method"]): r["ms_per_step"] for r in cost["rows"]}
    L = [f"Side by side: every arm's training time per step over steps "
         f"{cost['steps'] - cost['window'] + 1}-{cost['steps']} of a {cost['steps']}-step run, "
         f"one arm after another on this machine ({cost['date'][:10]}, {cost['cpus']} CPUs, "
         f"commit {cost['commit'][:12]}): `{portable_command(cost['command'])}`. This is the fair comparison of "
         "the arms' cost at equal steps.", "",
         "| task | batch | arm | ms / step | × plain |", "|---|---:|---|---:|---:|"]
    for (task, bs, opt, meth), t in sorted(ms.items()):
        base = ms.get((task, bs, "nesterov", "plain"))
        L.append(f"| {task} | {bs} | {arm(opt, meth)} | {t:.1f} | "
                 f"{'—' if base is None else f'{t / base:.2f}'} |")
    return L + [""]


def plain_trained(groups, target, task, bs, opt, base):
    """(reached, text): whether plain's seeds all reach the task target in their steps (None
    without a target), and that as the table says it, with a longer plain arm's steps to the
    target (methods 'plain-<n>x' of the same task, batch and optimizer)."""
    if target is None:
        return None, "—"
    m, s, k, n = reach_stats(base["runs"], target)
    reached = k == n and n > 0
    text = "yes" if reached else f"no ({k}/{n})"
    for (t2, b2, o2, meth2), g2 in sorted(groups.items()):
        if (t2, b2, o2) == (task, bs, opt) and meth2.startswith("plain-") and complete(g2) and g2["runs"]:
            text += f"; {arm(o2, meth2)} steps to target: {reach_text(*reach_stats(g2['runs'], target))}"
    return reached, text


def moonshot_rows(groups, tg, moon_batch, moon_ratio):
    """The table of the moonshot question, one row per Grad Queue arm at batch ≥ moon_batch, and
    what it found: rows that meet the rule, whether one is pending, and which of them beat an
    under-trained plain arm."""
    L = ["| task | batch | arm | plain final acc P % | plain steps S | plain trained? | steps to P | ratio to S | meets the rule |",
         "|---|---:|---|---:|---:|---|---:|---:|---|"]
    found = {"yes": [], "pending": False, "untrained": set(),
             "trained_rows": [], "trained_yes": []}  # rows whose plain arm reached the target, and their yeses
    for (task, bs, opt, meth), g in sorted(groups.items()):
        if bs < moon_batch or not g["gradqueue"]:
            continue
        base = groups.get((task, bs, opt, "plain"))
        if not (base and complete(base) and base["runs"] and complete(g)):
            found["pending"] = True
            L.append(f"| {task} | {bs} | {arm(opt, meth)} | — | — | — | — | — | pending |")
            continue
        p, ps = mean_std([r["acc"] for r in base["runs"]])
        s_plain = max(r["steps"] for r in base["runs"])
        m, s, k, n = reach_stats(g["runs"], p)
        ok = k == n and n > 0 and not g["diverged"] and m <= moon_ratio * s_plain
        reached, trained = plain_trained(groups, tg[task][0], task, bs, opt, base)
        row = f"{task} b{bs} {arm(opt, meth)}"
        if reached:
            found["trained_rows"].append(row)
            if ok:
                found["trained_yes"].append(row)
        if ok:
            found["yes"].append(row)
            if not reached:
                found["untrained"].add(f"{task} b{bs} {opt}")
        L.append(f"| {task} | {bs} | {arm(opt, meth)} | {pm(p, ps, 100)} | {s_plain} | {trained} | "
                 f"{reach_text(m, s, k, n)} | {'—' if not k else f'{m / s_plain:.2f}'} | "
                 f"{'yes' if ok else 'no'} |")
    return L + [""], found


def moonshot_section(spec, groups, tg, size):
    rep = spec.get("report", {})
    moon_batch = int(rep.get("moonshot_min_batch", 2048))
    moon_ratio = float(rep.get("moonshot_ratio", 0.8))
    L = ["## Does Grad Queue reach plain's final accuracy in ≤ %.1f× its steps at batch ≥ %d?"
         % (moon_ratio, moon_batch), "",
         f"Rule: for each task and batch size ≥ {moon_batch}, P = the mean final test accuracy "
         f"of plain training with the same base optimizer and S = its number of steps. A Grad "
         f"Queue row answers **yes** when every one of its seeds reaches P and their mean steps "
         f"to P are ≤ {moon_ratio:g} × S. The answer is yes if any row does; no if none does and "
         f"every such row is finished; otherwise not yet decided. *Plain trained?* says whether "
         f"plain's seeds reach the task's target within S steps: where they do not, P is an "
         f"under-trained baseline's accuracy, and a yes there says less (a plain arm with more "
         f"steps, where the spec has one, gives its steps to the target).", ""]
    rows, f = moonshot_rows(groups, tg, moon_batch, moon_ratio)
    L += rows
    yes = f["yes"]
    answer = "yes" if yes else ("not yet decided" if f["pending"] else "no")
    L.append(f"**Answer: {answer}**" + (f" ({'; '.join(yes)})" if yes else "")
             + ("" if size["done"] == size["want"] else f" — incomplete: {size['done']} of {size['want']} cells") + ".")
    if f["untrained"]:
        L.append(f"Caveat: plain did not reach the task's target at {', '.join(sorted(f['untrained']))}, "
                 f"where the yes was found: it beats an under-trained baseline.")
    # The question at budgets where the baseline is trained: only the rows whose plain arm reached
    # the target within its S steps.
    if f["trained_rows"]:
        L.append(f"Where plain reached the target within S steps: **{'yes' if f['trained_yes'] else 'no'}** "
                 f"({len(f['trained_yes'])} of {len(f['trained_rows'])} such rows meet the rule"
                 + (f": {'; '.join(f['trained_yes'])}" if f["trained_yes"]
                    else f"; the rows: {'; '.join(f['trained_rows'])}")
                 + ").")
    else:
        L.append("Where plain reached the target within S steps: no row (plain reached it nowhere at "
                 "these batch sizes).")
    return L + [""]


def optimizer_claim(name, base_opt, groups):
    """'Grad Queue beats <base_opt>': each Grad Queue row against plain with that optimizer."""
    cs = []
    for (task, bs, opt, meth), g in groups.items():
        if opt != base_opt or not g["gradqueue"]:
            continue
        c = acc_compare(g, groups.get((task, bs, opt, "plain")))
        if c:
            cs.append({**c, "row": f"{task} b{bs} {arm(opt, meth)}"})
    line = f"- **{name}**: {claim_verdict(cs)}"
    if cs:
        best = max(cs, key=lambda c: c["d"])
        per_task = {}
        for c in cs:
            per_task.setdefault(c["row"].split()[0], []).append(c)
        line += (f" — {counts_text(cs)} of {len(cs)} rows ("
                 + ", ".join(f"{t}: {claim_verdict(v)}" for t, v in per_task.items())
                 + f"); backing row {best['row']}: Δ {100 * best['d']:+.2f} ± {100 * best['pooled']:.2f} points.")
    return line


def clusters_claim(spec, groups, tasks):
    """More clusters help larger batches: Δ(k16 − k1) should grow from the smallest to the largest
    batch."""
    series = []
    for task in tasks:
        for opt in spec["optimizers"]:
            pts = []
            for bs in sorted({k[1] for k in groups if k[0] == task}):
                c = acc_compare(groups.get((task, bs, opt, "gq-k16")), groups.get((task, bs, opt, "gq-k1")))
                if c:
                    pts.append((bs, c))
            if len(pts) >= 2:
                lo, hi = pts[0], pts[-1]
                noise = pooled_std(lo[1]["pooled"], hi[1]["pooled"])
                trend = hi[1]["d"] - lo[1]["d"]
                series.append({"verdict": verdict(trend, noise), "d": trend, "pooled": noise,
                               "row": f"{task} {opt}: Δ(k16 − k1) {100 * lo[1]['d']:+.2f} at b{lo[0]} → "
                                      f"{100 * hi[1]['d']:+.2f} at b{hi[0]}"})
    line = ("- **More clusters help larger batches** (k = 16 vs k = 1, the change of their gap from the "
            f"smallest to the largest batch): {claim_verdict(series)}")
    if series:
        line += " — " + "; ".join(f"{s['row']} (change {100 * s['d']:+.2f} ± {100 * s['pooled']:.2f}, {s['verdict']})"
                                  for s in series) + "."
    return line


def claims_section(spec, groups, tasks, size):
    """The paper's claims, one line each, by a stated rule."""
    L = ["## The paper's claims", "",
         "Rule: a Grad Queue row is *better* (*worse*) than plain training with the same base "
         "optimizer, task and batch size when its mean final test accuracy differs by more than "
         "the pooled sample std of the two rows' seeds, else *within noise* (both rows finished, "
         "≥ 2 seeds, none diverged). A claim is *supported* when more than half its rows are "
         "better, *contradicted* when more than half are worse or none is better and one is "
         "worse, else *cannot decide*. The backing row is the one with the largest Δ.", "",
         optimizer_claim("Grad Queue beats mini-batch SGD (Nesterov)", "nesterov", groups),
         optimizer_claim("Grad Queue beats Adam (AdamW)", "adamw", groups),
         clusters_claim(spec, groups, tasks)]
    if size["done"] != size["want"]:
        L += ["", f"*Incomplete: {size['done']} of {size['want']} cells* — these lines use only the finished rows."]
    return L + [""]


def write(spec, root, results, L, fig_dir, out_dir):
    """Appends the study's sections to the lines L (and its size under their title) and writes its
    PNGs."""
    groups = collect(spec, results)
    tg = targets(spec, groups)
    tasks = list(dict.fromkeys(k[0] for k in groups))
    size = study_size(spec, root, groups, results)
    L[2:2] = size_lines(size)  # under the title
    L += targets_section(spec, tasks, tg)
    edges, other_day = [], []  # rows whose lr is at an edge of the grid; rows timed on other days
    for task in tasks:
        L += task_tables(spec, groups, task, tg[task][0], edges, other_day)
        for caption, name in task_figures(spec, groups, task, tg[task][0], fig_dir):
            L += [f"![{caption}]({os.path.relpath(os.path.join(fig_dir, name), out_dir)})", ""]
    L += ["Best learning rate at an edge of the grid (the grid should be widened there): "
          + ("; ".join(edges) if edges else "none") + ".", ""]
    L += time_section(size, other_day) + step_cost_section(root)
    L += moonshot_section(spec, groups, tg, size)
    L += claims_section(spec, groups, tasks, size)
