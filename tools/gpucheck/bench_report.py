"""Google Benchmark JSON files merged into bench.json, and the table bench.txt and summary.md
show: the step variants with images/s and x_plain, the kernels with GB/s and pct_of_roofline
where they report them."""
import json
from typing import Dict, List


def load(name: str, path: str) -> Dict:
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:  # a benchmark cut short leaves no or half a file
        return {"binary": name, "error": str(e)}
    data["binary"] = name
    return data


def _extras(b: Dict) -> List[str]:
    extra = []
    if "images_per_s" in b:
        extra.append(f"{b['images_per_s']:,.0f} img/s")
    if "x_plain" in b:
        extra.append(f"x_plain {b['x_plain']:.2f}")
    if "bytes_per_second" in b:
        extra.append(f"{b['bytes_per_second'] / 1e9:,.1f} GB/s")
    if "pct_of_roofline" in b:
        extra.append(f"{b['pct_of_roofline']:.1f}% of roofline")
    if "items_per_second" in b:
        extra.append(f"{b['items_per_second']:,.3g} items/s")
    for k, v in b.items():
        if k.startswith(("flops", "tflops", "gflops", "pct_")) and k != "pct_of_roofline":
            extra.append(f"{k} {v:,.3g}")
    return extra


def table(merged: List[Dict]) -> List[str]:
    lines = []
    for data in merged:
        if "error" in data:
            lines.append(f"{data['binary']}: no results ({data['error']})")
            continue
        rows = [b for b in data.get("benchmarks", []) if b.get("run_type", "iteration") == "iteration"]
        lines.append(f"{data['binary']} ({len(rows)} benchmarks)")
        for b in rows:
            label = f" [{b['label']}]" if b.get("label") else ""
            lines.append(f"  {b['name']:<58} {b.get('real_time', 0.0):>11.4g} {b.get('time_unit', 'ns'):<2}"
                         f"{label}  {'  '.join(_extras(b))}")
    return lines
