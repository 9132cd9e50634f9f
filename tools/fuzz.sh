#!/usr/bin/env bash
# Fuzzes every parser of untrusted input (tests/fuzz: CIFAR-10 batch, IDX raw/gzip, tar/gz/xz
# archives, Reuters SGML, checkpoint, config file, decoded-dataset cache, PNG/JPEG image file) with
# libFuzzer + ASan + UBSan.
#   tools/fuzz.sh [SECONDS] [TARGET...]     (default: 60 s for each of the eight targets)
# Builds build-fuzz with clang (GQ_FUZZ=ON), cuts seed corpora from the real data ($GQ_DATA_DIR)
# into build-fuzz/seeds, and runs the targets, $GQ_FUZZ_JOBS at a time (default: the cores).
# Each target starts from its seeds, its regression inputs (tests/fuzz/regressions) and what
# earlier runs found (build-fuzz/corpus). A crash, a hang (> 10 s on one input) or a single
# allocation over 2 GiB fails the run; the input lands in build-fuzz/crashes/<target>/. Copy it to
# tests/fuzz/regressions/<target>/ once fixed: ctest then replays it in every build.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_cifar10 fuzz_idx fuzz_archive fuzz_reuters fuzz_checkpoint fuzz_config
                                      fuzz_decoded_cache fuzz_image)
export GQ_DATA_DIR="${GQ_DATA_DIR:-$PWD/../shared/data}"
jobs="${GQ_FUZZ_JOBS:-$(nproc)}"
out=build-fuzz

cmake -S . -B "$out" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DGQ_CUDA=OFF -DGQ_FUZZ=ON \
      -DGQ_BUILD_TESTS=OFF -DGQ_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$out" -j "$(nproc)" --target "${targets[@]}"
# Again when a target has no seeds yet (one added since the seeds were cut).
for t in "${targets[@]}"; do
  [ -d "$out/seeds/$t" ] || { python3 tests/fuzz/make_corpus.py "$GQ_DATA_DIR" "$out/seeds"; break; }
done

run_one() {
  local t="$1" dict=()
  mkdir -p "$out/corpus/$t" "$out/crashes/$t" "$out/logs"
  [ -f "tests/fuzz/dicts/$t.dict" ] && dict=(-dict="tests/fuzz/dicts/$t.dict")
  local regressions=()
  [ -d "tests/fuzz/regressions/$t" ] && regressions=("tests/fuzz/regressions/$t")
  "$out/bin/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$out/crashes/$t/" "${dict[@]}" \
    "$out/corpus/$t" "$out/seeds/$t" "${regressions[@]}" >"$out/logs/$t.log" 2>&1
}

started=$SECONDS
pids=() names=()
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do sleep 1; done
  run_one "$t" &
  pids+=($!) names+=("$t")
done
failed=0
printf '%-16s %8s %12s %9s %6s %8s  %s\n' target seconds execs exec/s cov corpus result
for i in "${!pids[@]}"; do
  t="${names[$i]}" log="$out/logs/${names[$i]}.log" result=ok
  wait "${pids[$i]}" || result="FAILED: $(ls "$out/crashes/$t" | head -1) (log: $log)"
  [ "$result" = ok ] || failed=1
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  printf '%-16s %8s %12s %9s %6s %8s  %s\n' "$t" "$seconds" "${execs:-?}" "${rate:-?}" "${cov:-?}" \
    "$(ls "$out/corpus/$t" | wc -l)" "$result"
done
echo "fuzz: ${#targets[@]} targets in $((SECONDS - started)) s"
exit "$failed"
