#!/usr/bin/env bash
# Crash consistency: gq-train killed with SIGKILL at random moments (mid-step, mid-log, mid-
# checkpoint-write), then resumed from its newest checkpoint, again and again until it finishes,
# must end with the same final checkpoint (byte for byte) and the same metrics (but for the run
# headers and the wall-clock fields) as a run that was never interrupted. Usage: test_crash_consistency.sh BIN_DIR [TRIALS]
# (GQ_DATA_DIR: the shared data; GQ_CRASH_SEED: the random kill times, printed for a rerun).
set -u
bin="$1"
trials="${2:-4}"
source "$(dirname "$0")/expect.sh"  # $tmp, comparable_metrics
seed="${GQ_CRASH_SEED:-$$}"
RANDOM=$seed
echo "kill times from GQ_CRASH_SEED=$seed"
export GQ_DATA_DIR="${GQ_DATA_DIR:?GQ_DATA_DIR must point at the shared data}"
run=(--dataset mnist --model mlp --train-subset 512 --test-subset 64 --batch-size 32 --quiet
     --epochs 6 --log-every 2 --checkpoint-every 5 --keep-checkpoints 2)

started=$(date +%s%N)
timeout 120 "$bin/gq-train" "${run[@]}" --checkpoint-dir "$tmp/straight" --metrics "$tmp/straight.jsonl" \
  >/dev/null || { echo "FAIL: the uninterrupted run failed"; exit 1; }
run_ms=$((($(date +%s%N) - started) / 1000000))
echo "uninterrupted run: $run_ms ms"

failed=0 kills=0 in_write=0 restarts=0 reached=""
for trial in $(seq "$trials"); do
  dir="$tmp/t$trial"
  for attempt in $(seq 30); do
    newest=$(ls "$dir"/step*.ckpt 2>/dev/null | sort | tail -1)
    resume=()
    [ -n "$newest" ] && resume=(--resume "$newest")
    "$bin/gq-train" "${run[@]}" --checkpoint-dir "$dir" --metrics "$dir.jsonl" "${resume[@]}" \
      >"$dir.out" 2>&1 &
    pid=$!
    # Two kills per trial, each after a random delay within the uninterrupted run's time: the
    # first at once, the second the moment a checkpoint is next being written (a .ckpt.tmp
    # appears). Then the run may finish.
    if [ "$attempt" -le 2 ]; then
      delay=$(((RANDOM * 32768 + RANDOM) % run_ms))
      sleep "$((delay / 1000)).$(printf %03d $((delay % 1000)))"
      if [ "$attempt" = 2 ]; then
        until compgen -G "$dir/*.ckpt.tmp" >/dev/null || ! kill -0 "$pid" 2>/dev/null; do :; done
      fi
      kill -KILL "$pid" 2>/dev/null && kills=$((kills + 1))
      wait "$pid" 2>/dev/null
      ls "$dir"/*.ckpt.tmp >/dev/null 2>&1 && in_write=$((in_write + 1))
      last=$(ls "$dir"/step*.ckpt 2>/dev/null | sort | tail -1)
      reached+=" $(basename "${last:-none}" .ckpt | sed 's/^step0*//')"
      restarts=$((restarts + 1))
      continue
    fi
    wait "$pid"
    rc=$?
    if [ "$rc" != 0 ]; then
      echo "FAIL trial $trial: the run after the kills exited $rc"
      tail -3 "$dir.out"
      failed=$((failed + 1))
    elif ! cmp -s "$tmp/straight/last.ckpt" "$dir/last.ckpt"; then
      echo "FAIL trial $trial: last.ckpt differs from the uninterrupted run's"
      failed=$((failed + 1))
    elif ! cmp -s <(comparable_metrics "$tmp/straight.jsonl") <(comparable_metrics "$dir.jsonl"); then
      echo "FAIL trial $trial: metrics differ from the uninterrupted run's"
      diff <(comparable_metrics "$tmp/straight.jsonl") <(comparable_metrics "$dir.jsonl") | head -5
      failed=$((failed + 1))
    elif ls "$dir"/*.ckpt.tmp >/dev/null 2>&1; then
      echo "FAIL trial $trial: a .ckpt.tmp was left after a clean run"
      failed=$((failed + 1))
    fi
    break
  done
done
echo "newest checkpoint after each kill (step; none: killed before the first):$reached"
echo "crash consistency: $trials trials, $kills SIGKILLs ($in_write during a checkpoint write)," \
     "$restarts restarts: $((trials - failed)) identical to the uninterrupted run, $failed not"
[ "$failed" = 0 ]
