"""Sweep specs for gq-train: parsing, validation and expansion into cells.

Shared by sweep.py (runs the cells) and report.py (tabulates them). The format is described in
tools/experiments/README.md. A cell is one gq-train run; its id is a hash of its gq-train flags
(everything but where the data lives and where the metrics go), so two blocks that ask for the
same run share one cell, and a cell's folder never holds the results of different flags.
"""
import hashlib
import itertools
import json
import math
import os
import re
import shlex
import subprocess
import sys
import tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

# Keys of an [optimizers.X] table that set the learning-rate policy rather than a gq-train flag.
LR_KEYS = {"lr_base", "lr_scaling", "lr_max", "lr_min"}
LR_SCALINGS = ("linear", "sqrt", "none")
TOP_KEYS = {"name", "description", "estimate", "data_dir", "seeds", "lr", "defaults", "tasks",
            "optimizers", "methods", "grid", "runs_dir", "report"}
GRID_KEYS = {"name", "note", "tasks", "optimizers", "batch_sizes", "methods", "seeds", "flags",
             "compare_to", "lr_grid", "tune_seeds", "tune_flags", "arms"}
# Keys of a [tasks.X] table for the report, not gq-train flags: `target` (an accuracy), or
# `target_from` (a baseline row whose mean final test accuracy, minus `minus`, is the target).
TASK_REPORT_KEYS = {"target", "targets", "target_from", "lr_scale"}
# Flags the runner owns: a spec must not set them.
RUNNER_FLAGS = {"metrics", "data-dir", "config", "checkpoint-dir", "checkpoint-every", "resume",
                "help", "profile", "quiet", "batch-size", "seed", "lr"}


class SpecError(Exception):
    pass


def default_binary():
    for cand in (os.environ.get("GQ_TRAIN"), os.path.join(REPO, "build", "bin", "gq-train"),
                 os.path.join(REPO, "build-main", "bin", "gq-train")):
        if cand and os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    return os.path.join(REPO, "build", "bin", "gq-train")


def known_flags(binary):
    """The long flag names gq-train --help lists (None if the binary cannot be run)."""
    try:
        out = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=30).stdout
    except OSError:
        return None
    return set(re.findall(r"^\s+--([a-z0-9-]+)", out, re.M))


def lr_for(opt, batch, ref_batch):
    """The learning rate policy: lr_base at the reference batch, scaled with the batch size."""
    base = opt["lr_base"]
    scaling = opt.get("lr_scaling", "linear")
    ratio = batch / ref_batch
    lr = base * (ratio if scaling == "linear" else ratio ** 0.5 if scaling == "sqrt" else 1.0)
    if "lr_max" in opt:
        lr = min(lr, opt["lr_max"])
    if "lr_min" in opt:
        lr = max(lr, opt["lr_min"])
    return float(f"{lr:.6g}")  # a stable decimal, so the id does not depend on float noise


def lr_policy_text(spec):
    ref = spec["lr"]["reference_batch"]
    parts = []
    for name, o in spec["optimizers"].items():
        s = o.get("lr_scaling", "linear")
        rule = {"linear": f"lr = {o['lr_base']:g} × b/{ref}",
                "sqrt": f"lr = {o['lr_base']:g} × √(b/{ref})",
                "none": f"lr = {o['lr_base']:g} for every b"}[s]
        if "lr_max" in o:
            rule += f", at most {o['lr_max']:g}"
        if "lr_min" in o:
            rule += f", at least {o['lr_min']:g}"
        parts.append(f"`{name}`: {rule}")
    return "; ".join(parts)


def _flag_value(key, v, where):
    if isinstance(v, bool) or isinstance(v, (int, float, str)):
        return v
    raise SpecError(f"{where}: flag '{key}' must be a string, number or boolean, not {type(v).__name__}")


def _flags(table, where, skip=()):
    return {k: _flag_value(k, v, where) for k, v in table.items() if k not in skip}


