"""Benchmarks: gq-bench (a training step, plain vs Grad Queue, at the batch sizes and k of the
settings) as its own step, then the kernel benchmarks (gq-bench-*) in what is left. bench.txt and
bench.json are rewritten after every binary; a binary cut short by its timeout is reported, not
failed."""
import glob
import json
import os
from typing import List, Tuple

from . import bench_report
from .common import run
from .context import RunContext


def run_benchmark(ctx: RunContext, name: str, args: List[str], timeout: float, env: dict) -> Tuple[str, bool]:
    """Runs one benchmark binary; returns (problem or "", failed) and rewrites the outputs."""
    out_json = os.path.join(ctx.work, f"{name}.json")
    console = os.path.join(ctx.work, "bench-console.txt")
    with open(console, "a") as f:
        f.write(f"==== {name} (timeout {timeout:.0f} s) ====\n")
    res = run([ctx.binary(name), "--benchmark_format=console", f"--benchmark_out={out_json}",
               "--benchmark_out_format=json", *args], timeout, env=env, cwd=ctx.work, log=console)
    with open(console, "a") as f:
        f.write(f"exit {res.rc}\n")
    ctx.bench_runs.append((name, out_json))
    write_outputs(ctx)
    if res.rc == 124:
        return f"{name}:timeout-{timeout:.0f}s", False
    if res.rc != 0:
        return f"{name}:**FAILED**-exit-{res.rc}", True
    return "", False


def write_outputs(ctx: RunContext) -> List[str]:
    merged = [bench_report.load(name, path) for name, path in ctx.bench_runs]
    ctx.report.write_file("bench.json", json.dumps(merged, indent=1) + "\n")
    table = bench_report.table(merged)
    try:
        with open(os.path.join(ctx.work, "bench-console.txt"), errors="replace") as f:
            console = f.read()
    except OSError:
        console = ""
    ctx.report.write_file("bench.txt", "== summary (from the JSON; bench.json holds every counter) ==\n"
                          + "\n".join(table) + "\n\n== console output ==\n" + console)
    s = ctx.settings
    ctx.report.section("bench", "\n".join([
        "## Benchmarks", "",
        f"gq-bench: GQ_BENCH_BATCH={s.bench_batch} GQ_BENCH_K={s.bench_k} (k:0 = plain) "
        f"GQ_BENCH_PRECISION={s.bench_precision} (bf16:1 = --precision bf16), "
        f"{s.bench_min_time} s of steps per variant; kernel benchmarks --benchmark_min_time="
        f"{s.kernel_min_time}. pct_of_roofline is against the memory peak the device reports "
        "(device_info().memory_bandwidth_gbs).", "", "```", *table[:80], "```", ""]))
    return table


def step_benchmark(ctx: RunContext) -> Tuple[str, bool]:
    s = ctx.settings
    env = dict(ctx.env, GQ_BENCH_BATCH=s.bench_batch, GQ_BENCH_K=s.bench_k,
               GQ_BENCH_MIN_TIME=str(s.bench_min_time), GQ_BENCH_PRECISION=s.bench_precision)
    problem, failed = run_benchmark(ctx, "gq-bench", [], ctx.budget.left(), env)
    return problem or "ok", failed


def kernel_benchmarks(ctx: RunContext) -> Tuple[str, bool]:
    names = sorted(os.path.basename(b) for b in glob.glob(ctx.binary("gq-bench-*")) if os.access(b, os.X_OK))
    extra = []
    if ctx.quick:  # one small benchmark is enough to check the plumbing
        names, extra = [n for n in names if n == "gq-bench-kernels"], ["--benchmark_filter=BM_Case/elementwise/axpy "]
    problems, failed = [], False
    for i, name in enumerate(names):
        if ctx.budget.out_of_time():
            problems.append(f"{name}:out-of-time")
            continue
        share = ctx.budget.left() / (len(names) - i)  # an equal part of what is left for each
        problem, bad = run_benchmark(ctx, name, [f"--benchmark_min_time={ctx.settings.kernel_min_time}", *extra],
                                     share, ctx.env)
        problems += [problem] if problem else []
        failed = failed or bad
    return " ".join(problems) or "ok", failed
