#!/usr/bin/python3
"""Runs every cell of a sweep spec with gq-train, skipping cells that already finished.

Usage: tools/experiments/sweep.py SPEC.toml [--runs-dir runs] [--data-dir DIR] [--bin GQ_TRAIN]
                                  [--only SUBSTR] [--list] [--dry-run] [--force] [--keep-going]
                                  [--jobs N] [--checkpoint-every STEPS] [--verify N]
                                  [--step-cost STEPS]

Each cell runs into RUNS/<spec name>/<cell id>/: cell.json (flags and labels), command.sh (the exact
command), stdout.log, metrics.jsonl, and `done` (written only after gq-train exited 0 and wrote a
test evaluation, status "finished", or stopped because training diverged, status "diverged": the
same flags and seed diverge again). A cell with `done` is skipped. A cell checkpoints into its
checkpoints/ folder every --checkpoint-every steps and when the sweep gets SIGINT or SIGTERM (which
it forwards to gq-train, then starts no other cell); the next run of the sweep resumes it there,
bit-identically (tools/experiments/cell_run.py). Any other cell folder is cleared and rerun.
The data directory (default: the spec's data_dir, else $GQ_DATA_DIR, else ../shared/data) is not
part of a cell's identity. Every invocation is appended to RUNS/<spec name>/sweep.json.

--step-cost STEPS runs every (task, batch, optimizer, method) of the selection for STEPS steps, one
after another, and writes their training time per step to RUNS/<spec name>/step-cost.json: the cost
of each arm measured side by side, which the report prefers to the cells' own times.

--verify N reruns N finished cells (a fixed pseudo-random pick) into a temporary folder and checks
that their metrics are identical to the stored ones (all but run headers, times and images_per_s);
the outcome is appended to RUNS/<spec name>/verify.json, which the report quotes.
"""
import argparse
import concurrent.futures
import fcntl
import json
import os
import random
import shlex
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gqspec  # noqa: E402
from cell_run import Stopper, newest_checkpoint, run_cell, write_json  # noqa: E402