def cell_complete(folder):
    """Whether a cell folder holds a finished run: the `done` marker (written last), and for a
    finished run a metrics file whose last eval record is at the step `done` names. The check needs
    only the committed files (no stdout.log, no checkpoint), so a clone with the tracked results
    skips the cell; a `done` without its metrics (a partial commit) is rerun."""
    try:
        with open(os.path.join(folder, "done")) as f:
            done = json.load(f)
    except (OSError, ValueError):
        return False
    if done.get("status") == "diverged":
        return True
    try:
        _, evals = read_metrics(os.path.join(folder, "metrics.jsonl"))
    except (OSError, ValueError):
        return False
    return bool(evals) and evals[-1].get("step") == done.get("steps", evals[-1].get("step")) \
        and evals[-1].get("test_accuracy") == done.get("test_accuracy")


def runs_root(spec, runs_dir=None):
    """The run folder of a spec: RUNS_DIR/<name>, where RUNS_DIR is the --runs-dir given, else the
    spec's `runs_dir` (relative to the repository: a tracked location), else <repo>/runs."""
    base = runs_dir or os.path.join(REPO, spec.get("runs_dir", "runs"))
    return os.path.join(os.path.abspath(base), spec["name"])


def tuning_choice(runs, tune_cells):
    """The learning-rate multiplier a tuned group runs at, from its finished tuning cells: the
    highest mean final validation accuracy over the tuning seeds (a diverged or unfinished run
    counts as 0); ties (a 500-sample slice resolves 0.2%) go to the lower mean final validation
    loss, then to the smaller multiplier. Returns (multiplier, {multiplier: mean accuracy}) or
    None while a tuning cell is not done."""
    scores, losses = {}, {}
    for mult, cid in tune_cells:
        folder = os.path.join(runs, cid)
        if not cell_complete(folder):
            return None
        acc, loss = 0.0, math.inf
        try:
            _, evals = read_metrics(os.path.join(folder, "metrics.jsonl"))
            if evals and "val_accuracy" in evals[-1]:
                acc = evals[-1]["val_accuracy"]
                loss = evals[-1].get("val_loss", math.inf)
        except (OSError, ValueError):
            pass
        with open(os.path.join(folder, "done")) as f:
            if json.load(f).get("status") != "finished":
                acc, loss = 0.0, math.inf
        scores.setdefault(mult, []).append(acc)
        losses.setdefault(mult, []).append(loss if math.isfinite(loss) else math.inf)
    means = {m: sum(v) / len(v) for m, v in scores.items()}
    mean_loss = {m: sum(v) / len(v) for m, v in losses.items()}
    best = min(sorted(means), key=lambda m: (-means[m], mean_loss[m]))  # sorted: then the smaller
    return best, means


def _read_spec(path):
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as e:
        raise SpecError(f"{path}: cannot read ({e})")
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{path}: not valid TOML ({e})")


def _check_top(spec, where):
    """The top-level keys; fills in the optional ones."""
    unknown = set(spec) - TOP_KEYS
    if unknown:
        raise SpecError(f"{where}: unknown top-level keys {sorted(unknown)} (allowed: {sorted(TOP_KEYS)})")
    for key in ("name", "tasks", "optimizers", "methods", "grid"):
        if key not in spec:
            raise SpecError(f"{where}: missing '{key}'")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", spec["name"]):
        raise SpecError(f"{where}: name '{spec['name']}' must be a plain folder name")
    for key, empty in (("description", ""), ("estimate", ""), ("defaults", {}), ("lr", {})):
        spec.setdefault(key, empty)
    spec["lr"].setdefault("reference_batch", 128)


def _flag_checker(flags_ok):
    """check(flags, where): no flag the runner owns, and (with the binary's flags) no unknown one."""
    def check(fl, w):
        for k in fl:
            if k in RUNNER_FLAGS:
                raise SpecError(f"{w}: '{k}' is set by the runner, not the spec")
            if flags_ok is not None and k not in flags_ok:
                raise SpecError(f"{w}: '{k}' is not a gq-train flag (see gq-train --help)")
    return check


