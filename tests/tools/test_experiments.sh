#!/bin/bash
# Fast test of tools/experiments: runs the smoke spec (10 tiny MNIST cells) into a temp dir, checks
# the cell folders, that a rerun skips every cell, that a failing gq-train stops the sweep with its
# log kept, that a cell rerun alone gives the same metrics (same seed -> same numbers), that
# --verify confirms stored runs and catches a changed one, that two sweeps of disjoint cells may
# share a results folder, that a killed sweep has recorded the cells it finished, that a sweep
# stopped by SIGTERM resumes its cell from a checkpoint to the same metrics, that
# --step-cost times every arm, and that report.py writes a markdown table, findings and PNGs. Usage: test_experiments.sh BIN_DIR
# Needs GQ_DATA_DIR with mnist/, and /usr/bin/python3 with numpy and matplotlib.
set -u
BIN=${1:?usage: $0 BIN_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PY=/usr/bin/python3
SWEEP="$REPO/tools/experiments/sweep.py"
REPORT="$REPO/tools/experiments/report.py"
SPEC="$REPO/tools/experiments/specs/smoke.toml"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
check() { # name, then a command that must succeed
  local name=$1
  shift
  if "$@" >>"$T/check.log" 2>&1; then
    pass=$((pass + 1))
    echo "ok   $name"
  else
    fail=$((fail + 1))
    echo "FAIL $name"
  fi
}

if [ ! -x "$BIN/gq-train" ]; then
  echo "no $BIN/gq-train"
  echo "0 passed, 1 failed"
  exit 1
fi
export GQ_DATA_DIR=${GQ_DATA_DIR:-$REPO/../shared/data}

"$PY" "$SWEEP" "$SPEC" --runs-dir "$T/runs" --bin "$BIN/gq-train" >"$T/sweep1.out" 2>&1
rc=$?
check "sweep exits 0" test $rc -eq 0
[ $rc -eq 0 ] || tail -30 "$T/sweep1.out"
R="$T/runs/smoke"
ncells=$(find "$R" -mindepth 1 -maxdepth 1 -type d | wc -l)
check "10 cell folders" test "$ncells" -eq 10
check "every cell has done, metrics, command, log, cell.json" bash -c '
  for d in "$1"/*/; do
    for f in done metrics.jsonl command.sh stdout.log cell.json; do test -s "$d/$f" || exit 1; done
  done' _ "$R"
check "progress shows i/N and ETA" grep -q '^\[10/10\] done .* ETA' "$T/sweep1.out"
check "sweep.json records the command" grep -q 'sweep.py' "$R/sweep.json"
check "Grad Queue cells log gradqueue stats" bash -c \
  'grep -l "\"gradqueue\":{" "$1"/*/metrics.jsonl | wc -l | grep -qx 6' _ "$R"

# A rerun skips every finished cell.
"$PY" "$SWEEP" "$SPEC" --runs-dir "$T/runs" --bin "$BIN/gq-train" >"$T/sweep2.out" 2>&1
check "rerun exits 0" test $? -eq 0
check "rerun skips all 10 cells" grep -q '10 already done, 0 to run' "$T/sweep2.out"

# An unfinished cell (no done marker) is rerun, and only it.
one=$(basename "$(dirname "$(grep -l "\"gradqueue\":{" "$R"/*/metrics.jsonl | head -1)")")
cp "$R/$one/metrics.jsonl" "$T/metrics.before"
rm "$R/$one/done"
"$PY" "$SWEEP" "$SPEC" --runs-dir "$T/runs" --bin "$BIN/gq-train" >"$T/sweep3.out" 2>&1
check "an unfinished cell is rerun alone" grep -q '9 already done, 1 to run' "$T/sweep3.out"
# Same seed -> same numbers (run headers, times and images/s aside).
strip() { grep -v '"type":"run"' "$1" | sed -E 's/"(elapsed_s|images_per_s|time)":[0-9.eE+-]+,?//g'; }
check "rerun cell gives identical metrics" cmp -s <(strip "$T/metrics.before") <(strip "$R/$one/metrics.jsonl")

# --verify reruns finished cells elsewhere and compares; a changed stored metric is caught.
"$PY" "$SWEEP" "$SPEC" --runs-dir "$T/runs" --bin "$BIN/gq-train" --verify 2 >"$T/verify.out" 2>&1
rc=$?
check "verify: 2 reruns identical, exit 0" bash -c "test $rc -eq 0 && grep -q '2 of 2 reruns identical' '$T/verify.out'"
check "verify: recorded in verify.json" grep -q '"identical": true' "$R/verify.json"
cp -r "$T/runs" "$T/tampered"
sed -i -E '0,/"loss":/s/"loss":[0-9.]+/"loss":9.5/' "$T/tampered/smoke/$one/metrics.jsonl"
"$PY" "$SWEEP" "$SPEC" --runs-dir "$T/tampered" --bin "$BIN/gq-train" --only "$one" --verify 1 >"$T/verify2.out" 2>&1
rc=$?
check "verify: a changed metric is reported, exit 1" bash -c "test $rc -eq 1 && grep -q 'metrics DIFFER' '$T/verify2.out' && grep -q '0 of 1 reruns identical' '$T/verify2.out'"

# Two sweeps of disjoint cells at once on one results folder: both invocations stay in sweep.json.
"$PY" "$SWEEP" "$SPEC" --runs-dir "$T/pair" --bin "$BIN/gq-train" --only "b16 plain seed 0" >"$T/pair1.out" 2>&1 &
"$PY" "$SWEEP" "$SPEC" --runs-dir "$T/pair" --bin "$BIN/gq-train" --only "b32 plain seed 0" >"$T/pair2.out" 2>&1
rc2=$?
wait $!
rc1=$?
check "concurrent sweeps: both exit 0, both finished in sweep.json" bash -c "test $rc1 -eq 0 && test $rc2 -eq 0 &&
  $PY -c 'import json,sys; h=json.load(open(sys.argv[1])); sys.exit(not (len(h) == 2 and all(e[\"cells_run\"] == 1 and e[\"wall_s\"] is not None for e in h)))' '$T/pair/smoke/sweep.json'"

# A sweep killed part-way (a session's end) has still recorded the cells it finished.
"$PY" "$SWEEP" "$SPEC" --runs-dir "$T/killed" --bin "$BIN/gq-train" --only "plain" >"$T/killed.out" 2>&1 &
sweep_pid=$!
for _ in $(seq 600); do grep -q '^\[1/[0-9]*\] done' "$T/killed.out" && break; sleep 0.1; done
kill -9 $sweep_pid
wait $sweep_pid 2>/dev/null
check "killed sweep: sweep.json counts the cell it finished" \
  $PY -c 'import json,sys; h=json.load(open(sys.argv[1])); sys.exit(not (len(h) == 1 and h[0]["cells_run"] >= 1 and h[0]["wall_s"] is not None))' "$T/killed/smoke/sweep.json"

# A sweep stopped by SIGTERM (or Ctrl-C) forwards it: gq-train checkpoints and the sweep exits
# 143; run again, the cell resumes there and its metrics equal an uninterrupted run's.
sed 's/^max-steps = 4/max-steps = 60/' "$SPEC" >"$T/long.toml"
one_cell=(--only "b16 plain seed 0")
"$PY" "$SWEEP" "$T/long.toml" --runs-dir "$T/straight" --bin "$BIN/gq-train" "${one_cell[@]}" \
  --checkpoint-every 0 >"$T/straight.out" 2>&1
"$PY" "$SWEEP" "$T/long.toml" --runs-dir "$T/stop" --bin "$BIN/gq-train" "${one_cell[@]}" \
  --checkpoint-every 5 >"$T/stop1.out" 2>&1 &
sweep_pid=$!
for _ in $(seq 600); do ls "$T"/stop/smoke/*/checkpoints/step*.ckpt >/dev/null 2>&1 && break; sleep 0.1; done
kill -TERM $sweep_pid
wait $sweep_pid
rc=$?
cell=$(ls -d "$T"/stop/smoke/*/ | head -1)
check "stopped sweep: exit 143, says the cell resumes from its checkpoint" bash -c \
  "test $rc -eq 143 && grep -q 'STOPPED .* resumes it from .*step[0-9]*.ckpt' '$T/stop1.out' && ! test -e '$cell/done'"
check "stopped sweep: sweep.json records the signal" \
  $PY -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))[0].get("stopped_by") != 15)' "$T/stop/smoke/sweep.json"
check "stopped sweep: --list shows the cell's checkpoint" bash -c \
  "'$PY' '$SWEEP' '$T/long.toml' --runs-dir '$T/stop' --only 'b16 plain seed 0' --list | grep -q 'unfinished, checkpoint step[0-9]*.ckpt'"
"$PY" "$SWEEP" "$T/long.toml" --runs-dir "$T/stop" --bin "$BIN/gq-train" "${one_cell[@]}" \
  --checkpoint-every 5 >"$T/stop2.out" 2>&1
rc=$?
check "stopped sweep: the rerun resumes the cell and finishes it" bash -c \
  "test $rc -eq 0 && grep -q 'sweep: resuming from' '$cell/stdout.log' && test -e '$cell/done' && ! test -e '$cell/checkpoints'"
check "stopped sweep: two segments in cell.json" \
  $PY -c 'import json,sys; sys.exit(len(json.load(open(sys.argv[1]))["segments"]) != 2)' "$cell/cell.json"
check "stopped sweep: metrics equal the uninterrupted run's" \
  cmp -s <(strip "$cell/metrics.jsonl") <(strip "$(ls -d "$T"/straight/smoke/*/)/metrics.jsonl")

# A run that diverges is an outcome, not a failure: recorded as done/diverged, reported as such.
sed 's/lr_base = 0.05/lr_base = 1e5/' "$SPEC" >"$T/diverge.toml"
"$PY" "$SWEEP" "$T/diverge.toml" --runs-dir "$T/div" --bin "$BIN/gq-train" --only "b16 plain seed 0" >"$T/div.out" 2>&1
rc=$?
check "diverged cell: exit 0, said so" bash -c "test $rc -eq 0 && grep -q 'DIVERGED (training diverged: the mean training loss' '$T/div.out'"
check "diverged cell: done with status diverged" bash -c 'grep -q "\"status\": \"diverged\"" "$1"/smoke/*/done' _ "$T/div"
"$PY" "$REPORT" "$T/diverge.toml" --runs-dir "$T/div" --out "$T/div-doc/RESULTS.md" >"$T/div-report.out" 2>&1
check "diverged cell: report counts it" bash -c "grep -q '1 finished\*\* (1 of them diverged)' '$T/div-doc/RESULTS.md' && grep -q '| 16 | plain | 0/2 (+1 diverged) |' '$T/div-doc/RESULTS.md'"

# A failing gq-train stops the sweep, says so, and keeps the log; no done marker.
cat >"$T/bad-train" <<'BAD'
#!/bin/sh
case "$*" in *--help*) exec "$GQ_REAL" --help ;; esac
echo "simulated failure" ; exit 3
BAD
chmod +x "$T/bad-train"
GQ_REAL="$BIN/gq-train" "$PY" "$SWEEP" "$SPEC" --runs-dir "$T/bad" --bin "$T/bad-train" >"$T/bad.out" 2>&1
rc=$?
check "failing gq-train: exit non-zero" test $rc -ne 0
check "failing gq-train: message names the log" grep -q 'exited with 3; log kept in' "$T/bad.out"
check "failing gq-train: log kept, no done" bash -c \
  'd=$(ls -d "$1"/smoke/*/ | head -1); grep -q "simulated failure" "$d/stdout.log" && ! test -e "$d/done"' _ "$T/bad"
check "failing gq-train: stops after the first cell" bash -c \
  'test "$(ls -d "$1"/smoke/*/ | wc -l)" -eq 1' _ "$T/bad"

# A bad spec is rejected before anything runs.
sed 's/gq-clusters = 4/gq-klusters = 4/' "$SPEC" >"$T/badspec.toml"
"$PY" "$SWEEP" "$T/badspec.toml" --runs-dir "$T/bad2" --bin "$BIN/gq-train" >"$T/badspec.out" 2>&1
rc=$?
check "unknown flag in spec rejected" bash -c "test $rc -ne 0 && grep -q 'not a gq-train flag' '$T/badspec.out' && ! test -e '$T/bad2'"
# Accuracies are fractions: a target 100 points below the baseline (minus = 1.0) is a typo.
sed 's/^train-subset = 256/train-subset = 256\ntarget_from = { optimizer = "momentum", method = "plain", batch = 16, minus = 1.0 }/' \
  "$SPEC" >"$T/badminus.toml"
"$PY" "$SWEEP" "$T/badminus.toml" --runs-dir "$T/bad4" --list >"$T/badminus.out" 2>&1
rc=$?
check "target_from.minus of 100 points rejected" bash -c \
  "test $rc -ne 0 && grep -q 'target_from.minus = 1.0: a fraction of accuracy' '$T/badminus.out'"
sed 's/compare_to = "gq-k4"/compare_to = "gq-k16"/' "$SPEC" >"$T/badspec2.toml"
"$PY" "$SWEEP" "$T/badspec2.toml" --runs-dir "$T/bad3" --bin "$BIN/gq-train" >"$T/badspec2.out" 2>&1
rc=$?
check "compare_to outside the block's methods rejected" bash -c "test $rc -ne 0 && grep -q \"compare_to 'gq-k16' is not one of its methods\" '$T/badspec2.out'"

# Learning-rate tuning: the tuning cells run first (on the held-out validation slice), then the
# spec's seeds at the multiplier with the best validation accuracy.
TUNE="$REPO/tools/experiments/specs/smoke-tune.toml"
"$PY" "$SWEEP" "$TUNE" --runs-dir "$T/tune" --bin "$BIN/gq-train" >"$T/tune.out" 2>&1
rc=$?
check "tuning sweep exits 0, then runs the chosen lr" bash -c \
  "test $rc -eq 0 && grep -q '2 more cell(s) at the learning rates the tuning chose' '$T/tune.out'"
check "tuning: 3 tuning + 2 final cells" test "$(ls -d "$T"/tune/smoke-tune/*/ | wc -l)" -eq 5
check "tuning: the final cells use the tuning cell lr with the best validation accuracy" "$PY" - "$T/tune/smoke-tune" <<'PYEOF'
import json, os, sys
root = sys.argv[1]
tune, final = {}, set()
for cid in os.listdir(root):
    d = os.path.join(root, cid)
    if not os.path.isdir(d):
        continue
    cell = json.load(open(os.path.join(d, "cell.json")))
    evals = [json.loads(l) for l in open(os.path.join(d, "metrics.jsonl")) if '"eval"' in l]
    if cell["labels"][0]["stage"] == "tune":
        tune[cell["flags"]["lr"]] = evals[-1]["val_accuracy"]
    else:
        final.add(cell["flags"]["lr"])
best = max(sorted(tune), key=lambda lr: tune[lr])
assert len(tune) == 3 and final == {best}, (tune, final)
PYEOF
"$PY" "$SWEEP" "$TUNE" --runs-dir "$T/tune" --bin "$BIN/gq-train" >"$T/tune2.out" 2>&1
check "tuning: a rerun has nothing to do" grep -q '5 already done, 0 to run' "$T/tune2.out"

# The report.
"$PY" "$REPORT" "$SPEC" --runs-dir "$T/runs" --out "$T/doc/RESULTS.md" >"$T/report.out" 2>&1
check "report exits 0" test $? -eq 0
[ -s "$T/doc/RESULTS.md" ] || cat "$T/report.out"
check "report has a markdown table" grep -q '^| dataset | model | optimizer | batch | method | n | test acc %' "$T/doc/RESULTS.md"
check "report rows with mean ± std" grep -qE '^\| mnist \| mnist-cnn \| momentum \| 32 \| gq-k4 \| 2 \| [0-9.]+ ± [0-9.]+' "$T/doc/RESULTS.md"
check "report shows the sweep command" grep -q 'tools/experiments/sweep.py' "$T/doc/RESULTS.md"
check "report shows the binary as \$BIN, not this machine's path" bash -c '
  grep -q -- "--bin \$BIN/gq-train" "$0" && ! grep -q -- "--bin /" "$0"' "$T/doc/RESULTS.md"
check "report quotes the reproducibility check" grep -q 'reran 2 finished cells from scratch; \*\*2 of 2\*\*' "$T/doc/RESULTS.md"
check "report has a findings section" grep -q '^## What the numbers show' "$T/doc/RESULTS.md"
check "findings count the rows against plain" grep -qE '^\*\*Overall\*\*: of 3 distinct Grad Queue rows, [0-9] better' "$T/doc/RESULTS.md"
check "compare_to adds a column and a finding" bash -c \
  "grep -q '| Δ acc vs gq-k4 |' '$T/doc/RESULTS.md' && grep -q '^  - \`gq-clustering-only\`: [+-][0-9.]* points' '$T/doc/RESULTS.md'"
npng=$(find "$T/doc/results/smoke" -name '*.png' -size +1k | wc -l)
check "report wrote PNGs (3)" test "$npng" -eq 3
check "PNGs are PNG" bash -c 'for f in "$1"/*.png; do head -c 8 "$f" | od -An -c | grep -q "P   N   G" || exit 1; done' _ "$T/doc/results/smoke"
check "report links its PNGs" grep -q '](results/smoke/acc-vs-batch_main_mnist.png)' "$T/doc/RESULTS.md"
cp "$T/doc/RESULTS.md" "$T/RESULTS.first"
"$PY" "$REPORT" "$SPEC" --runs-dir "$T/runs" --out "$T/doc/RESULTS.md" >/dev/null 2>&1
check "report is reproducible" bash -c "diff <(grep '^|' '$T/RESULTS.first') <(grep '^|' '$T/doc/RESULTS.md')"

# The steps-to-target study (specs/smoke-scale.toml, the pattern of specs/scale.toml): results go to a
# tracked folder (the spec's runs_dir), and a clone that holds only the tracked files resumes.
SCALE="$REPO/tools/experiments/specs/smoke-scale.toml"
"$PY" "$SWEEP" "$SCALE" --bin "$BIN/gq-train" --list >"$T/scale-list.out" 2>&1
check "scale: runs_dir puts the cells in the tracked results/ folder" grep -q -- "-> $REPO/results/smoke-scale\$" "$T/scale-list.out"
check "scale: results/.gitignore keeps logs and checkpoints out, metrics in" bash -c \
  "cd '$REPO' && git check-ignore -q results/x/y/stdout.log && git check-ignore -q results/x/y/step10.ckpt && ! git check-ignore -q results/x/y/metrics.jsonl && ! git check-ignore -q results/x/y/done"
# steps_to / reach_stats on a known metrics history: the first eval at or above the target.
check "scale: steps to target from a known history" "$PY" - "$REPO/tools/experiments" <<'PYEOF'
import sys
sys.path.insert(0, sys.argv[1])
import target_report as tr
run = {"diverged": False, "evals": [{"step": 5, "test_accuracy": 0.5}, {"step": 10, "test_accuracy": 0.8},
                                    {"step": 15, "test_accuracy": 0.79}, {"step": 20, "test_accuracy": 0.9}]}
assert tr.steps_to(run, 0.8) == 10 and tr.steps_to(run, 0.85) == 20 and tr.steps_to(run, 0.95) is None
assert tr.steps_to({"diverged": True}, 0.1) is None
m, s, k, n = tr.reach_stats([run, dict(run, evals=run["evals"][:1] + run["evals"][3:])], 0.8)
assert (m, k, n) == (15, 2, 2) and abs(s - 7.0710678) < 1e-6, (m, s, k, n)
assert tr.reach_text(*tr.reach_stats([run, {"diverged": True}], 0.8)) == "10 (1/2 reached)"
assert tr.reach_text(*tr.reach_stats([run], 0.99)) == "not reached (0/1)"
# Training time per step from images/s, evaluation left out: 10 steps at 100 img/s + 10 at 50, batch 10.
assert abs(tr.train_s_per_step({"train": [{"step": 10, "images_per_s": 100.0},
                                          {"step": 20, "images_per_s": 50.0}]}, 10) - 0.15) < 1e-12
assert tr.claim_verdict([{"verdict": "better"}, {"verdict": "better"}, {"verdict": "worse"}]) == "supports"
assert tr.claim_verdict([{"verdict": "includes 0"}, {"verdict": "worse"}]) == "contradicts"
assert tr.claim_verdict([{"verdict": "includes 0"}, {"verdict": "better"}]) == "cannot decide"
PYEOF
# Welch intervals (t quantiles, the textbook example, a difference of differences) and the report's
# rules built on them: the moonshot's censored seeds and its control (issue 28).
check "scale: Welch intervals and the moonshot rule (test_welch.py)" "$PY" "$REPO/tests/tools/test_welch.py"
"$PY" "$SWEEP" "$SCALE" --runs-dir "$T/res" --bin "$BIN/gq-train" >"$T/scale1.out" 2>&1
rc=$?
check "scale: sweep exits 0 with 24 cells (12 tuning, 12 final)" bash -c \
  "test $rc -eq 0 && test \$(ls -d '$T'/res/smoke-scale/*/ | wc -l) -eq 24"
[ $rc -eq 0 ] || tail -20 "$T/scale1.out"
# A fresh clone: only the tracked files (no stdout.log); resuming runs nothing, even with a gq-train
# that would fail.
mkdir -p "$T/clone" && cp -r "$T/res" "$T/clone/" && find "$T/clone" -name stdout.log -delete
GQ_REAL="$BIN/gq-train" "$PY" "$SWEEP" "$SCALE" --runs-dir "$T/clone/res" --bin "$T/bad-train" >"$T/scale2.out" 2>&1
check "scale: a clone of the tracked files resumes with nothing to run" bash -c \
  "test $? -eq 0 && grep -q '24 already done, 0 to run' '$T/scale2.out'"
# A done marker without its metrics (a partial commit) is not a finished cell: that cell reruns.
gone=$(ls -d "$T"/clone/res/smoke-scale/*/ | head -1)
rm "$gone/metrics.jsonl"
"$PY" "$SWEEP" "$SCALE" --runs-dir "$T/clone/res" --bin "$BIN/gq-train" >"$T/scale3.out" 2>&1
check "scale: a cell whose metrics are missing is rerun alone" bash -c \
  "test $? -eq 0 && grep -q '23 already done, 1 to run' '$T/scale3.out' && test -s '$gone/metrics.jsonl'"
"$PY" "$REPORT" "$SCALE" --runs-dir "$T/res" --out "$T/sdoc/RESULTS-scale.md" >"$T/scale-report.out" 2>&1
check "scale report: exits 0, complete" bash -c "test $? -eq 0 && grep -q '^\*\*Complete: 24 of 24 cells finished\*\*' '$T/sdoc/RESULTS-scale.md'"
[ -s "$T/sdoc/RESULTS-scale.md" ] || cat "$T/scale-report.out"
check "scale report: moonshot answer and three claim lines (no AdamW arm: not in this study)" bash -c "
  grep -qE '^\*\*Answer: (yes|no|cannot decide)\*\*' '$T/sdoc/RESULTS-scale.md' &&
  test \$(grep -cE '^- \*\*(Grad Queue beats|More clusters)[^:]*: (supports|contradicts|cannot decide)' '$T/sdoc/RESULTS-scale.md') -eq 2 &&
  grep -qF -- '- **Grad Queue beats Adam (AdamW)**: not in this study' '$T/sdoc/RESULTS-scale.md'"
check "scale report: the moonshot answer where plain reached the target" bash -c "
  grep -qE '^Where plain reached the target within S steps: (\*\*(yes|no|cannot decide)\*\* \([0-9]+ of [0-9]+ such rows|no row)' '$T/sdoc/RESULTS-scale.md'"
check "scale report: the moonshot rows say whether plain reached the target" bash -c "
  grep -qF '| plain trained? |' '$T/sdoc/RESULTS-scale.md' &&
  grep -E '^\| [a-z0-9]+ \| [0-9]+ \| [a-z]+ gq' '$T/sdoc/RESULTS-scale.md' | grep -qE '\| (yes|no \([0-9]+/[0-9]+\))[^|]* \|'"
check "scale report: steps and seconds to each target (target_from, then targets = [10.0])" bash -c "
  grep -qF '| steps to 10.00% | train s to 10.00% |' '$T/sdoc/RESULTS-scale.md' &&
  grep -qE '^- \`mnist\`: target [0-9.]+% .*; target 10.00% \(fixed at 10.00%' '$T/sdoc/RESULTS-scale.md'"
check "scale report: Δ accuracy against plain with its Welch interval" bash -c "
  grep -qE '^\| 32 \| nesterov gq-k16 \|.*\| [+-][0-9.]+ \[[+-][0-9.]+, [+-][0-9.]+\] vs nesterov plain \|' '$T/sdoc/RESULTS-scale.md'"
check "scale report: Grad Queue's diagnostics, one row per Grad Queue arm" bash -c "
  grep -q '^## What Grad Queue does to the gradient' '$T/sdoc/RESULTS-scale.md' &&
  test \$(grep -cE '^\| mnist \| (16|32) \| nesterov gq-k(1|16) \| 2 \| [0-9.]+ ± [0-9.]+ \|' '$T/sdoc/RESULTS-scale.md') -eq 4"
check "scale report: the moonshot rows name their control (none in this spec)" bash -c "
  grep -E '^\| mnist \| 32 \| nesterov gq-k16 \| [0-9.]+ ± ' '$T/sdoc/RESULTS-scale.md' | grep -qE '\| none \| [a-z(). ]+ \|\$'"
check "scale report: 3 PNGs (lr sensitivity, steps vs batch, curves)" test \
  "$(find "$T/sdoc/results/smoke-scale" -name '*.png' -size +1k | wc -l)" -eq 3
# The table's steps to target and final accuracy, recomputed here from the metrics files.
check "scale report: steps to target match the metrics files" "$PY" - "$T/res/smoke-scale" "$T/sdoc/RESULTS-scale.md" <<'PYEOF'
import json, os, re, statistics, sys
root, doc = sys.argv[1:]
rows = {}
for cid in os.listdir(root):
    d = os.path.join(root, cid)
    if not os.path.isdir(d):
        continue
    lb = json.load(open(os.path.join(d, "cell.json")))["labels"][0]
    if lb["stage"] != "final":
        continue
    ev = [json.loads(l) for l in open(os.path.join(d, "metrics.jsonl")) if '"eval"' in l]
    rows.setdefault((lb["batch"], lb["method"]), []).append(ev)
base = [ev[-1]["test_accuracy"] for ev in rows[(16, "plain")]]
target = sum(base) / len(base) - 0.01
text = open(doc).read()
assert f"target {100 * target:.2f}%" in text, target
for (bs, meth), evs in rows.items():
    st = [next((e["step"] for e in ev if e["test_accuracy"] >= target - 1e-12), None) for ev in evs]
    got = [s for s in st if s is not None]
    if not got:
        want = f"not reached (0/{len(st)})"
    else:
        want = f"{statistics.mean(got):.0f}" + (f" ± {statistics.stdev(got):.0f}" if len(got) > 1 else "")
        want += "" if len(got) == len(st) else f" ({len(got)}/{len(st)} reached)"
    line = next(l for l in text.splitlines() if l.startswith(f"| {bs} | nesterov {meth} |"))
    assert line.split(" | ")[4] == want, (line, want)
PYEOF

# --step-cost times every arm side by side (6 of them), runs no cell; the report then shows them.
"$PY" "$SWEEP" "$SCALE" --runs-dir "$T/res" --bin "$BIN/gq-train" --step-cost 8 >"$T/cost.out" 2>&1
check "step cost: exit 0, one row per arm, no cell added" bash -c "test $? -eq 0 &&
  test \$(ls -d '$T'/res/smoke-scale/*/ | wc -l) -eq 24 &&
  $PY -c 'import json,sys; c=json.load(open(sys.argv[1])); k={(r[\"batch\"], r[\"method\"]) for r in c[\"rows\"] if r[\"ms_per_step\"] > 0}; sys.exit(not (len(c[\"rows\"]) == 6 and len(k) == 6 and c[\"steps\"] == 8))' '$T/res/smoke-scale/step-cost.json'"
"$PY" "$SWEEP" "$SCALE" --runs-dir "$T/res" --bin "$BIN/gq-train" --step-cost 6 >"$T/cost6.out" 2>&1
check "step cost: a step count that is not a multiple of 4 is refused, naming the flag" bash -c \
  "test $? -ne 0 && grep -q -- '--step-cost 6: a multiple of 4' '$T/cost6.out'"
"$PY" "$REPORT" "$SCALE" --runs-dir "$T/res" --out "$T/sdoc-cost/RESULTS-scale.md" >/dev/null 2>&1
check "step cost: the report's side-by-side table, plain at 1.00" bash -c "
  grep -q '^Side by side: every arm' '$T/sdoc-cost/RESULTS-scale.md' &&
  test \$(grep -cE '^\| mnist \| (16|32) \| nesterov plain \| [0-9.]+ \| 1\.00 \|\$' '$T/sdoc-cost/RESULTS-scale.md') -eq 2 &&
  grep -qE '^\| mnist \| 32 \| nesterov gq-k16 \| [0-9.]+ \| [0-9.]+ \|\$' '$T/sdoc-cost/RESULTS-scale.md'"

# Time ratios of rows timed on other days than their plain row are marked: one seed of a Grad Queue
# row moved to another day (its done record) gets the mark and the row named under the tables.
check "scale report: no ratio marked when every row ran the same day" grep -qF 'different days (none).' "$T/sdoc/RESULTS-scale.md"
cp -r "$T/res" "$T/res-days"
moved=$(grep -l '"method": "gq-k16"' "$T"/res-days/smoke-scale/*/cell.json | xargs grep -l '"stage": "final"' | head -1)
sed -i -E 's/"finished": "[0-9-]{10}/"finished": "2001-01-01/' "$(dirname "$moved")/done"
"$PY" "$REPORT" "$SCALE" --runs-dir "$T/res-days" --out "$T/sdoc-days/RESULTS-scale.md" >/dev/null 2>&1
check "scale report: a row timed on another day than plain is marked and named" bash -c "
  grep -qE '^\| [0-9]+ \| nesterov gq-k16 \|.* [0-9.]+ † \| [^|]* \| [^|]* \|\$' '$T/sdoc-days/RESULTS-scale.md' &&
  grep -qE 'different days \([a-z0-9-]+ b[0-9]+ nesterov gq-k16' '$T/sdoc-days/RESULTS-scale.md'"

# A finished cell that the spec no longer has (a moved lr grid) still counts in the compute line.
cp -r "$T/res" "$T/res-dropped"
mkdir "$T/res-dropped/smoke-scale/0123456789ab"
echo '{"status": "finished", "wall_s": 3600}' >"$T/res-dropped/smoke-scale/0123456789ab/done"
"$PY" "$REPORT" "$SCALE" --runs-dir "$T/res-dropped" --out "$T/sdoc-dropped/RESULTS-scale.md" >/dev/null 2>&1
check "scale report: cells the spec dropped are counted apart" bash -c "
  grep -q '^\*\*Complete: 24 of 24' '$T/sdoc-dropped/RESULTS-scale.md' &&
  grep -q 'plus 1.00 h in 1 finished cell(s) that a later edit of the spec dropped' '$T/sdoc-dropped/RESULTS-scale.md' &&
  ! grep -q 'that a later edit' '$T/sdoc/RESULTS-scale.md'"

# An untuned block (no lr_grid, e.g. airbench94-cpu.toml: every arm at the recipe's lr) in the
# steps-to-target report: its rows run at the policy's lr, say so, and the report completes.
sed -e 's/^name = "smoke-scale"/name = "smoke-fixed"/' -e '/^lr_grid/d' -e '/^tune_flags/d' "$SCALE" >"$T/smoke-fixed.toml"
"$PY" "$SWEEP" "$T/smoke-fixed.toml" --bin "$BIN/gq-train" --runs-dir "$T/res-fixed" >"$T/fixed.out" 2>&1
rc=$?
"$PY" "$REPORT" "$T/smoke-fixed.toml" --runs-dir "$T/res-fixed" --out "$T/fdoc/RESULTS.md" >>"$T/fixed.out" 2>&1
check "untuned target block: 12 cells, the report complete and its lr 'not tuned'" bash -c "
  test $rc -eq 0 && test \$(ls -d '$T'/res-fixed/smoke-fixed/*/ | wc -l) -eq 12 &&
  grep -q '^\*\*Complete: 12 of 12' '$T/fdoc/RESULTS.md' && grep -q '(×1, not tuned)' '$T/fdoc/RESULTS.md'"
check "untuned target block: says no lr was tuned; no tuning table or lr figure" bash -c "
  grep -q '^Every arm runs at its optimizer.s lr policy' '$T/fdoc/RESULTS.md' &&
  ! grep -q '^Tuning (final validation' '$T/fdoc/RESULTS.md' &&
  ! grep -q 'one tuning run per multiplier' '$T/fdoc/RESULTS.md' &&
  test ! -e '$T/fdoc/results/smoke-fixed/lr-sensitivity_mnist.png'"
# A report rewrites its figures: one the last report drew and this one does not is removed.
touch "$T/fdoc/results/smoke-fixed/stale.png"
"$PY" "$REPORT" "$T/smoke-fixed.toml" --runs-dir "$T/res-fixed" --out "$T/fdoc/RESULTS.md" >>"$T/fixed.out" 2>&1
check "report: a figure of an earlier report is removed" bash -c "
  test ! -e '$T/fdoc/results/smoke-fixed/stale.png' && test -s '$T/fdoc/results/smoke-fixed/curves_mnist.png'"

if [ $fail -ne 0 ]; then
  echo "---- check log ----"
  tail -40 "$T/check.log"
fi
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
