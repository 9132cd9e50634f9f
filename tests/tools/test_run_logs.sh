#!/usr/bin/env bash
# Watching a run (issue 27): gq-train's progress in a log file (one plain line per interval) and on
# a terminal (one line redrawn with \r), a resumed run's "resumed from" and "done" lines.
# Usage: test_run_logs.sh BIN_DIR (GQ_DATA_DIR: the shared data).
set -u
bin="$1"
source "$(dirname "$0")/expect.sh"

# 8 steps per epoch, 16 in all, a progress line every 2 steps: 8 lines.
run=(--dataset mnist --model mnist-cnn --train-subset 256 --test-subset 64 --batch-size 32
     --epochs 2 --log-every 2)

# In a file: one plain line per interval, no carriage return.
"$bin/gq-train" "${run[@]}" --checkpoint-dir "$tmp/ck" --checkpoint-every 6 >"$tmp/file.out" 2>&1
[ "$(grep -c '^step ' "$tmp/file.out")" = 8 ] && pass || fail "file: 8 progress lines" "$(cat "$tmp/file.out")"
grep -q $'\r' "$tmp/file.out" && fail "file: a carriage return in the log" "$(cat -A "$tmp/file.out")" || pass
grep -q "^done: 16 of 16 steps in .* s$" "$tmp/file.out" && pass || fail "file: done line" "$(cat "$tmp/file.out")"

# On a terminal (script(1) gives the run a pseudo-terminal): the progress line redraws itself.
script -qec "$(printf '%q ' "$bin/gq-train" "${run[@]}")" /dev/null >"$tmp/tty.out" 2>&1
[ "$(grep -o $'\rstep ' "$tmp/tty.out" | wc -l)" = 8 ] && pass || fail "terminal: 8 redrawn lines" "$(cat -A "$tmp/tty.out")"

# Resumed at step 6: it says so, and its done line counts the 10 steps it ran, of 16.
expect resumed 0 "resumed from step 6 ($tmp/ck/step0000006.ckpt)" \
  "done: 10 of 16 steps in" "(resumed from step 6)" -- \
  "$bin/gq-train" "${run[@]}" --resume "$tmp/ck/step0000006.ckpt"
finish