def _need_task(t, w):
    if "dataset" not in t or "model" not in t:
        raise SpecError(f"{w}: needs 'dataset' and 'model'")
    # Accuracies are fractions here (gq-train's metrics): `minus = 1.0` would mean 100 points.
    minus = t.get("target_from", {}).get("minus", 0.0)
    if not 0.0 <= minus < 0.5:
        raise SpecError(f"{w}: target_from.minus = {minus}: a fraction of accuracy in [0, 0.5) "
                        "(0.01 is one point)")
    if "target" in t and not 0.0 < t["target"] <= 1.0:
        raise SpecError(f"{w}: target = {t['target']}: a fraction of accuracy in (0, 1] "
                        "(0.94 is 94%; `targets` takes percentages)")


def _need_optimizer(o, w):
    if "optimizer" not in o or "lr_base" not in o:
        raise SpecError(f"{w}: needs 'optimizer' (a gq-train --optimizer) and 'lr_base'")
    if o.get("lr_scaling", "linear") not in LR_SCALINGS:
        raise SpecError(f"{w}: lr_scaling must be one of {LR_SCALINGS}")


def _check_method(flags, w):
    if any(k.startswith("gq-") for k in flags) and not flags.get("gradqueue"):
        raise SpecError(f"{w}: sets gq-* flags without 'gradqueue = true'")


def _flag_tables(spec, where, check):
    """The gq-train flags of [defaults] and of each task, optimizer and method, checked: what a
    cell's flags are layered from."""
    defaults = _flags(spec["defaults"], f"{where} [defaults]")
    check(defaults, f"{where} [defaults]")
    out = {"defaults": defaults}
    for key, skip, before, after in (("tasks", TASK_REPORT_KEYS, _need_task, None),
                                     ("optimizers", LR_KEYS, _need_optimizer, None),
                                     ("methods", (), None, _check_method)):
        out[key] = {}
        for name, t in spec[key].items():
            w = f"{where} [{key}.{name}]"
            if before:
                before(t, w)
            out[key][name] = _flags(t, w, skip=skip)
            check(out[key][name], w)
            if after:
                after(out[key][name], w)
    return out


def _block_arms(g, w):
    """`arms = [[optimizer, method], ...]` instead of optimizers x methods: a block that runs only
    the listed pairs (e.g. LARS plain next to Nesterov with and without Grad Queue). Returns the
    block with its optimizers and methods filled in from the arms."""
    arms = g["arms"]
    if not isinstance(arms, list) or not arms or any(
            not isinstance(x, list) or len(x) != 2 or not all(isinstance(y, str) for y in x)
            for x in arms):
        raise SpecError(f"{w}: arms must list [optimizer, method] pairs")
    if "optimizers" in g or "methods" in g:
        raise SpecError(f"{w}: give either arms or optimizers and methods, not both")
    return dict(g, optimizers=list(dict.fromkeys(x[0] for x in arms)),
                methods=list(dict.fromkeys(x[1] for x in arms)))


def _parse_block(g, w, tables, seeds, check):
    """A [[grid]] block checked, as the block of spec['blocks'] (its rows still empty), the block
    table with its arms filled in, and its tuning flags."""
    unknown = set(g) - GRID_KEYS
    if unknown:
        raise SpecError(f"{w}: unknown keys {sorted(unknown)} (allowed: {sorted(GRID_KEYS)})")
    if g.get("arms") is not None:
        g = _block_arms(g, w)
    for key in ("name", "tasks", "optimizers", "batch_sizes", "methods"):
        if key not in g or (key != "name" and not g[key]):
            raise SpecError(f"{w}: needs a non-empty '{key}'")
    for key in ("tasks", "optimizers", "methods"):
        for n in g[key]:
            if n not in tables[key]:
                raise SpecError(f"{w}: {key} '{n}' is not defined (defined: {sorted(tables[key])})")
    if "compare_to" in g and g["compare_to"] not in g["methods"]:
        raise SpecError(f"{w}: compare_to '{g['compare_to']}' is not one of its methods")
    extra = _flags(g.get("flags", {}), w)
    check(extra, w)
    grid = g.get("lr_grid")
    if grid is not None and (not isinstance(grid, list) or len(grid) < 2 or
                             any(not isinstance(m, (int, float)) or m <= 0 for m in grid)):
        raise SpecError(f"{w}: lr_grid must list at least two positive lr multipliers")
    tune_flags = _flags(g.get("tune_flags", {}), w)
    check(tune_flags, w)
    block = {"name": g["name"], "note": g.get("note", ""), "tasks": g["tasks"],
             "optimizers": g["optimizers"], "batch_sizes": g["batch_sizes"],
             "methods": g["methods"], "seeds": g.get("seeds", seeds),
             "compare_to": g.get("compare_to"), "flags": extra, "rows": [],
             "lr_grid": sorted(grid) if grid else None, "tuning": {}}
    return block, g, tune_flags


