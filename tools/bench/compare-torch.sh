#!/usr/bin/env bash
# Training throughput, gradqueue vs PyTorch (CPU), side by side on this machine: the same nets,
# batch size, optimizer (Nesterov SGD, lr 0.01, momentum 0.9, weight decay 5e-4) and data: real
# CIFAR-10 images, shuffled, normalised, randomly cropped and flipped, the data step timed on both
# sides (gradqueue on the device, PyTorch in the loop). Each configuration runs twice,
# alternating the two sides, and keeps each side's best (a shared machine's noise only slows).
# Usage: tools/bench/compare-torch.sh [BUILD_DIR (default build)] [STEPS (default 30)]
# THREADS=N: both sides on N threads (default: all cores).
set -euo pipefail
cd "$(dirname "$0")/../.."
build="${1:-build}"
steps="${2:-30}"
threads="${THREADS:-$(nproc)}"
export GQ_DATA_DIR="${GQ_DATA_DIR:-$PWD/../shared/data}"
export CUEMU_WORKERS="$threads" OMP_NUM_THREADS="$threads"
[ -x "$build/bin/gq-train" ] || { echo "compare-torch.sh: $build/bin/gq-train missing; run tools/setup.sh" >&2; exit 2; }
/usr/bin/python3 -c "import torch" 2>/dev/null || { echo "compare-torch.sh: needs Debian's python3-torch (apt-get install python3-torch)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '%-10s %6s %14s %14s %7s\n' model batch gradqueue_img/s pytorch_img/s ratio
best() { /usr/bin/python3 -c "import sys; print(round(max(map(float, sys.argv[1:]))))" "$@"; }
for config in paper-cnn:128 paper-cnn:512 airbench:128; do
  model=${config%:*} batch=${config#*:}
  ours=() theirs=()
  for _ in 1 2; do
    # Log once after `steps` steps (the first log covers the warm-up too: small bias against us).
    "$build/bin/gq-train" --model "$model" --dataset cifar10 --batch-size "$batch" --lr 0.01 \
      --max-steps "$steps" --log-every "$steps" --train-subset $((batch * steps)) \
      --test-subset "$batch" --metrics "$tmp/$model.jsonl" --quiet >/dev/null
    ours+=("$(/usr/bin/python3 -c "import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; print([x for x in r if x['type']=='train'][-1]['images_per_s'])" "$tmp/$model.jsonl")")
    rm -f "$tmp/$model.jsonl"
    /usr/bin/python3 tools/bench/torch_baseline.py --model "$model" --batch-size "$batch" \
      --steps "$steps" --threads "$threads" --data-dir "$GQ_DATA_DIR" >"$tmp/$model.torch.json"
    theirs+=("$(/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['images_per_s'])" "$tmp/$model.torch.json")")
  done
  a=$(best "${ours[@]}") b=$(best "${theirs[@]}")
  printf '%-10s %6s %14s %14s %7.2f\n' "$model" "$batch" "$a" "$b" "$(/usr/bin/python3 -c "print($a / $b)")"
done
/usr/bin/python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(r['framework'], 'threads', r['threads'], 'data', r['data'])" "$tmp/paper-cnn.torch.json"
