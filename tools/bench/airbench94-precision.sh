#!/usr/bin/env bash
# The airbench94 training step (batch 1024) in fp32 and bf16 on this machine's CPU: gradqueue
# (gq-bench, --precision) side by side with PyTorch's CPU autocast (airbench94_torch.py
# --bench-steps, Debian's python3-torch), the same number of threads for both. Two rounds, the sides
# alternating, each configuration's best kept (a shared machine's noise only slows). Prints ms per
# step for the four configurations and the ratios the mixed-precision issue asks for: bf16 vs fp32
# on each side, and gradqueue bf16 vs PyTorch bf16.
# Usage: tools/bench/airbench94-precision.sh [BUILD_DIR (default build)] [SECONDS per gq variant
#        (default 30)] [TORCH_STEPS (default 3)]; THREADS=N (default: all cores).
set -euo pipefail
cd "$(dirname "$0")/../.."
build="${1:-build}" seconds="${2:-30}" torch_steps="${3:-3}"
threads="${THREADS:-$(nproc)}"
export GQ_DATA_DIR="${GQ_DATA_DIR:-$PWD/../shared/data}"
export CUEMU_WORKERS="$threads" OMP_NUM_THREADS="$threads"
[ -x "$build/bin/gq-bench" ] || { echo "airbench94-precision.sh: $build/bin/gq-bench missing" >&2; exit 2; }
/usr/bin/python3 -c "import torch" 2>/dev/null || { echo "airbench94-precision.sh: needs Debian's python3-torch (apt-get install python3-torch)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for round in 1 2; do
  GQ_BENCH_RECIPE=airbench94 GQ_BENCH_BATCH=1024 GQ_BENCH_PRECISION=fp32,bf16 \
    GQ_BENCH_MIN_TIME="$seconds" "$build/bin/gq-bench" --benchmark_filter=k:0 \
    --benchmark_out="$tmp/gq-$round.json" --benchmark_out_format=json >"$tmp/gq-$round.log" 2>&1
  for precision in fp32 bf16; do
    /usr/bin/python3 tools/bench/airbench94_torch.py --threads "$threads" --batch-size 1024 \
      --precision "$precision" --bench-steps "$torch_steps" >"$tmp/torch-$precision-$round.json"
  done
done
/usr/bin/python3 - "$tmp" <<'PY'
import glob, json, os, sys
tmp = sys.argv[1]
best = {}
def keep(key, ms):
    best[key] = min(best.get(key, ms), ms)
for path in glob.glob(os.path.join(tmp, "gq-*.json")):
    for b in json.load(open(path))["benchmarks"]:
        keep("gradqueue " + ("bf16" if "/bf16:1/" in b["name"] else "fp32"), b["real_time"])
for path in glob.glob(os.path.join(tmp, "torch-*.json")):
    r = json.loads(open(path).read().strip().splitlines()[-1])
    keep("pytorch " + r["precision"], r["best_ms"])
for key in ("gradqueue fp32", "gradqueue bf16", "pytorch fp32", "pytorch bf16"):
    print(f"{key:15s} {best[key] / 1000:8.2f} s/step")
print(f"bf16 speed-up: gradqueue {best['gradqueue fp32'] / best['gradqueue bf16']:.2f}x, "
      f"pytorch {best['pytorch fp32'] / best['pytorch bf16']:.2f}x")
print(f"gradqueue vs pytorch: fp32 {best['pytorch fp32'] / best['gradqueue fp32']:.2f}x, "
      f"bf16 {best['pytorch bf16'] / best['gradqueue bf16']:.2f}x (above 1: gradqueue faster)")
PY