def _add_cell(spec, tables, cells, block, row, seed, lr_mult, stage, layers):
    """Adds one run of a block's row (task, opt, bs, meth) to `cells` (a cell another block
    already asked for gets this block's label too); returns (cell id, label)."""
    task, opt, bs, meth = row
    flags = {}
    for layer in (tables["defaults"], tables["tasks"][task], tables["optimizers"][opt],
                  tables["methods"][meth]) + layers:
        flags.update(layer)
    flags["batch-size"] = bs
    # A task may move an optimizer's policy (`lr_scale = { nesterov = 3.16 }`): the same grid
    # of multipliers, centred where that task's good learning rates are.
    scale = spec["tasks"][task].get("lr_scale", {}).get(opt, 1.0)
    flags["lr"] = float(f"{lr_for(spec['optimizers'][opt], bs, spec['lr']['reference_batch']) * lr_mult * scale:.6g}")
    flags["seed"] = int(seed)
    flags = {k: v for k, v in flags.items() if v is not False}
    cid = cell_id(flags)
    label = {"block": block["name"], "task": task, "dataset": flags["dataset"],
             "model": flags["model"], "optimizer": opt, "batch": bs, "method": meth,
             "seed": int(seed), "gradqueue": bool(flags.get("gradqueue")),
             "block_flags": block["flags"], "stage": stage, "lr_mult": lr_mult, "lr": flags["lr"]}
    if cid not in cells:
        cells[cid] = {"id": cid, "flags": flags, "labels": [], "task": task}
    cells[cid]["labels"].append(label)
    return cid, label


def _expand_block(spec, tables, cells, runs, g, w, seeds, check):
    """A block's rows (task, optimizer, batch, method) and their cells: for a tuned block first the
    tuning cells, then, once a row's tuning is done in `runs`, its seeds at the chosen lr."""
    block, g, tune_flags = _parse_block(g, w, tables, seeds, check)
    extra = block["flags"]
    if g.get("arms") is not None:
        combos = [(t, o, b, m) for t in g["tasks"] for b in g["batch_sizes"] for o, m in g["arms"]]
    else:
        combos = itertools.product(g["tasks"], g["optimizers"], g["batch_sizes"], g["methods"])
    for row in combos:
        if not isinstance(row[2], int) or row[2] <= 0:
            raise SpecError(f"{w}: batch size {row[2]!r} is not a positive integer")
        chosen = 1.0
        if block["lr_grid"]:
            tune = [(m, _add_cell(spec, tables, cells, block, row, seed, m, "tune", (extra, tune_flags))[0])
                    for m in block["lr_grid"] for seed in g.get("tune_seeds", block["seeds"][:1])]
            choice = tuning_choice(runs, tune) if runs else None
            block["tuning"][row] = {"cells": tune, "choice": choice}
            if choice is None:
                continue  # the final cells exist once the tuning cells are done
            chosen = choice[0]
        for seed in block["seeds"]:
            block["rows"].append(_add_cell(spec, tables, cells, block, row, seed, chosen, "final", (extra,)))
    return block


