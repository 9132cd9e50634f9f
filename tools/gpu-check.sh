#!/usr/bin/env bash
# The GPU check: run on a machine with a GPU (the lent H200), in one call, under 10 minutes.
#   1. GQ_CUDA=ON build (nvcc) and the whole test suite on the GPU;
#   2. an emulator build (g++) of the same sources;
#   3. parity: every kernel case run on both devices, outputs compared (tools/parity);
#   4. the benchmarks, as JSON;
#   5. a summary (summary.md) in the output folder.
# Usage: tools/gpu-check.sh [--out DIR] [--dry-run]
#   --dry-run runs here without a GPU: the emulator build stands in for the GPU build, so the
#   script's plumbing is exercised end to end (parity is then emulator vs emulator).
set -uo pipefail
cd "$(dirname "$0")/.."

out="${OUT:-gpu-check-out}"
dry=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift ;;
    --dry-run) dry=1 ;;
    *) echo "gpu-check.sh: unknown option '$1' (use --out DIR, --dry-run)" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$out"
summary="$out/summary.md"
jobs=$(nproc)
export GQ_DATA_DIR="${GQ_DATA_DIR:-$PWD/../shared/data}"
status=0
step() { printf '\n==== %s ====\n' "$*"; }
note() { echo "$*" | tee -a "$summary"; }
timed() {  # timed LABEL CMD... : runs CMD, logs to $out/LABEL.log, records pass/fail and seconds
  local label="$1"; shift
  local t0=$SECONDS
  if "$@" >"$out/$label.log" 2>&1; then
    note "- $label: ok ($((SECONDS - t0)) s)"
  else
    note "- $label: FAILED ($((SECONDS - t0)) s), see $label.log"; tail -30 "$out/$label.log"; status=1
  fi
}

echo "# gpu-check $(date -u +%Y-%m-%dT%H:%MZ)" >"$summary"
if [ "$dry" = 1 ]; then
  note "mode: DRY RUN (no GPU: the emulator build stands in for the GPU build)"
  gpu_build=build-emu gpu_flags="-DGQ_CUDA=OFF"
else
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version \
    --format=csv,noheader | sed 's/^/gpu: /' | tee -a "$summary"
  gpu_build=build-cuda gpu_flags="-DGQ_CUDA=ON"
fi

tools/deps.sh >"$out/deps.log" 2>&1 || { note "- deps: FAILED"; cat "$out/deps.log"; exit 1; }

step "GPU build"
timed configure-gpu cmake -S . -B "$gpu_build" -G Ninja $gpu_flags -DCMAKE_BUILD_TYPE=Release
timed build-gpu cmake --build "$gpu_build" -j "$jobs"
step "tests on the GPU"
# The data-dependent suites need the datasets (../shared/data); a lent machine may not have them.
data_tests=""
if [ ! -d "$GQ_DATA_DIR/mnist" ]; then
  data_tests="-E gq_test_datasets|gq_test_trainer|gq_test_cli|gq_test_experiments"
  note "- data: $GQ_DATA_DIR has no datasets; skipping the data-dependent suites and gq-bench"
fi
# shellcheck disable=SC2086
timed tests-gpu ctest --test-dir "$gpu_build" --output-on-failure -j 4 $data_tests
grep -E "tests passed|tests failed" "$out/tests-gpu.log" | tee -a "$summary"

step "emulator build"
if [ "$dry" = 0 ]; then
  timed configure-emu cmake -S . -B build-emu -G Ninja -DGQ_CUDA=OFF -DCMAKE_BUILD_TYPE=Release
  timed build-emu cmake --build build-emu -j "$jobs" --target gq-parity
fi

step "parity: GPU vs emulator"
timed parity-gpu "$gpu_build/bin/gq-parity" --write "$out/parity-gpu.bin"
timed parity-emu build-emu/bin/gq-parity --write "$out/parity-emu.bin"
timed parity-compare build-emu/bin/gq-parity --compare "$out/parity-gpu.bin" "$out/parity-emu.bin"
sed -n '/^case/,$p' "$out/parity-compare.log" >>"$summary"

step "benchmarks"
min_time=0.2
[ "$dry" = 1 ] && min_time=0.01
for b in "$gpu_build"/bin/gq-bench "$gpu_build"/bin/gq-bench-*; do
  [ -x "$b" ] || continue
  [ -n "$data_tests" ] && [ "$(basename "$b")" = gq-bench ] && continue  # needs CIFAR-10
  name=$(basename "$b")
  timed "$name" "$b" --benchmark_min_time="$min_time" --benchmark_format=console \
    --benchmark_out="$out/$name.json" --benchmark_out_format=json
done

step "summary"
cat "$summary"
exit $status
