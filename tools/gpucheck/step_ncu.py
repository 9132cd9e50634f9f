"""Nsight Compute on the most expensive kernels of one Grad Queue step: pass 1 times every kernel
of the step, then one pass per top kernel with the SpeedOfLight, memory, compute, occupancy and
launch sections. Always with --clock-control none: the lent machine's rules say never change the
GPU's clocks (ncu locks them to base by default). ncu failing is reported, not a failure."""
import glob
import os
import re
import shutil
import sys
from typing import List, Tuple

from .common import REPO, run
from .context import RunContext

sys.path.insert(0, os.path.join(REPO, "tools"))
import ncu_table  # noqa: E402  tools/ncu_table.py: reading ncu CSV exports

CLOCKS = ["--clock-control", "none"]
WORKLOAD = ["--model", "paper-cnn", "--dataset", "cifar10", "--train-subset", "4096", "--test-subset",
            "512", "--batch-size", "512", "--gradqueue", "--gq-clusters", "4", "--profile", "1", "--quiet"]
SECTIONS = ["SpeedOfLight", "MemoryWorkloadAnalysis", "ComputeWorkloadAnalysis", "Occupancy", "LaunchStats"]
TOP_KERNELS = 3


def find_ncu() -> str:
    found = shutil.which("ncu")
    if found:
        return found
    candidates = sorted(glob.glob("/opt/nvidia/nsight-compute/*/ncu")) + ["/usr/local/cuda/bin/ncu"] + \
        sorted(glob.glob("/usr/local/cuda/nsight-compute*/ncu"))
    usable = [c for c in candidates if os.access(c, os.X_OK)]
    return usable[-1] if usable else ""


def timing_pass(ctx: RunContext, ncu: str) -> Tuple[int, str, str]:
    """Pass 1: every kernel's time; (exit, output path, kernel-name base). Kernel names as
    function names where this ncu has --print-kernel-base, full demangled names otherwise. The
    output mixes ncu's messages with the CSV; ncu_table keeps the CSV's quoted lines."""
    out = os.path.join(ctx.work, "ncu-all.csv")
    for base, option in (("function", ["--print-kernel-base", "function"]), ("demangled", [])):
        if os.path.exists(out):
            os.remove(out)
        res = run([ncu, *CLOCKS, "--profile-from-start", "off", *option, "--metrics", "gpu__time_duration.sum",
                   "--csv", "--page", "raw", ctx.binary("gq-train"), *WORKLOAD], ctx.budget.cap(70),
                  env=ctx.env, cwd=ctx.work, log=out)
        with open(out, errors="replace") as f:
            unknown = re.search(r"print-kernel-base|unrecogni[sz]ed|unknown option", f.read())
        if res.rc == 0 or not option or not unknown:
            return res.rc, out, base
        ctx.report.append("ncu.txt", "(this ncu has no --print-kernel-base: full demangled names)\n")
    return res.rc, out, base


def top_kernels(csv_path: str) -> Tuple[List[str], List[str]]:
    """(a per-kernel table, the most expensive kernel names)."""
    rows = ncu_table.read_rows(csv_path)
    stats = ncu_table.kernel_stats(rows)
    total = sum(s["ns"] for s in stats.values()) or 1.0
    ranked = sorted(stats.items(), key=lambda kv: -kv[1]["ns"])
    lines = [f"{len(rows)} kernel launches, {total / 1e3:.1f} us of kernel time in all",
             f"{'kernel':<70} {'calls':>6} {'total us':>10} {'%':>5}"]
    lines += [f"{name[:70]:<70} {s['n']:>6} {s['ns'] / 1e3:>10.1f} {100 * s['ns'] / total:>5.1f}"
              for name, s in ranked[:25]]
    return lines, [name for name, _ in ranked[:TOP_KERNELS]]


def kernel_pass(ctx: RunContext, ncu: str, n: int, kernel: str, base: str) -> None:
    log = os.path.join(ctx.work, f"ncu-pass{n}.txt")
    sections = [a for s in SECTIONS for a in ("--section", s)]
    res = run([ncu, *CLOCKS, "--profile-from-start", "off", "--kernel-name-base", base, "--kernel-name",
               f"regex:^{re.escape(kernel)}$", "--launch-count", "1", *sections,
               ctx.binary("gq-train"), *WORKLOAD], ctx.budget.cap(60), env=ctx.env, cwd=ctx.work, log=log)
    with open(log, errors="replace") as f:
        lines = [x for x in f.read().splitlines() if not x.startswith("==PROF==")][-150:]
    ctx.report.append("ncu.txt", f"\n== pass {n + 1}: {kernel} (first launch in the profiled step) ==\n"
                      + "\n".join(lines) + f"\nexit {res.rc}\n")


def summary_excerpt(ctx: RunContext) -> List[str]:
    with open(ctx.report.path("ncu.txt"), errors="replace") as f:
        text = f.read().splitlines()
    keep = re.compile(r"Duration|DRAM Throughput|Memory Throughput|Compute \(SM\) Throughput|"
                      r"Achieved Occupancy|^== pass [2-9]|^exit [1-9]")
    return [x for x in text if keep.search(x)][:30]


def ncu(ctx: RunContext) -> Tuple[str, bool]:
    tool = "" if not ctx.settings.ncu else find_ncu()
    if not ctx.settings.ncu or not tool:
        why = "emulator (no Nsight Compute)" if not ctx.settings.ncu else \
            "ncu not found (PATH, /opt/nvidia/nsight-compute/*/ncu, /usr/local/cuda/bin)"
        ctx.report.write_file("ncu.txt", f"ncu: skipped: {why}\n")
        ctx.report.section("ncu", f"## Nsight Compute\n\nskipped: {why}\n")
        return f"skipped: {why}", False
    version = run([tool, "--version"], 30).output.strip().splitlines()[-1:]
    ctx.report.write_file("ncu.txt", f"ncu: {tool} ({' '.join(version)}), {' '.join(CLOCKS)}\n"
                          f"workload: gq-train {' '.join(WORKLOAD)} (5 warm-up steps, then 1 Grad Queue step profiled)\n"
                          "\n== pass 1: every kernel of the step, gpu__time_duration.sum ==\n")
    rc, csv_path, base = timing_pass(ctx, tool)
    rows = ncu_table.read_rows(csv_path) if os.path.isfile(csv_path) else []
    if rc != 0 or not rows:
        with open(csv_path, errors="replace") as f:
            err = f.read()
        reason = " ".join(x for x in err.splitlines() if re.search(r"ERR_|==ERROR==|rror", x))[:300]
        result = f"FAILED (exit {rc}): {reason}"
        ctx.report.append("ncu.txt", f"{result}\n\n{err[-4000:]}\n")
        ctx.report.section("ncu", f"## Nsight Compute\n\n{result}\n")
        return result, False
    table, top = top_kernels(csv_path)
    ctx.report.append("ncu.txt", "\n".join(table) + "\n")
    for n, kernel in enumerate(top, start=1):
        if ctx.budget.out_of_time():
            ctx.report.append("ncu.txt", f"kernel {n} ({kernel}): skipped, out of time\n")
            continue
        kernel_pass(ctx, tool, n, kernel, base)
    result = "ok: top kernels " + ",".join(top)[:200]
    ctx.report.section("ncu", "\n".join(["## Nsight Compute", "", result, "", "```", *table[:8],
                                         *summary_excerpt(ctx), "```", ""]))
    return result, False
