#!/usr/bin/env bash
# The main job: set up, then train paper-cnn on CIFAR-10 with Grad Queue (k = 4 clusters).
#   GPU build present: 10 epochs. CPU (emulator) build: 1 epoch (about two minutes of training on
#   a 2-core machine, plus ~15 s to decode the CIFAR-10 archive).
# If CIFAR-10 is not found under $GQ_DATA_DIR (default ../shared/data), trains mnist-cnn on
# Fashion-MNIST from Debian's dataset-fashion-mnist package instead, and says so.
# Extra arguments go to gq-train (e.g. --epochs 3, or --gq-rho 1.25).
# Each run gets its own folder, runs/quickstart/<date-time>/ (checkpoints and metrics.jsonl), and
# runs/quickstart/latest points to the newest. Ctrl-C stops after the current step, writes a
# checkpoint there and prints the command that resumes the run (exit 130); a second Ctrl-C stops
# at once.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
export GQ_DATA_DIR="${GQ_DATA_DIR:-$PWD/../shared/data}"
run="runs/quickstart/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$run"
ln -sfn "$(basename "$run")" runs/quickstart/latest
epochs=1
grep -q "GQ_BUILT_FOR_GPU:INTERNAL=ON" build/CMakeCache.txt && epochs=10
if ls "$GQ_DATA_DIR"/cifar10/cifar-10-* >/dev/null 2>&1 || ls "$GQ_DATA_DIR"/cifar-10-* >/dev/null 2>&1; then
  echo "quickstart: training paper-cnn on CIFAR-10 for $epochs epoch(s); checkpoints and metrics in"
  echo "            $run/ (Ctrl-C saves one and prints how to resume)"
  exec build/bin/gq-train --model paper-cnn --dataset cifar10 --epochs "$epochs" \
    --gradqueue --gq-clusters 4 --metrics "$run/metrics.jsonl" --checkpoint-dir "$run" "$@"
fi
echo "quickstart: CIFAR-10 not found under $GQ_DATA_DIR (put cifar-10-binary.tar.gz or .tar.xz in"
echo "            \$GQ_DATA_DIR/cifar10, see tools/get-data.sh); training mnist-cnn on Fashion-MNIST instead"
exec build/bin/gq-train --model mnist-cnn --dataset fashion-mnist --epochs "$epochs" --lr 0.05 \
  --gradqueue --gq-clusters 4 --metrics "$run/metrics.jsonl" --checkpoint-dir "$run" "$@"
