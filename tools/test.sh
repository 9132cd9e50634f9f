#!/usr/bin/env bash
# The test command: builds and runs everything CI checks.
#   1. emulator build (warnings are errors), ctest in forward thread order with 1 worker and in
#      reverse order with 2 workers and deferred streams (every test binary is registered for both;
#      runtime/emulated_streams.h); then the data-parallel suites under mpirun -np 2 and -np 3
#      (GQ_MPI=ON: MPI is required here; -np 3 with deferred streams);
#   2. the kernel, model, trainer and runtime suites again in an emulator build that takes the GPU's
#      launch shapes, tiles and branches (GQ_EMU_GPU_DECISIONS), both orders;
#   3. the emulator tests (forward order) under AddressSanitizer + UndefinedBehaviorSanitizer;
#   4. a GQ_CUDA=ON build that compiles and links every target with nvcc for sm_90 (runs nothing);
#   5. a fuzz smoke: every parser of untrusted input under libFuzzer + ASan/UBSan, 20 s each.
# Options: --quick (step 1 only), --no-gpumode, --no-asan, --no-cuda, --no-fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."

run_asan=1 run_cuda=1 run_gpumode=1 run_fuzz=1
for arg in "$@"; do
  case "$arg" in
    --quick) run_asan=0 run_cuda=0 run_gpumode=0 run_fuzz=0 ;;
    --no-fuzz) run_fuzz=0 ;;
    --no-gpumode) run_gpumode=0 ;;
    --no-asan) run_asan=0 ;;
    --no-cuda) run_cuda=0 ;;
    *) echo "test.sh: unknown option '$arg' (use --quick, --no-gpumode, --no-asan, --no-cuda, --no-fuzz)" >&2; exit 2 ;;
  esac
done

tools/deps.sh
# The real readers the tests check our outputs with (TensorBoard's), from PyPI into .venv-test/;
# without a network the tests that need them report SKIP, saying why.
tools/test-venv.sh || echo "test-venv: not made; gq_test_tensorboard will be skipped"
jobs=$(nproc)
export GQ_DATA_DIR="${GQ_DATA_DIR:-$PWD/../shared/data}"
section() { printf '\n==== %s ====\n' "$*"; }
started=$SECONDS
# The tests' scratch files go under one folder this run owns and removes at exit, so a failed run
# leaves nothing behind; what a test leaves there is a failure (a test that kept ~500 MiB of
# checkpoints a run once filled this machine's disk over a few hundred runs).
scratch=$(mktemp -d "${TMPDIR:-/tmp}/gq-test.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
export TMPDIR="$scratch"

section "emulator build (g++ + cuemu, -Werror)"
cmake -S . -B build-emu -G Ninja -DGQ_CUDA=OFF -DGQ_MPI=ON -DGQ_WERROR=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-emu -j "$jobs"
section "emulator tests, forward order (CUEMU_ORDER=forward CUEMU_WORKERS=1) and host-only suites"
ctest --test-dir build-emu -L "forward|host" --output-on-failure -j "$jobs"
section "emulator tests, reverse order, deferred streams (CUEMU_ORDER=reverse CUEMU_WORKERS=2 CUEMU_STREAMS=deferred)"
ctest --test-dir build-emu -L reverse --output-on-failure -j "$jobs"
section "data-parallel tests: mpirun -np 2 and -np 3 on the emulator (one at a time: they fill the cores)"
ctest --test-dir build-emu -L distributed --output-on-failure

if [ "$run_gpumode" = 1 ]; then
  section "emulator with the GPU's launch decisions (GQ_EMU_GPU_DECISIONS): kernel, model, trainer and runtime suites, both orders"
  # gq_test_trainer holds the Trainer, Grad Queue, launch-count and step-graph tests: the GPU's
  # per-cluster paths and k-means grid inside whole training steps, direct and graph-replayed.
  # On 2 cores these suites' tests take ~7 min here, ~5 of them gq_test_trainer's two orders.
  gpu_decision_suites=(gq_test_kernel_cases gq_test_kernels_core gq_test_kernels_nn gq_test_kernels_train gq_test_gradqueue
                       gq_test_kmeans gq_test_per_sample gq_test_models gq_test_kernels_airbench
                       gq_test_trainer gq_test_optimizer gq_test_graph gq_test_runtime)
  cmake -S . -B build-gpumode -G Ninja -DGQ_CUDA=OFF -DGQ_EMU_GPU_DECISIONS=ON -DGQ_WERROR=ON \
        -DGQ_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build-gpumode -j "$jobs" --target "${gpu_decision_suites[@]}"
  ctest --test-dir build-gpumode -R "^($(IFS='|'; echo "${gpu_decision_suites[*]}"))\\." \
        --output-on-failure -j "$jobs"
fi

if [ "$run_asan" = 1 ]; then
  section "emulator build with AddressSanitizer + UBSan"
  cmake -S . -B build-asan -G Ninja -DGQ_CUDA=OFF -DGQ_SANITIZE=ON -DGQ_WERROR=ON \
        -DGQ_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build-asan -j "$jobs"
  # Forward order only: the orders look for races, which step 1 already covers in this build's
  # code; the sanitizers look for memory and UB errors, which do not depend on the order.
  # Not the mpirun suites: Open MPI's own allocations at exit read as leaks.
  section "sanitizer tests (forward order and host-only suites)"
  ASAN_OPTIONS=detect_leaks=1 ctest --test-dir build-asan -L "forward|host" -LE distributed \
    --output-on-failure -j "$jobs"
fi

if [ "$run_cuda" = 1 ]; then
  section "GPU build (GQ_CUDA=ON, nvcc sm_90): compile and link every target"
  if command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ]; then
    # One architecture: sm_80 compiles the same sources (a user's build makes both by default).
    cmake -S . -B build-cuda -G Ninja -DGQ_CUDA=ON -DGQ_MPI=ON -DGQ_WERROR=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
          -DCMAKE_CUDA_COMPILER="$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)" >/dev/null
    cmake --build build-cuda -j "$jobs"
    echo "GPU build: $(ls build-cuda/bin | wc -l) binaries linked in build-cuda/bin"
  else
    echo "GPU build: SKIPPED (nvcc not found)"
  fi
fi
if [ "$run_fuzz" = 1 ]; then
  section "fuzz smoke: CIFAR-10, IDX, archive, Reuters, checkpoint, config, decoded-cache and image parsers (libFuzzer + ASan/UBSan, 20 s each)"
  tools/fuzz.sh 20
fi
section "scratch files the tests left in $scratch (Open MPI's session folder aside)"
leftover=$(find "$scratch" -mindepth 1 -maxdepth 1 ! -name 'ompi.*' ! -name 'prte.*' -printf '%f\n')
if [ -n "$leftover" ]; then
  printf '%s\n' "$leftover" | head -20
  echo "test.sh: the tests above did not remove their scratch files (use gq::test::TempDir, or mktemp with a trap)"
  exit 1
fi
echo "none"
section "all done in $((SECONDS - started)) s"
