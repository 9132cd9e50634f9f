"""Arguments of tools/gpu_check.py (also run as tools/gpu-check.sh). Usage errors exit 2 with a
message naming the flag; see the entry point's docstring for the modes."""
import os
import sys
from typing import List

from . import libs
from .common import PROG, CheckFailed, UsageError
from .settings import DEFAULT_BUDGET_S, STEP_SHARES

STEP_NAMES = [name.replace(" ", "-") for name in STEP_SHARES]  # --steps spells them with dashes

MODES = "choose one of --prepare [--bundle DIR], --run BUNDLE [--out DIR], --dry-run, --find-libs ROOT..."
VALUE_FLAGS = {"--run": "the bundle folder", "--bundle": "a folder", "--out": "a folder",
               "--emu-bin": "a folder", "--budget": "seconds", "--steps": "a comma-separated list of steps"}


def parse(argv: List[str]) -> dict:
    opts = {"mode": "", "bundle": "", "out": "", "emu_bin": "", "budget": "", "steps": "", "quick": False,
            "roots": []}

    def set_mode(mode: str) -> None:
        if opts["mode"]:
            raise UsageError(MODES)
        opts["mode"] = mode

    args = list(argv)
    while args:
        a = args.pop(0)
        if a in ("-h", "--help"):
            return {"mode": "help"}
        if opts["mode"] == "find-libs":
            opts["roots"].append(a)
        elif a in VALUE_FLAGS:
            if not args or not args[0] or args[0].startswith("--"):
                raise UsageError(f"{a} needs {VALUE_FLAGS[a]}")
            value = args.pop(0)
            if a == "--run":
                set_mode("run")
            opts[{"--run": "bundle", "--emu-bin": "emu_bin"}.get(a, a[2:])] = value
        elif a in ("--prepare", "--dry-run", "--find-libs"):
            set_mode(a[2:])
        elif a == "--quick":
            opts["quick"] = True
        else:
            raise UsageError(f"unknown option '{a}' (see --help)")
    check_combinations(opts)
    return opts


def check_combinations(o: dict) -> None:
    mode = o["mode"]
    if not mode:
        raise UsageError(MODES + " (see --help)")
    if mode == "prepare" and o["out"]:
        raise UsageError("--out is for --run and --dry-run")
    if mode == "dry-run" and o["bundle"]:
        raise UsageError("--bundle is for --prepare")
    if mode != "dry-run" and o["emu_bin"]:
        raise UsageError("--emu-bin is for --dry-run")
    if mode == "prepare" and (o["quick"] or o["budget"] or o["steps"]):
        raise UsageError("--quick, --budget and --steps are for --run and --dry-run")
    o["step_list"] = [s for s in o["steps"].split(",") if s]
    unknown = [s for s in o["step_list"] if s not in STEP_NAMES]
    if unknown:
        raise UsageError(f"--steps: unknown step(s) {', '.join(unknown)} (steps: {', '.join(STEP_NAMES)})")
    budget = o["budget"] or os.environ.get("GQ_CHECK_BUDGET_S", "")
    try:
        o["budget_s"] = float(budget) if budget else float(DEFAULT_BUDGET_S)
    except ValueError:
        o["budget_s"] = -1.0
    if o["budget_s"] <= 0:
        raise UsageError(f"--budget (or GQ_CHECK_BUDGET_S) must be a positive number of seconds, got '{budget}'")


def dispatch(o: dict) -> int:
    out = o.get("out") or os.environ.get("OUT") or "gpu-check-out"
    if o["mode"] == "find-libs":
        return libs.main_find_libs(o["roots"])
    if o["mode"] == "prepare":
        from .prepare import prepare
        return prepare(o["bundle"] or "gpu-bundle")
    if o["mode"] == "run":
        from .runstep import run_step
        return run_step(o["bundle"], out, o["quick"], o["budget_s"], o["step_list"])
    from .dryrun import dry_run
    return dry_run(o["emu_bin"], out, o["quick"], o["budget_s"], o["step_list"])


def main(argv: List[str], doc: str) -> int:
    try:
        opts = parse(argv)
        if opts["mode"] == "help":
            print(doc)
            return 0
        return dispatch(opts)
    except UsageError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2
    except CheckFailed as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 1
