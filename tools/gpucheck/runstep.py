"""--run BUNDLE --out DIR: the GPU check on the device machine (or, for a dry run, here on the
emulator). Needs only the bundle, this tree, the NVIDIA driver and the CUDA libraries. The steps
run in the order of what they tell, each under its own share of the budget; summary.md is
rewritten when a step starts and when it ends, so a call killed at any moment returns what was
measured. Exit 0 when nothing FAILED, 1 otherwise."""
import os
import shutil
import socket
import tempfile
import time
import traceback

from . import step_bench, step_env, step_ncu, step_parity, step_tests, step_train
from .budget import Budget
from .common import UsageError, heading, manifest_value, say
from .context import RunContext
from .report import Report
from .settings import STEP_SHARES, settings_for

STEPS = [  # (row name, function(ctx) -> (result text, failed)), in run order
    ("smoke", step_env.smoke),
    ("data", step_env.unpack_data),
    ("tests", step_tests.gpu_tests),
    ("parity", step_parity.parity),
    ("train", step_train.train),
    ("airbench94", step_train.airbench94),
    ("step benchmark", step_bench.step_benchmark),
    ("kernel benchmarks", step_bench.kernel_benchmarks),
    ("ncu", step_ncu.ncu),
    ("host suites", step_tests.host_suites),
]


def check_bundle(bundle: str) -> str:
    if not os.path.isdir(bundle):
        raise UsageError(f"no bundle folder '{bundle}' (make one with --prepare)")
    manifest = os.path.join(bundle, "manifest.txt")
    if not os.path.isfile(manifest):
        raise UsageError(f"'{bundle}' has no manifest.txt: not a bundle from --prepare")
    kind = manifest_value(manifest, "device")
    if kind not in ("gpu", "emulator"):
        raise UsageError(f"{manifest}: unknown 'device: {kind}' (expected gpu or emulator)")
    return kind


def header(bundle: str, kind: str, quick: bool, budget_s: float) -> list:
    lines = [f"# gpu-check {time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())}", ""]
    if kind == "gpu":
        lines.append(f"Mode: **GPU run** of bundle `{os.path.basename(bundle)}` on {socket.gethostname()}.")
    else:
        lines.append("Mode: **DRY RUN** (no GPU: the emulator build stands in for the GPU build"
                     f"{', --quick sizes' if quick else ''}).")
    for key in ("git", "created", "emulator_reference"):
        lines.append(f"- bundle {key}: {manifest_value(os.path.join(bundle, 'manifest.txt'), key)}")
    lines.append(f"- time budget: {budget_s:.0f} s (--budget, GQ_CHECK_BUDGET_S): the steps run most "
                 "informative first, each under its own timeout drawn from what is left")
    return lines


ALWAYS = ("smoke", "data")  # what every other step needs: binaries, libraries, data


def run_one_step(ctx: RunContext, name: str, fn, only) -> None:
    heading(name)
    if only and name not in ALWAYS and name.replace(" ", "-") not in only:
        ctx.report.record(name, "not asked for (--steps)", 0)
        return
    ctx.report.start(name)
    ctx.budget.begin_step(STEP_SHARES[name])
    start = time.monotonic()
    if ctx.budget.out_of_time():
        ctx.report.record(name, f"skipped: out of time (budget {ctx.budget.total:.0f} s)", 0)
        return
    try:
        result, failed = fn(ctx)
    except Exception as e:  # a bug here must not cost the steps after it
        ctx.report.append("manifest.txt", f"\n## internal error in step {name}\n{traceback.format_exc()}")
        result, failed = f"**FAILED**: internal error {type(e).__name__}: {e} (manifest.txt)", True
    ctx.report.record(name, result, time.monotonic() - start, failed)
    say(f"{name}: {result}")


def run_step(bundle: str, out: str, quick: bool, budget_s: float, only=()) -> int:
    """only: step names (dashes for spaces) to run besides smoke and data; empty: all."""
    kind = check_bundle(bundle)
    bundle = os.path.abspath(bundle)
    budget = Budget(budget_s)
    report = Report(os.path.abspath(out), header(bundle, kind, quick, budget_s), budget)
    mv = lambda key: int(manifest_value(os.path.join(bundle, "manifest.txt"), key) or 0)  # noqa: E731
    work = tempfile.mkdtemp(prefix="gq-check.")
    try:
        ctx = RunContext(bundle=bundle, kind=kind, quick=quick, work=work, budget=budget,
                         report=report, settings=settings_for(kind, quick, mv("data_cifar_train"),
                                                              mv("data_cifar_test")))
        for name, fn in STEPS:
            run_one_step(ctx, name, fn, only)
        report.append("manifest.txt", f"\ntotal: {budget.elapsed():.0f} s\n")
        report.write_summary()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    heading(f"summary ({report.out})")
    with open(report.path("summary.md")) as f:
        say(f.read())
    return 1 if report.failed else 0
