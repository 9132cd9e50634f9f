#!/usr/bin/env bash
# Watching a run (issue 27): gq-train's progress in a log file (one plain line per interval) and on
# a terminal (one line redrawn with \r), a resumed run's "resumed from" and "done" lines; the
# JSONL's run header (one per segment, also after a resume and a resume repeated) and timestamps.
# Usage: test_run_logs.sh BIN_DIR (GQ_DATA_DIR: the shared data).
set -u
bin="$1"
source "$(dirname "$0")/expect.sh"

# 8 steps per epoch, 16 in all, a progress line every 2 steps: 8 lines.
run=(--dataset mnist --model mnist-cnn --train-subset 256 --test-subset 64 --batch-size 32
     --epochs 2 --log-every 2)

# In a file: one plain line per interval, no carriage return.
started=$(date +%s)
"$bin/gq-train" "${run[@]}" --checkpoint-dir "$tmp/ck" --checkpoint-every 6 --metrics "$tmp/straight.jsonl" \
  >"$tmp/file.out" 2>&1
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

# The JSONL: its run headers at the steps given, the first one's fields, a time on every record.
check_jsonl() {  # check_jsonl NAME FILE HEADER_STEP...
  local name="$1" file="$2"
  shift 2
  local out
  if out=$(python3 - "$file" "$started" "$(hostname)" "$@" 2>&1 <<'PY'

import json, sys, time
path, started, host, steps = sys.argv[1], int(sys.argv[2]), sys.argv[3], [int(s) for s in sys.argv[4:]]
recs = [json.loads(line) for line in open(path)]
headers = [r for r in recs if r["type"] == "run"]
assert recs[0]["type"] == "run", recs[0]
assert [h["step"] for h in headers] == steps, [h["step"] for h in headers]
h = headers[0]
s = h["settings"]
assert s["model"] == "mnist-cnn" and s["log-every"] == 2, s
assert headers[-1]["settings"]["metrics"] == path, headers[-1]["settings"]
assert "lars-eta" not in s and "gq-qmin" not in s, "settings not in effect recorded"
assert h["version"].count(".") == 2 and h["commit"] not in ("", "unknown"), (h["version"], h["commit"])
assert h["host"] == host and h["device"] and h["ranks"] == 1, h
assert "oneDNN" in h["libraries"]["dnn"] or "cuDNN" in h["libraries"]["dnn"], h["libraries"]
assert all(started - 1 <= r["time"] <= time.time() + 1 for r in recs), "a time outside the run"
for seg in range(len(headers)):  # elapsed_s: from 0 at each header, never going back
    start = recs.index(headers[seg])
    end = recs.index(headers[seg + 1]) if seg + 1 < len(headers) else len(recs)
    elapsed = [r["elapsed_s"] for r in recs[start:end]]
    assert elapsed[0] < 1 and elapsed == sorted(elapsed), elapsed
if len(headers) > 1:
    assert headers[1]["resumed_from"].endswith("step0000006.ckpt"), headers[1]
steps = [r["step"] for r in recs if r["type"] == "train"]
assert steps == list(range(2, 17, 2)), steps
PY
  ); then pass; else fail "$name" "$out"; fi
}
check_jsonl jsonl-fresh "$tmp/straight.jsonl" 0
# Resumed at step 6 in a copy of the file: records after 6 dropped, a second header at 6. Resumed
# from step 6 again (as after a stop before the next checkpoint): that header is replaced, not added.
for attempt in 1 2; do
  cp "$tmp/straight.jsonl" "$tmp/resumed.jsonl"
  [ "$attempt" = 2 ] && cp "$tmp/resumed1.jsonl" "$tmp/resumed.jsonl"
  "$bin/gq-train" "${run[@]}" --quiet --resume "$tmp/ck/step0000006.ckpt" --metrics "$tmp/resumed.jsonl" \
    >/dev/null || 
    fail "resume $attempt into the metrics"
  cp "$tmp/resumed.jsonl" "$tmp/resumed$attempt.jsonl"
  check_jsonl "jsonl-resumed-$attempt" "$tmp/resumed.jsonl" 0 6
  cmp -s <(comparable_metrics "$tmp/straight.jsonl") <(comparable_metrics "$tmp/resumed.jsonl") && pass ||
    fail "jsonl-resumed-$attempt: records differ from the uninterrupted run's" \
      "$(diff <(comparable_metrics "$tmp/straight.jsonl") <(comparable_metrics "$tmp/resumed.jsonl"))"
done
finish
