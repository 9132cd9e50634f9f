#!/usr/bin/env python3
"""Per-kernel table from an Nsight Compute CSV export (ncu --csv --page raw --metrics ...).

Columns used: Kernel Name, gpu__time_duration.sum (ns), dram__bytes_read.sum and
dram__bytes_write.sum (bytes), sm__warps_active.avg.pct_of_peak_sustained_active (%).
Usage: tools/ncu_table.py export.csv
"""
import csv
import sys
from collections import defaultdict


def number(text):
    try:
        return float(str(text).replace(",", ""))
    except ValueError:
        return 0.0


def read_rows(path):
    """The kernel rows of an ncu --csv --page raw export (ncu's ==PROF== lines and the units row
    after the header dropped)."""
    with open(path, newline="", errors="replace") as f:
        lines = [line for line in f if line.startswith('"')]
    return [r for r in csv.DictReader(lines) if str(r.get("ID", "")).strip().isdigit()]


def kernel_stats(rows):
    """Per kernel name: calls, total ns, DRAM bytes and summed occupancy %."""
    stats = defaultdict(lambda: {"n": 0, "ns": 0.0, "bytes": 0.0, "occ": 0.0})
    for r in rows:
        s = stats[r.get("Kernel Name", "?")]
        s["n"] += 1
        s["ns"] += number(r.get("gpu__time_duration.sum", 0))
        s["bytes"] += number(r.get("dram__bytes_read.sum", 0)) + number(r.get("dram__bytes_write.sum", 0))
        s["occ"] += number(r.get("sm__warps_active.avg.pct_of_peak_sustained_active", 0))
    return stats


def main(path):
    rows = read_rows(path)
    if not rows:
        sys.exit(f"{path}: no rows (was it exported with --csv --page raw?)")
    stats = kernel_stats(rows)
    total = sum(s["ns"] for s in stats.values()) or 1.0
    print(f"{'kernel':<60} {'calls':>6} {'total ms':>9} {'%':>5} {'mean us':>9} {'GB/s':>8} {'occ %':>6}")
    for name, s in sorted(stats.items(), key=lambda kv: -kv[1]["ns"]):
        gbs = s["bytes"] / s["ns"] if s["ns"] else 0.0  # bytes per ns == GB/s
        print(f"{name[:60]:<60} {s['n']:>6} {s['ns'] / 1e6:>9.3f} {100 * s['ns'] / total:>5.1f} "
              f"{s['ns'] / s['n'] / 1e3:>9.2f} {gbs:>8.1f} {s['occ'] / s['n']:>6.1f}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