def fmt_time(s):
    s = int(round(s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def git_commit():
    try:
        head = subprocess.run(["git", "-C", gqspec.REPO, "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", gqspec.REPO, "status", "--porcelain", "-uno"],
                               capture_output=True, text=True, timeout=30).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except OSError:
        return "unknown"


def made_by(command, binary):
    """What verify.json and step-cost.json record of the invocation that wrote them."""
    return {"command": command, "commit": git_commit(), "gq_train": binary,
            "date": time.strftime("%Y-%m-%dT%H:%M:%S")}


def record_invocation(path, entry):
    """Adds or updates this invocation's entry in the spec's sweep.json. Sweeps of disjoint cells
    (--only) may run at once on one results folder: each rewrites the file under a lock from what
    is on disk, so none drops another's entry."""
    with open(path + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        history = gqspec.read_json(path, [])
        key = (entry["started"], entry["command"], entry["cwd"])
        at = [i for i, e in enumerate(history) if (e["started"], e["command"], e["cwd"]) == key]
        if at:
            history[at[0]] = entry
        else:
            history.append(entry)
        write_json(path, history)


def describe(cell):
    lb = cell["labels"][0]
    extra = "".join(f" {k}={v}" for k, v in lb.get("block_flags", {}).items())
    tune = f" tune lr x{lb['lr_mult']:g}" if lb.get("stage") == "tune" else ""
    return f"{lb['task']} {lb['optimizer']} b{lb['batch']} {lb['method']} seed {lb['seed']}{tune}{extra}"


def comparable_metrics(path):
    """The metrics records without what depends on wall time: run headers (settings, host,
    commit), timestamps and images/s. Stored runs from before run headers compare equal too."""
    with open(path) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    rows = [r for r in rows if r.get("type") != "run"]
    for r in rows:
        for key in ("images_per_s", "time", "elapsed_s"):
            r.pop(key, None)
    return rows


def verify(cells, root, binary, data_dir, count, command):
    """Reruns `count` finished cells into a temporary folder; returns 0 if all match."""
    done = [c for c in cells if gqspec.cell_complete(os.path.join(root, c["id"]))]
    if not done:
        gqspec.die("--verify: no finished cells to rerun")
    count = min(count, len(done))
    # A fixed pseudo-random pick (an even stride would land on the same method and seed).
    picked = sorted(random.Random(0).sample(range(len(done)), count))
    picked = [done[i] for i in picked]
    results = []
    with tempfile.TemporaryDirectory(prefix="gq-verify-") as tmp:
        for i, cell in enumerate(picked, 1):
            status, wall, msg = run_cell(cell, os.path.join(tmp, cell["id"]), binary, data_dir)
            if status == "done":
                same = comparable_metrics(os.path.join(tmp, cell["id"], "metrics.jsonl")) == \
                    comparable_metrics(os.path.join(root, cell["id"], "metrics.jsonl"))
                msg = "identical metrics" if same else "metrics DIFFER from the stored run"
            else:
                same = False
            results.append({"id": cell["id"], "cell": describe(cell), "identical": same})
            print(f"[{i}/{count}] {cell['id']} {describe(cell)}: {msg} ({wall:.1f} s)", flush=True)
    log_path = os.path.join(root, "verify.json")
    history = gqspec.read_json(log_path, [])
    history.append(dict(made_by(command, binary), cells=results))
    write_json(log_path, history)
    bad = sum(not r["identical"] for r in results)
    print(f"verify: {count - bad} of {count} reruns identical to the stored runs")
    return 1 if bad else 0


def step_cost(cells, root, binary, data_dir, steps, command):
    """Runs each (task, batch, optimizer, method) of the selection for `steps` steps, one after
    another, and records its training time per step over the last quarter of them (Grad Queue's
    queue in use) in RUNS/<spec name>/step-cost.json. The cells' own times ran over days under
    different loads; these are side by side, one machine, one sitting."""
    arms = {}
    for c in cells:
        lb = c["labels"][0]
        key = (lb["task"], lb["batch"], lb["optimizer"], lb["method"])
        # Its lr changes the numbers but not the work: a final cell where there is one, else tuning.
        if key not in arms or lb["stage"] == "final":
            arms[key] = c
    window = max(1, steps // 4)
    rows = []
    with tempfile.TemporaryDirectory(prefix="gq-step-cost-") as tmp:
        for i, (key, cell) in enumerate(sorted(arms.items()), 1):
            flags = dict(cell["flags"], **{"max-steps": steps, "log-every": window, "eval-every": 0,
                                           "test-subset": 256})
            metrics = os.path.join(tmp, f"{cell['id']}.jsonl")
            run = subprocess.run([binary] + gqspec.argv(flags) + ["--data-dir", data_dir, "--metrics", metrics],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            train = gqspec.read_metrics(metrics)[0] if run.returncode == 0 else []
            if not train or train[-1]["step"] != steps:
                gqspec.die(f"--step-cost: {describe(cell)} did not run {steps} steps "
                           f"(exit {run.returncode}):\n{run.stdout[-2000:]}")
            ips = train[-1]["images_per_s"]
            rows.append({"task": key[0], "batch": key[1], "optimizer": key[2], "method": key[3],
                         "images_per_s": round(ips, 1), "ms_per_step": round(1000 * key[1] / ips, 2)})
            print(f"[{i}/{len(arms)}] {key[0]} b{key[1]} {key[2]} {key[3]}: "
                  f"{rows[-1]['ms_per_step']} ms/step", flush=True)
    write_json(os.path.join(root, "step-cost.json"),
               dict(made_by(command, binary), host=os.uname().nodename, cpus=os.cpu_count(),
                    steps=steps, window=window, rows=rows))
    return 0


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("spec")
    ap.add_argument("--runs-dir", default=None,
                    help="root of the run folders (default: the spec's runs_dir, a tracked folder "
                         "of the repository, else <repo>/runs)")
    ap.add_argument("--data-dir", default=None,
                    help="dataset root (default: spec data_dir, else $GQ_DATA_DIR, else ../shared/data)")
    ap.add_argument("--bin", default=None, help="gq-train binary (default: $GQ_TRAIN, build/bin, build-main/bin)")
    ap.add_argument("--only", action="append", default=[],
                    help="run only cells whose description or id contains this (repeatable: any)")
    ap.add_argument("--list", action="store_true", help="list the cells and their state, run nothing")
    ap.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    ap.add_argument("--force", action="store_true", help="rerun cells even if done")
    ap.add_argument("--keep-going", action="store_true", help="continue after a failed cell (exit 1 at the end)")
    ap.add_argument("--jobs", type=int, default=1, help="cells run at once (default 1)")
    ap.add_argument("--checkpoint-every", type=int, default=50, metavar="STEPS",
                    help="a cell checkpoints every STEPS steps, and on SIGINT/SIGTERM, into its "
                         "checkpoints/ folder, from which the next run of the sweep resumes it "
                         "(default 50; 0: no checkpoints, a stopped cell starts again)")
    ap.add_argument("--verify", type=int, default=0, metavar="N",
                    help="rerun N finished cells elsewhere and check that their metrics are identical")
    ap.add_argument("--step-cost", type=int, default=0, metavar="STEPS",
                    help="time every arm side by side for STEPS steps (step-cost.json), run no cell")
    return ap.parse_args()


def load_spec(a, binary, runs=None):
    """The spec, its flags checked against the binary's --help where the binary runs."""
    try:
        return gqspec.load(a.spec, binary if os.access(binary, os.X_OK) else None, runs=runs)
    except gqspec.SpecError as e:
        gqspec.die(str(e))


def selected(spec, only):
    cells = list(spec["cells"].values())
    if only:
        cells = [c for c in cells if any(s in describe(c) or s in c["id"] for s in only)]
    return cells


def unfinished(cells, root, skip=()):
    return [c for c in cells if c["id"] not in skip and not gqspec.cell_complete(os.path.join(root, c["id"]))]


def print_plan(spec, cells, todo, root, binary, data_dir):
    print(f"spec {spec['name']}: {len(spec['cells'])} cells, {len(cells)} selected, "
          f"{len(cells) - len(todo)} already done, {len(todo)} to run -> {root}")
    print(f"  gq-train {binary}\n  data {data_dir}\n  lr policy: {gqspec.lr_policy_text(spec)}")
    waiting = sum(t["choice"] is None for b in spec["blocks"] for t in b["tuning"].values())
    if waiting:
        print(f"  {waiting} tuned group(s) wait for their tuning cells before their own cells exist")


def list_cells(cells, root, binary, data_dir, commands):
    """--list: each cell and its state; --dry-run: and its exact command."""
    for c in cells:
        folder = os.path.join(root, c["id"])
        kept = newest_checkpoint(folder)
        state = ("done" if gqspec.cell_complete(folder)
                 else f"unfinished, checkpoint {os.path.basename(kept)}" if kept else "todo")
        line = f"{c['id']}  {state}  {describe(c)}"
        if commands:
            line += "\n    " + shlex.join([binary] + gqspec.argv(c["flags"]) + ["--data-dir", data_dir])
        print(line)


class Sweep:
    """One invocation's cells as they run: progress lines with an ETA, the failures, and its entry
    in sweep.json, updated after each cell (a sweep killed part-way still says what it ran)."""

    def __init__(self, a, root, binary, data_dir, todo, entry):
        self.a, self.root, self.binary, self.data_dir = a, root, binary, data_dir
        self.stopper = Stopper()
        self.stopper.install()
        self.todo, self.pending = todo, list(todo)
        self.entry, self.log_path = entry, os.path.join(root, "sweep.json")
        self.lock = threading.Lock()
        self.walls = {}  # task -> list of finished wall times (ETA per task, then overall)
        self.failures = []
        self.finished = 0
        self.t_start = time.time()

    def eta(self):
        allw = [w for ws in self.walls.values() for w in ws]
        if not allw:
            return "?"
        mean_all = sum(allw) / len(allw)
        total = 0.0
        for c in self.pending:
            ws = self.walls.get(c["task"])
            total += sum(ws) / len(ws) if ws else mean_all
        return fmt_time(total / max(1, self.a.jobs))

    def work(self, i, cell):
        """Runs one cell; True if the sweep goes on after it."""
        folder = os.path.join(self.root, cell["id"])
        if self.stopper.stopping:
            return False  # a queued cell of --jobs N after a stop: left for the next run
        with self.lock:
            print(f"[{i}/{len(self.todo)}] start {cell['id']} {describe(cell)}", flush=True)
        status, wall, msg = run_cell(cell, folder, self.binary, self.data_dir,
                                     self.a.checkpoint_every, self.stopper)
        with self.lock:
            self.finished += 1
            self.pending.remove(cell)
            if status == "done":
                self.walls.setdefault(cell["task"], []).append(wall)
                self.entry["cells_run"] += 1
                self.entry["wall_s"] = round(time.time() - self.t_start, 1)
                record_invocation(self.log_path, self.entry)
            elif status == "failed":
                self.failures.append((cell, msg))
            print(f"[{self.finished}/{len(self.todo)}] {status.upper() if status != 'done' else status} "
                  f"{cell['id']} {describe(cell)}: {msg} ({wall:.1f} s) | elapsed "
                  f"{fmt_time(time.time() - self.t_start)} ETA {self.eta()}", flush=True)
            if status == "failed":
                tail = open(os.path.join(folder, "stdout.log"), errors="replace").read()[-2000:]
                print("---- last lines of the log ----\n" + tail.rstrip() + "\n----", flush=True)
        return status == "done" or (status == "failed" and self.a.keep_going)

    def run_in_order(self, current_cells):
        """One cell at a time, in spec order; a tuned group's cells at its chosen learning rate
        exist once its tuning cells are done, and run next (not after every other group's tuning),
        so a long study completes whole rows early and can be reported part-way."""
        queue, ran, i = list(self.todo), set(), 0
        while queue:
            c = queue.pop(0)
            i += 1
            ran.add(c["id"])
            if not self.work(i, c):
                break
            if self.a.force:
                continue
            fresh = unfinished(current_cells(), self.root, skip=ran)
            known = {x["id"] for x in queue}
            new = [x for x in fresh if x["id"] not in known]
            if new:
                print(f"{len(new)} more cell(s) at the learning rates the tuning chose", flush=True)
                with self.lock:
                    self.todo.extend(new)
                    self.pending.extend(new)
            # Always the spec's current order and cells: an edited spec (a cut arm) takes effect
            # at the next cell of a long study.
            queue = fresh

    def run_parallel(self):
        with concurrent.futures.ThreadPoolExecutor(self.a.jobs) as ex:
            futs = [ex.submit(self.work, i, c) for i, c in enumerate(self.todo, 1)]
            for f in concurrent.futures.as_completed(futs):
                if not f.result():
                    for g in futs:
                        g.cancel()


def run_sweep(a, root, binary, data_dir, todo, command, current_cells):
    """Runs the cells to do, recording the invocation in sweep.json; 1 if a cell failed."""
    os.makedirs(root, exist_ok=True)
    entry = {"command": command,
             "cwd": os.getcwd(), "spec": os.path.abspath(a.spec), "gq_train": binary,
             "data_dir": data_dir, "commit": git_commit(), "host": os.uname().nodename,
             "cpus": os.cpu_count(), "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
             "cells_run": 0, "wall_s": None}
    record_invocation(os.path.join(root, "sweep.json"), entry)
    sweep = Sweep(a, root, binary, data_dir, todo, entry)
    try:
        if a.jobs <= 1:
            sweep.run_in_order(current_cells)
        else:
            sweep.run_parallel()
    finally:
        entry["wall_s"] = round(time.time() - sweep.t_start, 1)
        entry["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        if sweep.stopper.stopping:
            entry["stopped_by"] = sweep.stopper.signum
        record_invocation(sweep.log_path, entry)
    if sweep.stopper.stopping:
        print(f"stopped by signal {sweep.stopper.signum} after {entry['cells_run']} cell(s): run the "
              "same command again to go on (a stopped cell resumes from its checkpoint)", file=sys.stderr)
        return 128 + sweep.stopper.signum
    if sweep.failures:
        print(f"{len(sweep.failures)} cell(s) FAILED:", file=sys.stderr)
        for c, msg in sweep.failures:
            print(f"  {c['id']} {describe(c)}: {msg}", file=sys.stderr)
        return 1
    print(f"all {len(todo)} cells finished in {fmt_time(time.time() - sweep.t_start)}")
    return 0


def main():
    a = parse_args()
    binary = os.path.abspath(a.bin) if a.bin else gqspec.default_binary()
    if not (a.list or a.dry_run) and not os.access(binary, os.X_OK):
        gqspec.die(f"gq-train not found at {binary} (build it, or pass --bin)")
    spec = load_spec(a, binary)
    data_dir = os.path.abspath(a.data_dir or spec.get("data_dir") or os.environ.get("GQ_DATA_DIR")
                               or os.path.join(gqspec.REPO, "..", "shared", "data"))
    root = gqspec.runs_root(spec, a.runs_dir)

    # A block with an lr_grid adds its cells at the chosen learning rate once its tuning cells are
    # done: the spec is loaded again with the run folder, and again after each cell.
    def current_cells():
        return selected(load_spec(a, binary, runs=root), a.only)

    spec = load_spec(a, binary, runs=root)
    cells = selected(spec, a.only)
    command = gqspec.command_line(os.path.relpath(os.path.abspath(__file__), gqspec.REPO), a.spec)
    if a.verify > 0:
        return verify(cells, root, binary, data_dir, a.verify, command)
    if a.step_cost > 0:
        if a.step_cost % 4:
            gqspec.die(f"--step-cost {a.step_cost}: a multiple of 4 (the last quarter is timed)")
        os.makedirs(root, exist_ok=True)
        return step_cost(cells, root, binary, data_dir, a.step_cost, command)
    todo = list(cells) if a.force else unfinished(cells, root)
    print_plan(spec, cells, todo, root, binary, data_dir)
    if a.list or a.dry_run:
        list_cells(cells, root, binary, data_dir, a.dry_run)
        return 0
    if not todo:
        print("nothing to do")
        return 0
    rc = run_sweep(a, root, binary, data_dir, todo, command, current_cells)
    if rc:
        return rc
    # Finished tuning cells may have added cells at their chosen learning rate: run those too.
    more = unfinished(current_cells(), root, skip={c["id"] for c in todo})
    if more and a.force:
        print(f"{len(more)} cell(s) at the learning rates the tuning chose: run again without --force")
    elif more:
        print(f"{len(more)} more cell(s) at the learning rates the tuning chose")
        return main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
