#!/usr/bin/env bash
# tools/gpu-check.sh: bad arguments end with exit 2 and a message naming the problem; on an
# emulator build, `--dry-run --quick --emu-bin BIN_DIR` (a tiny bundle made from this build, then
# the run step on it) exits 0 and writes exactly the run step's 8 files, summary.md first in its
# list. Usage: test_gpu_check.sh BIN_DIR (GQ_DATA_DIR must point at the shared data for the dry
# run; without CIFAR-10 there, or on a GPU or sanitizer build, only the argument checks run).
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
expect help 0 "--prepare" -- "$script" --help

cache="$bin/../CMakeCache.txt"
if ! grep -q '^GQ_BUILT_FOR_GPU:INTERNAL=OFF' "$cache" 2>/dev/null; then
  echo "dry run skipped: $bin is not an emulator build"
elif grep -q '^GQ_SANITIZE:BOOL=ON' "$cache"; then
  echo "dry run skipped: sanitizer build (the dry run checks the script's plumbing, not the code)"
elif [ ! -f "${GQ_DATA_DIR:-}/cifar10/cifar-10-binary.tar.xz" ]; then
  echo "dry run skipped: no \$GQ_DATA_DIR/cifar10/cifar-10-binary.tar.xz"
else
  out="$tmp/out"
  expect dry-run 0 "DRY RUN" -- env GQ_JOBS=1 "$script" --dry-run --quick --emu-bin "$bin" --out "$out"
  files=$(cd "$out" 2>/dev/null && ls | sort | paste -sd' ')
  want="bench.json bench.txt manifest.txt ncu.txt parity.txt summary.md tests.log train.log"
  [ "$files" = "$want" ] && pass || fail "dry-run files: got '$files', want '$want'"
  for pattern in "^| tests | [0-9]* passed" "^| parity | [0-9]* passed, 0 failed" "^| train | ok" \
                 "^| benchmarks | ok" "^| ncu | skipped: emulator" "^Files: summary.md "; do
    grep -q -- "$pattern" "$out/summary.md" 2>/dev/null && pass || fail "summary.md lacks '$pattern'"
  done
  [ "$failed" = 0 ] || { echo "--- summary.md:"; cat "$out/summary.md" 2>/dev/null; }
fi

finish
