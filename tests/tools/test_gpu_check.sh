#!/usr/bin/env bash
# tools/gpu-check.sh (tools/gpu_check.py): bad arguments end with exit 2 and a message naming the
# problem; on an emulator build, `--dry-run --quick --emu-bin BIN_DIR` (a tiny bundle made from
# this build, then the run step on it) exits 0 and writes exactly the run step's 8 files, with
# the smoke row (versions + gq-gpu-smoke) first in summary.md; a budget too small for any step
# still writes the 8 files and says why each step was skipped; a run killed in the middle leaves
# a summary.md naming the steps done and the one running. Usage: test_gpu_check.sh BIN_DIR
# (GQ_DATA_DIR must point at the shared data for the dry runs; without CIFAR-10 there, or on a
# GPU or sanitizer build, only the argument checks run). The library search, the rerun of a
# failing test and the compute mode are covered by test_gpu_check_units.py.
set -u
bin="$1"
here=$(cd "$(dirname "$0")" && pwd)
script="$here/../../tools/gpu-check.sh"
source "$(dirname "$0")/expect.sh"

mkdir -p "$tmp/empty"
expect no-mode 2 "choose one of" -- "$script"
expect unknown 2 "unknown option '--bogus'" -- "$script" --bogus
expect run-no-arg 2 "--run needs the bundle" -- "$script" --run
expect run-missing 2 "no bundle folder" -- "$script" --run "$tmp/nowhere"
expect run-not-bundle 2 "has no manifest.txt" -- "$script" --run "$tmp/empty"
expect two-modes 2 "choose one of" -- "$script" --prepare --run "$tmp/empty"
expect out-prepare 2 "--out is for" -- "$script" --prepare --out "$tmp/o"
expect bundle-path 2 "folder name at the repo root" -- "$script" --prepare --bundle /tmp/x
expect emu-bin-missing 2 "has no gq-parity" -- "$script" --dry-run --quick --emu-bin "$tmp/empty"
expect budget-bad 2 "--budget (or GQ_CHECK_BUDGET_S) must be a positive number" -- "$script" --dry-run --budget soon
expect budget-prepare 2 "--quick, --budget and --steps are for" -- "$script" --prepare --budget 100
expect steps-bad 2 "--steps: unknown step(s) bogus" -- "$script" --run "$tmp/empty" --steps tests,bogus
expect find-libs-none 1 "no CUDA libraries found under $tmp/empty" -- "$script" --find-libs "$tmp/empty"
expect help 0 "--prepare" "--budget S" "--clock-control none" -- "$script" --help

# summary_has FILE PATTERN...: each grep pattern matches a line of FILE.
summary_has() {
  local file="$1" p
  shift
  for p in "$@"; do
    grep -q -- "$p" "$file" 2>/dev/null && pass || fail "$(basename "$(dirname "$file")")/summary.md lacks '$p'"
  done
}
want="bench.json bench.txt manifest.txt ncu.txt parity.txt summary.md tests.log train.log"
files_are() {  # files_are DIR: exactly the run step's 8 files
  local files
  files=$(cd "$1" 2>/dev/null && ls | sort | paste -sd' ')
  [ "$files" = "$want" ] && pass || fail "$1: got files '$files', want '$want'"
}

cache="$bin/../CMakeCache.txt"
if ! grep -q '^GQ_BUILT_FOR_GPU:INTERNAL=OFF' "$cache" 2>/dev/null; then
  echo "dry run skipped: $bin is not an emulator build"
elif grep -q '^GQ_SANITIZE:BOOL=ON' "$cache"; then
  echo "dry run skipped: sanitizer build (the dry run checks the script's plumbing, not the code)"
elif [ ! -f "${GQ_DATA_DIR:-}/cifar10/cifar-10-binary.tar.xz" ]; then
  echo "dry run skipped: no \$GQ_DATA_DIR/cifar10/cifar-10-binary.tar.xz"
else
  export TMPDIR="$tmp"  # the bundles and scratch folders of the dry runs, the killed one's too
  out="$tmp/out"
  expect dry-run 0 "DRY RUN" -- env GQ_JOBS=1 "$script" --dry-run --quick --emu-bin "$bin" --out "$out"
  files_are "$out"
  # The smoke row first: the versions and the first failure a driver shows are read first.
  first_row=$(grep -A1 '^|---|' "$out/summary.md" | sed -n 2p)
  [[ "$first_row" == "| smoke | ok: all 4 checks OK;"* ]] && pass || fail "first row is not the smoke's: '$first_row'"
  summary_has "$out/summary.md" "^- time budget: 360 s" "^## Smoke and versions" "^smoke graph: OK" \
    "^cublas: emulator" "^- compute mode: Default: test binaries run 2 at a time" \
    "^| tests | [0-9]* passed" "^| gq_test_gpu_smoke | pass" "^| parity | [0-9]* passed, 0 failed" \
    "^| train | ok" "^| airbench94 | ok" "^## airbench94 recipe" "^- fp32: ok: " "^- bf16: ok: " "^| step benchmark | ok" "^| kernel benchmarks | ok" "^| ncu | skipped: emulator" \
    "^| host suites | [0-9]* passed" "^Files: summary.md "
  [ "$failed" = 0 ] || { echo "--- summary.md:"; cat "$out/summary.md" 2>/dev/null; }

  # A budget too small for any step: every row asked for says so, the others that they were not
  # asked for (--steps), the 8 files are there, exit 0.
  tiny="$tmp/tiny"
  expect dry-run-tiny-budget 0 "skipped: out of time (budget 1 s)" -- \
    env GQ_JOBS=1 "$script" --dry-run --quick --emu-bin "$bin" --out "$tiny" --budget 1 --steps parity,host-suites
  files_are "$tiny"
  summary_has "$tiny/summary.md" "^| smoke | skipped: out of time (budget 1 s)" "^| parity | skipped: out of time" \
    "^| tests | not asked for (--steps)" "^| host suites | skipped: out of time" "^- time budget: 1 s"
  grep -q "^not reached" "$tiny/train.log" && pass || fail "tiny budget: train.log is not the 'not reached' note"

  # Killed after the smoke step: what was measured is there, and the step it was in is named.
  killed="$tmp/killed"
  GQ_JOBS=1 "$script" --dry-run --quick --emu-bin "$bin" --out "$killed" >"$tmp/killed.log" 2>&1 &
  pid=$!
  for _ in $(seq 600); do
    grep -q "^| smoke | ok" "$killed/summary.md" 2>/dev/null && break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  files_are "$killed"
  summary_has "$killed/summary.md" "^| smoke | ok" "| running (started at" "^smoke: all 4 checks OK" "^Files: summary.md "
fi

finish
