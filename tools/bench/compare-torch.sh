#!/usr/bin/env bash
# Training throughput, gradqueue vs PyTorch (CPU), side by side on this machine: the same nets
# (paper-cnn, airbench), batch size and optimizer. gradqueue trains on real CIFAR-10 batches
# (gather + crop + flip on the device); PyTorch on one random batch (no data pipeline at all).
# Usage: tools/bench/compare-torch.sh [BUILD_DIR (default build)] [STEPS (default 30)]
set -euo pipefail
cd "$(dirname "$0")/../.."
build="${1:-build}"
steps="${2:-30}"
export GQ_DATA_DIR="${GQ_DATA_DIR:-$PWD/../shared/data}"
[ -x "$build/bin/gq-train" ] || { echo "compare-torch.sh: $build/bin/gq-train missing; run tools/setup.sh" >&2; exit 2; }
/usr/bin/python3 -c "import torch" 2>/dev/null || { echo "compare-torch.sh: needs Debian's python3-torch (apt-get install python3-torch)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '%-10s %6s %14s %14s %7s\n' model batch gradqueue_img/s pytorch_img/s ratio
for model in paper-cnn airbench; do
  batch=128
  # Log once after `steps` steps (the first log covers the warm-up too: small bias against us).
  "$build/bin/gq-train" --model "$model" --dataset cifar10 --batch-size "$batch" --lr 0.01 \
    --max-steps "$steps" --log-every "$steps" --train-subset $((batch * steps)) --test-subset "$batch" \
    --metrics "$tmp/$model.jsonl" --quiet >/dev/null
  ours=$(/usr/bin/python3 -c "import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; print(round([x for x in r if x['type']=='train'][-1]['images_per_s']))" "$tmp/$model.jsonl")
  /usr/bin/python3 tools/bench/torch_baseline.py --model "$model" --batch-size "$batch" \
    --steps "$steps" >"$tmp/$model.torch.json"
  theirs=$(/usr/bin/python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['images_per_s']))" "$tmp/$model.torch.json")
  printf '%-10s %6s %14s %14s %7.2f\n' "$model" "$batch" "$ours" "$theirs" "$(/usr/bin/python3 -c "print($ours / $theirs)")"
done
/usr/bin/python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(r['framework'], 'threads', r['threads'])" "$tmp/paper-cnn.torch.json"