def load(path, binary=None, runs=None):
    """Parses and validates a spec; returns a dict with the expanded 'cells' and 'blocks'.
    A block with lr_grid first runs its tuning cells (each lr multiplier x tune_seeds, flags +
    tune_flags); its cells at the chosen multiplier (x seeds) exist once the group's tuning cells
    are done in `runs` (the spec's run folder), see tuning_choice."""
    spec = _read_spec(path)
    where = os.path.basename(path)
    _check_top(spec, where)
    seeds = spec.get("seeds", [0])
    check = _flag_checker(known_flags(binary) if binary else None)
    tables = _flag_tables(spec, where, check)
    if not isinstance(spec["grid"], list) or not spec["grid"]:
        raise SpecError(f"{where}: 'grid' must be a list of [[grid]] blocks")
    cells = {}
    spec["blocks"] = [_expand_block(spec, tables, cells, runs, g, f"{where} [[grid]] #{bi + 1}", seeds, check)
                      for bi, g in enumerate(spec["grid"])]
    spec["cells"] = cells  # insertion order: first block first
    spec["path"] = path
    return spec


def canonical(flags):
    return json.dumps(flags, sort_keys=True, separators=(",", ":"))


def cell_id(flags):
    return hashlib.sha256(canonical(flags).encode()).hexdigest()[:12]


def argv(flags):
    out = []
    for k in sorted(flags):
        v = flags[k]
        if v is True:
            out.append(f"--{k}")
        else:
            out += [f"--{k}", str(v)]
    return out


def read_json(path, missing):
    """A JSON file's value, or `missing` when there is no such file."""
    if not os.path.isfile(path):
        return missing
    with open(path) as f:
        return json.load(f)


def read_metrics(path):
    train, evals = [], []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            r = json.loads(line)
            if r.get("type") == "train":
                train.append(r)
            elif r.get("type") == "eval":
                evals.append(r)
    return train, evals


def command_line(script, spec_arg):
    """The command line of this invocation as run from the repository root (the script and the
    spec as paths in it), for sweep.json and the reports."""
    rel = [os.path.relpath(os.path.abspath(x), REPO) if x == spec_arg else x for x in sys.argv[1:]]
    return shlex.join(["/usr/bin/python3", script] + rel)


def die(msg):
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(2)


# Mean and sample standard deviation (nan where undefined), and "m ± s" for the reports.
def mean_std(xs):
    n = len(xs)
    if n == 0:
        return float("nan"), float("nan")
    m = sum(xs) / n
    if n < 2:
        return m, float("nan")
    return m, math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1))


def pm(m, s, scale=1.0, digits=2):
    if math.isnan(m):
        return "—"
    if math.isnan(s):
        return f"{m * scale:.{digits}f}"
    return f"{m * scale:.{digits}f} ± {s * scale:.{digits}f}"


# Comparing two rows of seeds, the same way in both reports: a difference counts only where it
# exceeds the seed noise (the pooled sample std of the two rows).
VERDICTS = ("better", "within noise", "worse")


def pooled_std(s1, s2):
    return math.sqrt((s1 ** 2 + s2 ** 2) / 2)


def verdict(d, pooled):
    """better / worse when the difference d exceeds the pooled seed std, else within noise; None
    where the noise is unknown (a row with one seed)."""
    if math.isnan(pooled):
        return None
    return "better" if d > pooled else "worse" if d < -pooled else "within noise"


def counts_text(cs):
    cnt = {v: sum(c["verdict"] == v for c in cs) for v in VERDICTS}
    return f"{cnt['better']} better, {cnt['within noise']} within noise, {cnt['worse']} worse"


def mean_by_step(series, scale=1.0):
    """The mean over runs of {step: value} series, at the steps every run has (for the curves)."""
    if not series:
        return [], []
    steps = sorted(set.intersection(*(set(s) for s in series)))
    return steps, [scale * sum(s[x] for s in series) / len(series) for x in steps]


def portable_command(command):
    """A recorded sweep command as the reports print it, without this machine's folders: the data
    folder as $DATA, a binary outside the repository as $BIN/<name>."""
    words = command.split()
    for i, w in enumerate(words):
        before = words[i - 1] if i > 0 else ""
        if before == "--data-dir" and os.path.isabs(w):
            words[i] = "$DATA"
        elif before == "--bin" and os.path.isabs(w):
            words[i] = "$BIN/" + os.path.basename(w)
    return " ".join(words)
