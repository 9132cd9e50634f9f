"""One sweep cell's gq-train run: started fresh, or resumed from the checkpoint a stopped run of it
left; and the stop on SIGINT/SIGTERM that leaves that checkpoint.

A cell checkpoints every N steps into <cell>/checkpoints/ (git-ignored; deleted once the cell is
done). gq-train resumes bit-identically and drops the metrics records after the checkpoint's step
before appending, so a resumed cell's metrics are an uninterrupted run's, timings aside: the time
to a target sums the train records' step times, which a resume keeps, and the first interval after
a resume carries the restart's warm-up. cell.json lists the cell's segments (start, wall time, the
checkpoint it resumed from); `done` sums their wall time.
"""
import json
import os
import shlex
import shutil
import signal
import subprocess
import time

import gqspec

CHECKPOINTS = "checkpoints"


class Stopper:
    """Forwards SIGINT and SIGTERM to the running gq-train processes. Each runs in its own session,
    so a terminal's Ctrl-C reaches it only from here, once: gq-train finishes its step and writes a
    checkpoint; a second signal stops it at once, as it does alone. Once signalled, no cell starts."""

    def __init__(self):
        self.signum = None
        self.children = set()

    def install(self):
        for s in (signal.SIGINT, signal.SIGTERM):
            signal.signal(s, self._on_signal)

    def _on_signal(self, signum, _frame):
        self.signum = signum
        for child in list(self.children):
            child.send_signal(signum)

    @property
    def stopping(self):
        return self.signum is not None


def newest_checkpoint(folder):
    """The step*.ckpt a stopped run of the cell resumes from, or None."""
    try:
        names = sorted(n for n in os.listdir(os.path.join(folder, CHECKPOINTS))
                       if n.startswith("step") and n.endswith(".ckpt"))
    except OSError:
        return None
    return os.path.join(folder, CHECKPOINTS, names[-1]) if names else None


def write_json(path, value):
    """Writes atomically: a reader sees the old file or the new one, never a torn one."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(value, f, indent=1)
    os.replace(tmp, path)


def start_fresh(cell, folder, cmd):
    if os.path.isdir(folder):
        shutil.rmtree(folder)  # an attempt without a checkpoint to resume from: start clean
    os.makedirs(folder)
    write_json(os.path.join(folder, "cell.json"),
               {"id": cell["id"], "flags": cell["flags"], "labels": cell["labels"], "segments": []})
    with open(os.path.join(folder, "command.sh"), "w") as f:
        f.write("#!/bin/sh\n" + shlex.join(cmd) + "\n")


def run_segment(cmd, log_path, stopper):
    """Runs gq-train to its exit (or its stop, when signalled); returns (exit status, wall s)."""
    t0 = time.time()
    with open(log_path, "a") as log:
        child = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        if stopper:
            stopper.children.add(child)
        try:
            rc = child.wait()
        finally:
            if stopper:
                stopper.children.discard(child)
    return rc, time.time() - t0


def add_segment(folder, resumed_from, started, wall):
    """Appends this segment to cell.json; returns the cell's wall time over all its segments."""
    path = os.path.join(folder, "cell.json")
    with open(path) as f:
        meta = json.load(f)
    meta.setdefault("segments", []).append(
        {"started": started, "wall_s": round(wall, 2),
         "resumed_from": os.path.basename(resumed_from) if resumed_from else None})
    write_json(path, meta)
    return sum(s["wall_s"] for s in meta["segments"])


# gq-train's messages when training stops on a non-finite loss or gradient: (where the message
# starts, what it must contain).
DIVERGENCE_MESSAGES = (("training diverged:", "training diverged:"),
                       ("Grad Queue:", "consecutive steps were not applied"))


def divergence(log_path):
    """gq-train's message if the run stopped because training diverged, else None."""
    with open(log_path, errors="replace") as f:
        for line in f:
            for start, needle in DIVERGENCE_MESSAGES:
                if needle in line and start in line:
                    return line[line.index(start):].strip()
    return None


def finish(folder, wall, log_path, rc):
    """Writes `done` for a run that exited (rc 0, or stopped by divergence); (ok, message)."""
    stamp = {"wall_s": round(wall, 2), "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
    if rc != 0:
        diverged = divergence(log_path)
        if not diverged:
            return False, f"gq-train exited with {rc}; log kept in {log_path}"
        # Divergence is an outcome of the cell's flags (the same seed diverges again): record it.
        write_json(os.path.join(folder, "done"), dict(status="diverged", message=diverged, **stamp))
        return True, f"DIVERGED ({diverged})"
    try:
        train, evals = gqspec.read_metrics(os.path.join(folder, "metrics.jsonl"))
    except (OSError, ValueError) as e:
        return False, f"metrics unreadable ({e}); log kept in {log_path}"
    if not evals:
        return False, f"gq-train wrote no test evaluation; log kept in {log_path}"
    last = evals[-1]
    write_json(os.path.join(folder, "done"),
               dict(status="finished", steps=train[-1]["step"] if train else 0,
                    test_accuracy=last["test_accuracy"], test_loss=last["test_loss"], **stamp))
    return True, f"acc {100 * last['test_accuracy']:.2f}% loss {last['test_loss']:.4f}"


def run_cell(cell, folder, binary, data_dir, checkpoint_every=0, stopper=None):
    """Runs one cell, resuming it where a stopped run left a checkpoint; returns (status, wall
    seconds of all its segments, message), status "done", "failed" or "stopped" (by a signal,
    with a checkpoint to resume from when checkpoint_every > 0)."""
    cmd = [binary] + gqspec.argv(cell["flags"]) + ["--data-dir", data_dir,
                                                   "--metrics", os.path.join(folder, "metrics.jsonl")]
    if checkpoint_every > 0:
        cmd += ["--checkpoint-dir", os.path.join(folder, CHECKPOINTS),
                "--checkpoint-every", str(checkpoint_every), "--keep-checkpoints", "2"]
    resume = newest_checkpoint(folder) if checkpoint_every > 0 else None
    if resume is None:
        start_fresh(cell, folder, cmd)
    log_path = os.path.join(folder, "stdout.log")
    if resume:
        with open(log_path, "a") as log:
            log.write(f"\n==== sweep: resuming from {resume} ====\n")
    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    rc, wall = run_segment(cmd + (["--resume", resume] if resume else []), log_path, stopper)
    wall = add_segment(folder, resume, started, wall)
    if stopper and stopper.stopping and rc != 0:
        kept = newest_checkpoint(folder)
        return "stopped", wall, (f"stopped; the next run of the sweep resumes it from {kept}" if kept
                                 else "stopped, without a checkpoint: the next run starts it again")
    ok, msg = finish(folder, wall, log_path, rc)
    if ok:
        shutil.rmtree(os.path.join(folder, CHECKPOINTS), ignore_errors=True)
    return ("done" if ok else "failed"), wall, msg
