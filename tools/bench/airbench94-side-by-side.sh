#!/usr/bin/env bash
# Complete airbench94 runs, gq-train's recipe and the PyTorch port (airbench94_torch.py) side by
# side: for each seed both start together, one core each, so that whatever else loads the machine
# loads both alike. Accuracy and wall time of complete runs, as docs/PERF.md reports them.
#
#   GQ_DATA_DIR=DATA tools/bench/airbench94-side-by-side.sh BUILD OUT SEED...
#   TORCH=0 ...   gq-train only (e.g. the seeds that only count for accuracy)
#   GQ_ARGS="--precision bf16" ...   more gq-train flags (word-split)
#
# After a gq-train seed: gq-eval on the first 1,000 test images, the only ones this machine's
# CIFAR-10 holds exactly (the rest were decoded from JPEG; docs/PERF.md), into
# OUT/gq-sN-exact1000.json (when BUILD/bin has gq-eval).
# Resumable: gq-train continues from the newest checkpoint in OUT/gq-sN/, the PyTorch port from
# its last whole epoch (OUT/torch-sN.state), and a finished seed (OUT/gq-sN/last.ckpt,
# OUT/torch-sN.json) is skipped. OUT/times.tsv gets one line per process: side, seed, first step,
# wall seconds, rc.
set -uo pipefail
[ $# -ge 3 ] || { sed -n 2,11p "$0" >&2; exit 2; }
build=$1 out=$2
shift 2
mkdir -p "$out"
export CUEMU_WORKERS=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
here=$(cd "$(dirname "$0")" && pwd)

timed() {  # timed SIDE SEED FIRST_STEP COMMAND...: runs COMMAND, appends its wall time
  local side=$1 seed=$2 first=$3 t0 rc
  shift 3
  t0=$(date +%s.%N)
  "$@"
  rc=$?
  awk -v a="$t0" -v b="$(date +%s.%N)" -v s="$side" -v n="$seed" -v f="$first" -v r="$rc" \
    'BEGIN { printf "%s\t%s\t%s\t%.1f\t%s\n", s, n, f, b - a, r }' >> "$out/times.tsv"
  return "$rc"
}

run_gq() {  # run_gq SEED: a fresh run, or the newest checkpoint's continuation
  local dir="$out/gq-s$1" resume=() first=0 newest
  [ -f "$dir/last.ckpt" ] && return 0
  newest=$(ls -1 "$dir"/step*.ckpt 2>/dev/null | sort -V | tail -n 1)
  if [ -n "$newest" ]; then
    resume=(--resume "$newest")
    first=$(basename "$newest" .ckpt | tr -dc 0-9 | sed 's/^0*//')
  fi
  timed gq "$1" "${first:-0}" "$build/bin/gq-train" --recipe airbench94 --seed "$1" \
    --checkpoint-dir "$dir" --checkpoint-every 48 --metrics "$out/gq-s$1.jsonl" "${resume[@]}" \
    ${GQ_ARGS:-} \
    >> "$out/gq-s$1.log" 2>&1
}

exact_subset() {  # exact_subset SEED: the finished run on the exact test images
  local json="$out/gq-s$1-exact1000.json"
  if [ -s "$json" ] || [ ! -x "$build/bin/gq-eval" ] || [ ! -f "$out/gq-s$1/last.ckpt" ]; then
    return 0
  fi
  "$build/bin/gq-eval" "$out/gq-s$1/last.ckpt" --test-subset 1000 --tta-level 2 --json \
    > "$json.tmp" 2>> "$out/gq-s$1.log" && mv "$json.tmp" "$json"
}

run_torch() {  # run_torch SEED
  [ -s "$out/torch-s$1.json" ] && return 0
  timed torch "$1" 0 /usr/bin/python3 "$here/airbench94_torch.py" --seed "$1" --threads 1 \
    --metrics "$out/torch-s$1.jsonl" --state "$out/torch-s$1.state" \
    > "$out/torch-s$1.json.tmp" 2>> "$out/torch-s$1.log" &&
    mv "$out/torch-s$1.json.tmp" "$out/torch-s$1.json"
}

for seed in "$@"; do
  [ "${TORCH:-1}" = 0 ] || run_torch "$seed" &
  run_gq "$seed" && exact_subset "$seed"
  wait
done
