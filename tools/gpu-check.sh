#!/usr/bin/env bash
# The GPU check, split so that the lent GPU machine runs it in ONE call and builds nothing.
#
#   tools/gpu-check.sh --prepare [--bundle DIR]        here (no GPU needed; DIR default gpu-bundle)
#   tools/gpu-check.sh --run BUNDLE [--out DIR]        there (DIR default $OUT, else gpu-check-out)
#   tools/gpu-check.sh --dry-run [--out DIR] [--quick] [--emu-bin BIN_DIR]   here, no GPU
#
# --prepare builds the GQ_CUDA=ON binaries for sm_90 only (the H200) with GQ_PORTABLE=ON
#   (cmake/GqPortable.cmake: static libstdc++/libgcc/cudart/libarchive/zlib/lzma/gtest, header-only
#   fmt, RUNPATH $ORIGIN/../lib; lib/ gets libbenchmark.so, lib/fallback/ this machine's
#   libstdc++/libgcc_s for a device machine whose own are too old; cuBLAS/cuDNN stay the device
#   machine's), strips and packs them as payload.tar.xz; builds the reference emulator
#   (EMU_REF_FLAGS below) and stores its gq-parity --write output (parity-ref.bin.xz); packs a data
#   subset (CIFAR-10: 5000 train + 1000 test images; MNIST: 5000 + 1000; Reuters-21578 whole);
#   lists the tests from ctest (tests.tsv); writes manifest.txt (git commit, flags, sizes, the
#   GLIBC_/GLIBCXX_ versions the binaries need). It checks here: ldd resolves every library in the
#   toolkit's lib64, the bundle's lib/ or glibc; the GPU binaries stop with a clear "no CUDA
#   device" error; tree + bundle stay under 60 MiB (it fails otherwise). DIR is one git-ignored
#   folder at the repo root: the device machine gets the tree + that folder (carry).
# --run needs nothing but the bundle, this tree, the NVIDIA driver and the CUDA libraries (toolkit
#   lib64 or the NVIDIA Python wheels, found at run time and put on LD_LIBRARY_PATH); no apt, no
#   build. Every step runs under its own `timeout`, all within GQ_CHECK_BUDGET_S (450 s): nvidia-smi
#   and ldd; the test binaries (6 at a time; data suites on the packed subset, full-data checks
#   skipped with a reason); parity: gq-parity --write on the GPU, compared with the bundled
#   emulator reference; gq-bench (plain vs Grad Queue, batch 512/2048, k 4/16) and the kernel
#   benchmarks (gq-bench-*, with pct_of_roofline where they report it); a short gq-train (plain and
#   Grad Queue) on the CIFAR-10 subset; Nsight Compute on the three most expensive kernels of a
#   Grad Queue step (if ncu fails, the reason is recorded). It writes at most 8 files into DIR:
#   summary.md (read first), manifest.txt, tests.log, parity.txt, bench.txt, bench.json,
#   train.log, ncu.txt. Exit 0 when nothing FAILED (missing libraries, tests, parity, benchmarks,
#   training); a step cut short by the time budget, a skip, or ncu failing is reported, not a
#   failure. Exit 1 otherwise, 2 on bad arguments.
# --dry-run builds the reference emulator (all targets, build-bundle-emu), makes an emulator
#   bundle from it and runs --run on that: the emulator stands in for the GPU (smaller sizes; no
#   ncu), the same 8 files. --quick: tiny settings (used by tests/tools/test_gpu_check.sh);
#   --emu-bin uses an existing emulator build's bin/ instead of building.
# Limits of the device machine: 64 MiB in (tree + carried bundle), 8 files of 16 MiB out, ~8 min.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo" || exit 1

# ---- settings ---------------------------------------------------------------------------------
# The emulator build that computes the parity reference (and stands in for the GPU in a dry run).
# With GQ_EMU_GPU_DECISIONS=ON it takes the GPU's launch shapes and branches, so parity compares
# the same code paths on both devices; without the option (older trees) it is the plain emulator.
EMU_REF_FLAGS="${GQ_EMU_REF_FLAGS:--DGQ_CUDA=OFF$(grep -q GQ_EMU_GPU_DECISIONS CMakeLists.txt &&
  echo ' -DGQ_EMU_GPU_DECISIONS=ON')}"
GPU_BUILD="build-bundle-cuda"  # --prepare's GQ_CUDA=ON GQ_PORTABLE=ON build
EMU_BUILD="build-bundle-emu"   # the reference emulator build
CUDA_ARCH=90                  # the H200 (sm_90)
LIMIT_MIB=60                  # tree + bundle, of the 64 MiB the device machine receives
BUDGET_S="${GQ_CHECK_BUDGET_S:-450}"
# Output files of --run, in the order summary.md lists them.
OUT_FILES=(summary.md manifest.txt tests.log parity.txt bench.txt bench.json train.log ncu.txt)
HELPER="$repo/tools/gpu_check_helper.py"

usage() {
  sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
}
die() { echo "gpu-check.sh: $*" >&2; exit 2; }
fail() { echo "gpu-check.sh: $*" >&2; exit 1; }
step() { printf '\n==== %s ====\n' "$*"; }

mode="" bundle="" out="" quick=0 emu_bin=""
set_mode() { [ -z "$mode" ] || die "choose one of --prepare, --run BUNDLE, --dry-run"; mode="$1"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --prepare) set_mode prepare ;;
    --run) set_mode run; [ $# -ge 2 ] && [ -n "$2" ] || die "--run needs the bundle folder"
           bundle="$2"; shift ;;
    --dry-run) set_mode dry ;;
    --bundle) [ $# -ge 2 ] && [ -n "$2" ] || die "--bundle needs a folder"; bundle="$2"; shift ;;
    --out) [ $# -ge 2 ] && [ -n "$2" ] || die "--out needs a folder"; out="$2"; shift ;;
    --quick) quick=1 ;;
    --emu-bin) [ $# -ge 2 ] && [ -n "$2" ] || die "--emu-bin needs a folder"; emu_bin="$2"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
  shift
done
[ -n "$mode" ] || die "choose one of --prepare [--bundle DIR], --run BUNDLE [--out DIR], --dry-run (see --help)"
[ "$mode" = prepare ] && [ -n "$out" ] && die "--out is for --run and --dry-run"
[ "$mode" != prepare ] && [ "$mode" != run ] && [ -n "$bundle" ] && die "--bundle is for --prepare"
[ "$mode" != dry ] && [ -n "$emu_bin" ] && die "--emu-bin is for --dry-run"
[ "$mode" = prepare ] && [ "$quick" = 1 ] && die "--quick is for --run and --dry-run"

# ---- shared helpers ---------------------------------------------------------------------------
# Max GLIBC_ / GLIBCXX_ version a set of ELF files needs (objdump -T), "name version" per line.
glibc_needs() {
  local f
  for f in "$@"; do
    objdump -T "$f" 2>/dev/null | grep -F '*UND*' | grep -o '(GLIBC\(XX\)\?_[0-9.]*)' | tr -d '()'
  done | sed 's/_/ /' | sort -k1,1 -k2,2V | awk '{max[$1]=$2} END {for (k in max) print k, max[k]}' | sort
}

# Bytes of what the device machine receives besides the bundle: tracked + untracked-not-ignored.
tree_bytes() {
  { git ls-files -z; git ls-files -z --others --exclude-standard; } |
    xargs -0 -r du -cb 2>/dev/null | awk '$2 == "total" {s += $1} END {print s + 0}'
}

mib() { awk -v b="$1" 'BEGIN {printf "%.1f MiB", b / 1048576}'; }

# xz_cat FILE: decompress to stdout (xz if installed, else Python's lzma).
xz_cat() {
  if command -v xz >/dev/null 2>&1; then
    xz -dc "$1"
  else
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$1"
  fi
}

# ---- the run step (on the GPU machine, or here for a dry run) --------------------------------
run_step() {
  local bundle="$1" out="$2"
  [ -d "$bundle" ] || die "no bundle folder '$bundle' (make one with --prepare)"
  [ -f "$bundle/manifest.txt" ] || die "'$bundle' has no manifest.txt: not a bundle from --prepare"
  bundle=$(cd "$bundle" && pwd)
  local kind
  kind=$(sed -n 's/^device: //p' "$bundle/manifest.txt" | head -1)
  [ "$kind" = gpu ] || [ "$kind" = emulator ] || die "$bundle/manifest.txt: unknown 'device: $kind'"
  mkdir -p "$out" || fail "cannot create $out"
  out=$(cd "$out" && pwd)
  local f
  for f in "${OUT_FILES[@]}"; do  # always the same 8 files, whatever step the run ends in
    echo "not reached: the run ended before the step that writes $f (see summary.md)" >"$out/$f"
  done
  echo '[]' >"$out/bench.json"
  work=$(mktemp -d "${TMPDIR:-/tmp}/gq-check.XXXXXX") || fail "mktemp failed"
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/sections" "$work/tests"
  local t_start=$SECONDS deadline=$((SECONDS + BUDGET_S)) status=0
  # The binaries: payload.tar.xz (bin/ + lib/, from --prepare) unpacked here, or a plain bin/
  # (a --quick dry run links the emulator build's bin/ instead).
  local bin="$bundle/bin" lib="$bundle/lib"
  if [ -f "$bundle/payload.tar.xz" ]; then
    mkdir -p "$work/payload"
    if ! xz_cat "$bundle/payload.tar.xz" | tar -x -C "$work/payload"; then
      echo "gpu-check.sh: unpacking $bundle/payload.tar.xz failed" >&2
      status=1
    fi
    bin="$work/payload/bin" lib="$work/payload/lib"
  fi
  local ref="$bundle/parity-ref.bin"
  if [ -f "$ref.xz" ]; then
    xz_cat "$ref.xz" >"$work/parity-ref.bin" || status=1
    ref="$work/parity-ref.bin"
  fi

  # Settings by device and --quick.
  local par=6 test_timeout=150 bench_batch=512,2048 bench_k=4,16 bench_min=1.0 kmin=0.1
  local train_args="--batch-size 256 --epochs 8 --log-every 5" ncu_ok=1
  local cifar_train cifar_test
  cifar_train=$(sed -n 's/^data_cifar_train: //p' "$bundle/manifest.txt")
  cifar_test=$(sed -n 's/^data_cifar_test: //p' "$bundle/manifest.txt")
  if [ "$kind" = emulator ]; then
    par=2 test_timeout=300 bench_batch=32 bench_k=2 bench_min=0.05 kmin=0.01 ncu_ok=0
    train_args="--batch-size 64 --epochs 1 --max-steps 12 --log-every 4"
    cifar_train=512 cifar_test=256
  fi
  if [ "$quick" = 1 ]; then
    test_timeout=60 bench_batch=8 bench_min=0.01
    train_args="--batch-size 8 --epochs 1 --max-steps 3 --log-every 1" cifar_train=64 cifar_test=16
  fi

  # Summary: a header, one overview line per step, then each step's section; rewritten after
  # every step so a run cut short still leaves a readable summary.md.
  local header="$work/header.md" overview="$work/overview.md"
  : >"$overview"
  {
    echo "# gpu-check $(date -u +%Y-%m-%dT%H:%MZ)"
    echo
    if [ "$kind" = gpu ]; then
      echo "Mode: **GPU run** of bundle \`$(basename "$bundle")\` on $(uname -n)."
    else
      echo "Mode: **DRY RUN** (no GPU: the emulator build stands in for the GPU build$([ "$quick" = 1 ] && echo ', --quick sizes'))."
    fi
    sed -n 's/^\(git\|created\|emulator_reference\): /- bundle \1: /p' "$bundle/manifest.txt"
    echo "- time budget: $BUDGET_S s (GQ_CHECK_BUDGET_S); every step under its own timeout"
  } >"$header"
  assemble() {
    {
      cat "$header"
      echo "- elapsed: $((SECONDS - t_start)) s"
      echo
      echo "| step | result | seconds |"
      echo "|---|---|---|"
      cat "$overview"
      echo
      cat "$work"/sections/*.md 2>/dev/null
      echo
      echo "Files: ${OUT_FILES[*]}"
    } >"$out/summary.md"
  }
  record() { echo "| $1 | $2 | $3 |" >>"$overview"; assemble; }  # record STEP RESULT SECONDS
  section() { cat >>"$work/sections/$1.md"; }                      # section NN-name < text
  # Time left: of the whole run, and of the current step (step_end, set by each step).
  local step_end=$deadline
  left() { local a=$((deadline - SECONDS)) b=$((step_end - SECONDS)); echo $((a < b ? a : b)); }
  cap() { local l; l=$(left); [ "$1" -lt "$l" ] && echo "$1" || echo $((l > 5 ? l : 5)); }  # cap N
  out_of_time() { [ "$(left)" -le 5 ]; }
  begin() { t0=$SECONDS; step_end=$((SECONDS + $1)); step "$2"; }  # begin STEP_BUDGET NAME

  # ---- environment: libraries, GPU, data ----
  step "environment"
  local t0=$SECONDS man="$out/manifest.txt"
  {
    echo "## bundle manifest (from --prepare)"
    cat "$bundle/manifest.txt"
    echo
    echo "## run environment"
    echo "host: $(uname -n); kernel $(uname -r); $(nproc) cores"
    grep -m1 PRETTY_NAME /etc/os-release 2>/dev/null
    ldd --version 2>/dev/null | head -1
  } >"$man"
  local ldpath=""
  if [ "$kind" = gpu ]; then
    # The CUDA libraries: the toolkit's lib64 first, then the NVIDIA wheels for whatever the
    # binaries still miss (cuDNN comes as nvidia-cudnn-cu13; cuBLAS as nvidia-cublas).
    local roots=() d py
    for d in "${CUDA_HOME:-}" "${CUDA_PATH:-}" /usr/local/cuda /usr/local/cuda-13*; do
      [ -n "$d" ] && [ -d "$d/lib64" ] && roots+=("$d/lib64")
      [ -n "$d" ] && [ -d "$d/targets/x86_64-linux/lib" ] && roots+=("$d/targets/x86_64-linux/lib")
    done
    for py in python3 /opt/torch/.venv/bin/python3; do
      command -v "$py" >/dev/null 2>&1 || continue
      while IFS= read -r d; do [ -d "$d" ] && roots+=("$d"); done < <(timeout 30 "$py" -c \
        'import nvidia, sys; print("\n".join(p for p in nvidia.__path__))' 2>/dev/null)
    done
    for d in "${roots[@]}"; do
      case "$d" in */lib64|*/lib) ldpath="${ldpath:+$ldpath:}$d"; break ;; esac
    done
    local so hit
    for _ in 1 2 3; do
      local missing
      missing=$(for f in "$bin"/*; do [ -f "$f" ] && [ -x "$f" ] && \
        LD_LIBRARY_PATH="$ldpath:$lib" ldd "$f" 2>/dev/null; done |
        awk '/=> not found/ {print $1}' | sort -u)
      [ -z "$missing" ] && break
      for so in $missing; do
        hit=""
        for d in "${roots[@]}"; do
          hit=$(find -L "$d" -maxdepth 4 -name "$so" -print -quit 2>/dev/null)
          [ -n "$hit" ] && break
        done
        [ -n "$hit" ] && case ":$ldpath:" in *":$(dirname "$hit"):"*) ;;
          *) ldpath="${ldpath:+$ldpath:}$(dirname "$hit")" ;; esac
      done
    done
    echo "library roots searched: ${roots[*]:-none}" >>"$man"
  fi
  # lib/fallback/ (the build machine's libstdc++/libgcc_s, needing glibc 2.36) only when this
  # machine's own are missing or too old for the binaries (ldd: "not found", incl. versions).
  local fb=""
  if [ -d "$lib/fallback" ] && for f in "$bin"/*; do [ -f "$f" ] && [ -x "$f" ] &&
      LD_LIBRARY_PATH="${ldpath:+$ldpath:}$lib" ldd "$f" 2>&1; done | grep -q "not found"; then
    fb=":$lib/fallback"
    echo "lib/fallback/ used: without it ldd reports missing libraries or versions" >>"$man"
  fi
  export LD_LIBRARY_PATH="${ldpath:+$ldpath:}$lib$fb${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH" >>"$man"
  local gpu_line="none (emulator)" nmiss=0
  if [ "$kind" = gpu ]; then
    if command -v nvidia-smi >/dev/null; then
      gpu_line=$(timeout 30 nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.mem \
        --format=csv,noheader 2>&1 | head -2 | paste -sd';')
      { echo; echo "## nvidia-smi"; timeout 30 nvidia-smi 2>&1; } >>"$man"
    else
      gpu_line="nvidia-smi not found"
    fi
  fi
  {
    echo
    echo "## ldd of every bundled binary (missing libraries only; the full list for gq-parity)"
    for f in "$bin"/*; do
      [ -f "$f" ] && [ -x "$f" ] || continue
      ldd "$f" 2>&1 | grep -q "not found" && { echo "$(basename "$f"):"; ldd "$f" 2>&1 | grep "not found"; }
    done
    ldd "$bin/gq-parity" 2>&1
  } >>"$man"
  nmiss=$(for f in "$bin"/*; do [ -f "$f" ] && [ -x "$f" ] && ldd "$f" 2>&1; done | grep -c "not found")
  # The data subset, unpacked into the reader's layout (CIFAR-10 batch files tiled).
  export GQ_DATA_DIR="$work/data"
  local data_ok=1
  if ! timeout "$(cap 60)" python3 "$HELPER" unpack-data "$bundle/data" "$GQ_DATA_DIR" >>"$man" 2>&1; then
    data_ok=0
    echo "data unpack FAILED (see above)" >>"$man"
  fi
  {
    echo "## Environment"
    echo
    echo "- GPU: $gpu_line"
    echo "- libraries: LD_LIBRARY_PATH=\`$LD_LIBRARY_PATH\`; $nmiss missing (ldd; details in manifest.txt)"
    echo "- data: $([ $data_ok = 1 ] && echo "subset unpacked to \$GQ_DATA_DIR ($(du -sh "$GQ_DATA_DIR" 2>/dev/null | cut -f1))" || echo "UNPACK FAILED")"
    sed -n 's/^  /  - /p' "$bundle/data/README.txt" 2>/dev/null
    echo
  } | section 00-env
  local env_result=ok
  [ "$kind" = gpu ] && [ "$gpu_line" = "nvidia-smi not found" ] && env_result="ok, but no nvidia-smi"
  [ "$nmiss" -gt 0 ] && env_result="FAILED: $nmiss missing libraries" && status=1
  [ $data_ok = 0 ] && env_result="FAILED: data" && status=1
  record environment "$env_result" $((SECONDS - t0))

  # ---- tests ----
  begin 170 tests
  local tests_cap
  tests_cap=$(left)
  local tests_deadline=$((SECONDS + tests_cap))
  local name labels envs cmd extra reason n_run=0 n_skip=0
  local have_pyplot=0
  /usr/bin/python3 -c 'import numpy, matplotlib' >/dev/null 2>&1 && have_pyplot=1
  : >"$work/tests/order"
  run_one() {  # run_one NAME TIMEOUT ENVS CMD...
    local name="$1" t="$2" envs="$3"; shift 3
    local s=$SECONDS rc
    mkdir -p "$work/tests/$name.cwd"
    (
      cd "$work/tests/$name.cwd" || exit 1
      # shellcheck disable=SC2086
      [ "$envs" = - ] || export ${envs//;/ }
      timeout -k 5 "$t" "$@"
    ) >"$work/tests/$name.log" 2>&1
    rc=$?
    echo "$rc $((SECONDS - s))" >"$work/tests/$name.rc"
  }
  while IFS=$'\t' read -r name labels envs cmd; do
    [ -n "$name" ] || continue
    reason="" extra=""
    case "$name" in
      gq_test_datasets*) extra="--gtest_filter=-Cifar10Real.*:MnistReal.*"
        echo "$name: Cifar10Real.*, MnistReal.* skipped: they check the full datasets (sizes, \
checksums); the bundle packs subsets (they run in the emulator CI)" >>"$work/tests/notes" ;;
      gq_test_gpu_check*) [ "$kind" = emulator ] && reason="dry run: it would nest another dry run" ;;
      gq_test_experiments*) [ "$have_pyplot" = 1 ] ||
        reason="needs /usr/bin/python3 with numpy and matplotlib (tools/experiments' Python; \
gq-train on the GPU is covered by gq_test_cli and the train step)" ;;
    esac
    [ "$kind" = emulator ] && [[ ",$labels," == *,reverse,* ]] &&
      reason="dry run: the forward thread order only"
    if [ "$quick" = 1 ] && [ -z "$reason" ]; then
      case "$name" in
        gq_test_schedule) ;;
        gq_test_datasets) extra="--gtest_filter=Cifar10Bad.*:MnistBad.*:IdxParse.*:FindDataset.*" ;;
        *) reason="--quick: only gq_test_schedule and the malformed-input part of gq_test_datasets" ;;
      esac
    fi
    if [ -n "$reason" ]; then
      echo "$name skip $reason" >>"$work/tests/order"
      n_skip=$((n_skip + 1))
      continue
    fi
    cmd=${cmd//@BIN@/$bin}
    cmd=${cmd//@SRC@/$repo}
    local first=${cmd%% *}
    if [[ $(basename "$first") == gq_test_* ]] && [[ $first != *.sh ]]; then
      extra="--gtest_brief=1${extra:+ $extra}"
    fi
    while [ "$(jobs -rp | wc -l)" -ge "$par" ]; do wait -n; done
    local t=$((tests_deadline - SECONDS))
    if [ "$t" -lt 5 ]; then
      echo "$name skip out of time (the tests step's $tests_cap s were spent)" >>"$work/tests/order"
      n_skip=$((n_skip + 1))
      continue
    fi
    # Its own timeout, or less when the step's time runs out first (then: "cut short").
    if [ "$t" -ge "$test_timeout" ]; then t=$test_timeout; else touch "$work/tests/$name.capped"; fi
    echo "$name run" >>"$work/tests/order"
    # shellcheck disable=SC2086
    run_one "$name" "$t" "$envs" $cmd $extra &
    n_run=$((n_run + 1))
  done < <(if [ "$kind" = gpu ]; then  # the script suites (many gq-train runs each) take longest
             awk -F'\t' '$4 ~ /\.sh( |$)/' "$bundle/tests.tsv"; awk -F'\t' '$4 !~ /\.sh( |$)/' "$bundle/tests.tsv"
           else cat "$bundle/tests.tsv"; fi)  # the emulator: ctest's order, kernel suites first
  wait
  local n_pass=0 n_fail=0 n_cut=0 rc secs what line
  {
    echo "## Tests"
    echo
    echo "$n_run test binaries run ($par at a time, each under timeout $test_timeout s), $n_skip skipped."
    echo
    echo "| test | result | seconds | detail |"
    echo "|---|---|---|---|"
  } >"$work/tests.md"
  : >"$out/tests.log"
  while read -r name what reason; do
    if [ "$what" = skip ]; then
      echo "| $name | skipped | | $reason |" >>"$work/tests.md"
      continue
    fi
    read -r rc secs <"$work/tests/$name.rc" 2>/dev/null || { rc=1; secs="?"; }
    line=$(grep -E '^\[  (PASSED|FAILED|SKIPPED) +\]|tests? (passed|failed)|^[0-9]+ passed' \
      "$work/tests/$name.log" | grep -vE '^\[  (FAILED|SKIPPED) +\] [A-Za-z]' | tail -3 | paste -sd' ' | tr '|' '/')
    if [ "$rc" = 0 ]; then
      n_pass=$((n_pass + 1)); what=pass
    elif [ "$rc" = 124 ] && [ -f "$work/tests/$name.capped" ]; then
      n_cut=$((n_cut + 1)); what="cut short (the tests step's $tests_cap s ran out)"
    else
      n_fail=$((n_fail + 1)); what="**FAIL** (exit $rc$([ "$rc" = 124 ] && echo ': timeout'))"
      line="$line $(grep -E '^\[  FAILED  \] [A-Za-z]|^FAIL' "$work/tests/$name.log" | head -5 |
        paste -sd' ' | tr '|' '/')"
    fi
    echo "| $name | $what | $secs | ${line:0:400} |" >>"$work/tests.md"
    {
      echo "==== $name: exit $rc, $secs s ===="
      head -c 300000 "$work/tests/$name.log"
      echo
    } >>"$out/tests.log"
  done <"$work/tests/order"
  [ -f "$work/tests/notes" ] && { echo; sed 's/^/- /' "$work/tests/notes"; } >>"$work/tests.md"
  echo >>"$work/tests.md"
  section 10-tests <"$work/tests.md"
  [ "$n_fail" -gt 0 ] && status=1
  record tests "$([ "$n_fail" = 0 ] && echo "$n_pass passed" || echo "**$n_fail FAILED**, $n_pass passed"), $n_cut cut short, $n_skip skipped" $((SECONDS - t0))

  # ---- parity ----
  begin 90 parity
  local pres="FAILED" ptext
  if out_of_time; then
    pres="skipped: out of time"
    echo "parity: $pres" >"$out/parity.txt"
  else
    {
      echo "== gq-parity --write on this device =="
      timeout -k 5 "$(cap 60)" "$bin/gq-parity" --write "$work/parity-run.bin" 2>&1 | tail -n 400
      echo "exit ${PIPESTATUS[0]}"
      echo
      echo "== gq-parity --compare (this device) (emulator reference from --prepare) =="
      timeout -k 5 "$(cap 30)" "$bin/gq-parity" --compare "$work/parity-run.bin" "$ref" 2>&1
      echo "exit ${PIPESTATUS[0]}"
    } >"$out/parity.txt"
    ptext=$(grep -E '^parity: [0-9]+ passed' "$out/parity.txt" | tail -1)
    if [ -n "$ptext" ] && grep -q "^parity: [0-9]* passed, 0 failed" "$out/parity.txt"; then
      pres="${ptext#parity: }"
    else
      pres="**FAILED** ${ptext#parity: }"
      [ -n "$ptext" ] || pres="$pres$(grep -m1 -E 'gq-parity: ' "$out/parity.txt" | cut -c1-200)"
      status=1
    fi
  fi
  {
    echo "## Parity (this device vs the emulator reference)"
    echo
    echo "$pres. Reference: \`$(sed -n 's/^emulator_reference: //p' "$bundle/manifest.txt")\`."
    if grep -qE 'MISMATCH|MISSING' "$out/parity.txt" 2>/dev/null; then
      echo
      echo '```'
      grep -E '^case|MISMATCH|MISSING' "$out/parity.txt" | head -40
      echo '```'
    fi
    echo
  } | section 20-parity
  record parity "$pres" $((SECONDS - t0))

  # ---- benchmarks ----
  begin 130 benchmarks
  local bres="" bfiles=() b bname bcap
  : >"$work/bench-console.txt"
  for b in "$bin"/gq-bench "$bin"/gq-bench-*; do
    [ -x "$b" ] || continue
    bname=$(basename "$b")
    [ "$bname" = gq-bench-cuemu ] && [ "$quick" = 1 ] && continue
    if out_of_time; then bres="$bres $bname:out-of-time"; continue; fi
    local args=(--benchmark_format=console --benchmark_out="$work/$bname.json" --benchmark_out_format=json)
    if [ "$bname" = gq-bench ]; then
      bcap=$(cap 120)
    else
      bcap=$(cap 40)
      args+=(--benchmark_min_time="$kmin")
      [ "$quick" = 1 ] && [ "$bname" != gq-bench-kernels ] && continue
      [ "$quick" = 1 ] && args+=(--benchmark_filter='BM_Axpy/')
    fi
    echo "==== $bname (timeout $bcap s) ====" >>"$work/bench-console.txt"
    GQ_BENCH_BATCH=$bench_batch GQ_BENCH_K=$bench_k GQ_BENCH_MIN_TIME=$bench_min \
      timeout -k 5 "$bcap" "$b" "${args[@]}" >>"$work/bench-console.txt" 2>&1
    rc=$?
    echo "exit $rc" >>"$work/bench-console.txt"
    if [ "$rc" = 124 ]; then
      bres="$bres $bname:timeout-${bcap}s"  # partial results are in the JSON; not a failure
    elif [ "$rc" != 0 ]; then
      bres="$bres $bname:**FAILED**-exit-$rc"; status=1
    fi
    [ -s "$work/$bname.json" ] && bfiles+=("$bname=$work/$bname.json")
  done
  {
    echo "== summary (from the JSON; bench.json holds every counter) =="
    python3 "$HELPER" bench-report "$out/bench.json" "${bfiles[@]}" 2>&1
    echo
    echo "== console output =="
    cat "$work/bench-console.txt"
  } >"$out/bench.txt"
  {
    echo "## Benchmarks"
    echo
    echo "gq-bench: GQ_BENCH_BATCH=$bench_batch GQ_BENCH_K=$bench_k (k:0 = plain), $bench_min s of steps per variant; kernel benchmarks --benchmark_min_time=$kmin. pct_of_roofline is against the memory peak the device reports (device_info().memory_bandwidth_gbs)."
    echo
    echo '```'
    sed -n '/^== summary/,/^== console/p' "$out/bench.txt" | sed '1d;$d' | grep -v '^$' | head -80
    echo '```'
    echo
  } | section 30-bench
  record benchmarks "${bres:-ok}" $((SECONDS - t0))

  # ---- a short training run ----
  begin 100 train
  local tres="" v vargs batch
  batch=$(sed -n 's/.*--batch-size \([0-9]*\).*/\1/p' <<<"$train_args")
  : >"$out/train.log"
  {
    echo "## Training (paper-cnn, CIFAR-10 subset: --train-subset $cifar_train --test-subset $cifar_test $train_args)"
    echo
  } >"$work/train.md"
  for v in plain gradqueue; do
    if out_of_time; then tres="$tres $v:out-of-time"; continue; fi
    vargs=()
    [ "$v" = gradqueue ] && vargs=(--gradqueue --gq-clusters 4)
    echo "==== gq-train $v ====" >>"$out/train.log"
    # shellcheck disable=SC2086
    timeout -k 5 "$(cap 90)" "$bin/gq-train" --model paper-cnn --dataset cifar10 \
      --train-subset "$cifar_train" --test-subset "$cifar_test" $train_args "${vargs[@]}" \
      --metrics "$work/train-$v.jsonl" 2>&1 | tr '\r' '\n' | grep -v '^$' >>"$out/train.log"
    rc=${PIPESTATUS[0]}
    echo "exit $rc" >>"$out/train.log"
    if [ "$rc" = 0 ]; then
      echo "- $v: $(python3 "$HELPER" train-report "$work/train-$v.jsonl" "$batch" 2>&1)" >>"$work/train.md"
    elif [ "$rc" = 124 ]; then
      echo "- $v: timeout (cut short by the step's time): $(python3 "$HELPER" train-report "$work/train-$v.jsonl" "$batch" 2>&1)" >>"$work/train.md"
      tres="$tres $v:timeout"
    else
      echo "- $v: **FAILED** (exit $rc): $(grep -v '^exit' "$out/train.log" | tail -1)" >>"$work/train.md"
      tres="$tres $v:exit-$rc"; status=1
    fi
  done
  echo >>"$work/train.md"
  section 40-train <"$work/train.md"
  record train "${tres:-ok}" $((SECONDS - t0))

  # ---- Nsight Compute on the most expensive kernels of a Grad Queue step ----
  begin 110 ncu
  local nres ncu="" nargs
  nargs=(--model paper-cnn --dataset cifar10 --train-subset 4096 --test-subset 512 --batch-size 512
         --gradqueue --gq-clusters 4 --profile 1 --quiet)
  if [ "$ncu_ok" = 0 ]; then
    nres="skipped: emulator (no Nsight Compute)"
    echo "ncu: $nres" >"$out/ncu.txt"
  else
    ncu=$(command -v ncu || ls -d /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda/bin/ncu \
      /usr/local/cuda/nsight-compute*/ncu 2>/dev/null | sort -V | tail -1)
    if [ -z "$ncu" ]; then
      nres="skipped: ncu not found (PATH, /opt/nvidia/nsight-compute/*/ncu, /usr/local/cuda/bin)"
      echo "ncu: $nres" >"$out/ncu.txt"
    elif out_of_time; then
      nres="skipped: out of time"
      echo "ncu: $nres" >"$out/ncu.txt"
    else
      {
        echo "ncu: $ncu ($("$ncu" --version 2>&1 | tail -1))"
        echo "workload: gq-train ${nargs[*]} (5 warm-up steps, then 1 Grad Queue step profiled)"
        echo
        echo "== pass 1: every kernel of the step, gpu__time_duration.sum =="
      } >"$out/ncu.txt"
      # Kernel names as function names (no namespaces, templates or parameters) where this ncu
      # has --print-kernel-base; full demangled names otherwise (then matched as such below).
      local base=function
      timeout -k 5 "$(cap 70)" "$ncu" --profile-from-start off --print-kernel-base function \
        --metrics gpu__time_duration.sum --csv --page raw "$bin/gq-train" "${nargs[@]}" \
        >"$work/ncu-all.csv" 2>"$work/ncu-all.err"
      rc=$?
      if [ "$rc" != 0 ] && grep -qiE 'print-kernel-base|unrecogni[sz]ed|unknown option' \
          "$work/ncu-all.err" "$work/ncu-all.csv"; then
        base=demangled
        echo "(this ncu has no --print-kernel-base: full demangled names)" >>"$out/ncu.txt"
        timeout -k 5 "$(cap 70)" "$ncu" --profile-from-start off \
          --metrics gpu__time_duration.sum --csv --page raw "$bin/gq-train" "${nargs[@]}" \
          >"$work/ncu-all.csv" 2>"$work/ncu-all.err"
        rc=$?
      fi
      if [ "$rc" != 0 ] || ! grep -q '^"ID"' "$work/ncu-all.csv"; then
        nres="FAILED (exit $rc): $(grep -hE 'ERR_|==ERROR==|rror' "$work/ncu-all.err" "$work/ncu-all.csv" | head -2 | paste -sd' ' | cut -c1-300)"
        { echo "$nres"; echo; tail -40 "$work/ncu-all.err"; tail -20 "$work/ncu-all.csv"; } >>"$out/ncu.txt"
      else
        python3 "$HELPER" ncu-top "$work/ncu-all.csv" 3 3>"$work/ncu-top" >>"$out/ncu.txt" 2>&1
        local k n=0 esc
        while IFS= read -r k; do
          [ -n "$k" ] || continue
          n=$((n + 1))
          if out_of_time; then echo "kernel $n ($k): skipped, out of time" >>"$out/ncu.txt"; continue; fi
          esc=$(printf '%s' "$k" | sed 's/[][\.*^$()+?{}|\/]/\\&/g')
          {
            echo
            echo "== pass $((n + 1)): $k (first launch in the profiled step) =="
            timeout -k 5 "$(cap 60)" "$ncu" --profile-from-start off --kernel-name-base "$base" \
              --kernel-name "regex:^${esc}\$" --launch-count 1 --section SpeedOfLight \
              --section MemoryWorkloadAnalysis --section ComputeWorkloadAnalysis --section Occupancy \
              --section LaunchStats "$bin/gq-train" "${nargs[@]}" 2>&1 | grep -v '^==PROF==' | tail -n 150
            echo "exit ${PIPESTATUS[0]}"
          } >>"$out/ncu.txt"
        done <"$work/ncu-top"
        nres="ok: top kernels $(paste -sd',' "$work/ncu-top" | cut -c1-200)"
      fi
    fi
  fi
  {
    echo "## Nsight Compute"
    echo
    echo "$nres"
    if [ -s "$work/ncu-top" ]; then
      echo
      echo '```'
      sed -n '/kernel launches/,/^$/p' "$out/ncu.txt" | head -8
      grep -E 'Duration|DRAM Throughput|Memory Throughput|Compute \(SM\) Throughput|Achieved Occupancy|^== pass [2-9]|^exit [1-9]' "$out/ncu.txt" | head -30
      echo '```'
    fi
    echo
  } | section 50-ncu
  record ncu "$nres" $((SECONDS - t0))

  echo "total: $((SECONDS - t_start)) s" >>"$man"
  assemble
  step "summary ($out)"
  cat "$out/summary.md"
  echo
  ls -la "$out"
  return $status
}

# ---- assemble a bundle's common parts: reference, data, tests list, manifest --------------------
# bundle_common BUNDLE KIND BUILD_DIR REF_PARITY_BIN DATA_ARGS...
bundle_common() {
  local bundle="$1" kind="$2" build="$3" ref_bin="$4"; shift 4
  local data_src="${GQ_DATA_DIR:-$repo/../shared/data}"
  [ -f "$data_src/cifar10/cifar-10-binary.tar.xz" ] && [ -d "$data_src/mnist" ] ||
    fail "no datasets at $data_src (set GQ_DATA_DIR): need cifar10/cifar-10-binary.tar.xz and mnist/"
  step "parity reference ($ref_bin)"
  local t0=$SECONDS
  "$ref_bin" --write "$bundle/parity-ref.bin" >"$bundle/.parity-ref.log" 2>&1 &&
    xz "-${GQ_PARITY_XZ:-6}" -T2 "$bundle/parity-ref.bin" ||
    { tail -20 "$bundle/.parity-ref.log"; fail "the reference gq-parity --write failed"; }
  local ref_device
  ref_device=$(sed -n 's/^device: //p' "$bundle/.parity-ref.log" | head -1)
  echo "$(grep -c '^ran ' "$bundle/.parity-ref.log") cases in $((SECONDS - t0)) s on: $ref_device"
  rm -f "$bundle/.parity-ref.log"
  step "data subset"
  python3 "$HELPER" pack-data "$data_src" "$bundle/data" "$@" || fail "packing the data subset failed"
  step "tests list"
  ctest --test-dir "$build" --show-only=json-v1 >"$bundle/.ctest.json" 2>/dev/null ||
    fail "ctest --show-only failed in $build"
  python3 "$HELPER" tests-list "$bundle/.ctest.json" "$build/bin" "$repo" >"$bundle/tests.tsv" ||
    fail "making tests.tsv failed"
  rm -f "$bundle/.ctest.json"
  echo "$(wc -l <"$bundle/tests.tsv") tests"
  local cifar_train cifar_test
  cifar_train=$(sed -n 's/^cifar10_train_images: //p' "$bundle/data/README.txt")
  cifar_test=$(sed -n 's/^cifar10_test_images: //p' "$bundle/data/README.txt")
  [ -n "$cifar_train" ] && [ -n "$cifar_test" ] || fail "$bundle/data/README.txt lacks the CIFAR-10 subset sizes"
  {
    echo "device: $kind"
    echo "created: $(date -u +%Y-%m-%dT%H:%MZ) on $(hostname) ($(grep -m1 PRETTY_NAME /etc/os-release | cut -d= -f2 | tr -d '"'))"
    echo "git: $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes')"
    echo "emulator_reference: $EMU_REF_FLAGS ($ref_device)"
    echo "data_cifar_train: $cifar_train"
    echo "data_cifar_test: $cifar_test"
  } >"$bundle/manifest.txt"
}

# ---- --prepare ------------------------------------------------------------------------------
prepare() {
  local bundle="${bundle:-gpu-bundle}" jobs="${GQ_JOBS:-$(nproc)}"
  bundle="${bundle%/}"
  case "$bundle" in /*|*/*|.*|"") die "--bundle must be a folder name at the repo root (got '$bundle')" ;; esac
  git check-ignore -q "$bundle/manifest.txt" || die "'$bundle' is not git-ignored: the device machine receives it \
only as a carried ignored path (add it to .gitignore)"
  local nvcc="${CUDACXX:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}"
  [ -x "$nvcc" ] || fail "nvcc not found (PATH, CUDACXX, /usr/local/cuda/bin)"
  local t_all=$SECONDS
  step "GPU build ($GPU_BUILD: GQ_CUDA=ON GQ_PORTABLE=ON sm_$CUDA_ARCH, nvcc $("$nvcc" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p'))"
  cmake -S . -B "$GPU_BUILD" -G Ninja -DGQ_CUDA=ON -DGQ_PORTABLE=ON -DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCH" \
    -DCMAKE_CUDA_COMPILER="$nvcc" -DCMAKE_BUILD_TYPE=Release >"$GPU_BUILD.configure.log" 2>&1 ||
    { tail -30 "$GPU_BUILD.configure.log"; fail "configure failed ($GPU_BUILD.configure.log)"; }
  rm -f "$GPU_BUILD.configure.log"
  cmake --build "$GPU_BUILD" -j "$jobs" || fail "the GPU build failed"
  step "reference emulator build ($EMU_BUILD: $EMU_REF_FLAGS)"
  # shellcheck disable=SC2086
  cmake -S . -B "$EMU_BUILD" -G Ninja $EMU_REF_FLAGS -DCMAKE_BUILD_TYPE=Release >/dev/null ||
    fail "configure of $EMU_BUILD failed"
  cmake --build "$EMU_BUILD" -j "$jobs" --target gq-parity || fail "the emulator gq-parity build failed"

  step "bundle $bundle/"
  rm -rf "$bundle"
  mkdir -p "$bundle" || fail "cannot create $bundle"
  # Staged here, checked, then packed as payload.tar.xz (the binaries are ~4x smaller packed).
  local stage
  stage=$(mktemp -d "${TMPDIR:-/tmp}/gq-stage.XXXXXX") || fail "mktemp failed"
  # shellcheck disable=SC2064
  trap "rm -rf '$stage'" EXIT
  mkdir -p "$stage/bin" "$stage/lib/fallback"
  local f so path
  for f in "$GPU_BUILD"/bin/*; do
    [ -f "$f" ] && [ -x "$f" ] || continue
    cp "$f" "$stage/bin/" && strip --strip-unneeded "$stage/bin/$(basename "$f")"
  done
  # Copy every shared library the binaries need that is neither glibc nor NVIDIA's (the CUDA
  # libraries come from the device machine) into lib/: libbenchmark. The C++ runtime it (and
  # cuDNN) load goes to lib/fallback/: this machine's needs glibc 2.36, so the run step uses it
  # only where the device machine's own libstdc++/libgcc_s are missing or too old.
  local cuda_lib
  cuda_lib=$(dirname "$(readlink -f "$(dirname "$nvcc")/../lib64/libcudart.so")")
  for f in "$stage"/bin/*; do LD_LIBRARY_PATH="$cuda_lib" ldd "$f"; done |
    awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | sort -u | while read -r so path; do
      case "$so" in
        libc.so.*|libm.so.*|libdl.so.*|librt.so.*|libpthread.so.*|ld-linux*|libresolv.so.*) ;;
        libcuda.so*|libcublas*|libcudnn*|libnvrtc*|libnvJitLink*|libcudart*|libnvToolsExt*) ;;
        libstdc++.so.*|libgcc_s.so.*|libz.so.*) cp -L "$path" "$stage/lib/fallback/$so" ;;
        *) cp -L "$path" "$stage/lib/$so" ;;
      esac
    done
  echo "bin/: $(ls "$stage/bin" | wc -l) binaries, $(du -sh "$stage/bin" | cut -f1) stripped; lib/: $(cd "$stage/lib" && find . -type f | sort | paste -sd' ')"

  bundle_common "$bundle" gpu "$GPU_BUILD" "$EMU_BUILD/bin/gq-parity"
  {
    echo "built: GQ_CUDA=ON GQ_PORTABLE=ON CMAKE_CUDA_ARCHITECTURES=$CUDA_ARCH, $("$nvcc" --version | tail -2 | head -1)"
    echo "runtime: cudart static; needs libcublas.so.13, libcublasLt.so.13, libcudnn.so.9 (+ its engine libraries) on LD_LIBRARY_PATH"
    echo "glibc needs (max over bin/ and lib/, objdump -T):"
    glibc_needs "$stage"/bin/* "$stage"/lib/*.so* | sed 's/^/  /'
    echo "glibc needs of lib/fallback/ (used only when the device machine's own are missing or too old):"
    glibc_needs "$stage"/lib/fallback/* | sed 's/^/  /'
    echo "glibc needs per file:"
    for f in "$stage"/bin/* "$stage"/lib/*.so* "$stage"/lib/fallback/*; do
      echo "  ${f#"$stage"/}: $(glibc_needs "$f" | paste -sd' ')"
    done
    echo "NEEDED (dynamic) per binary:"
    for f in "$stage"/bin/*; do
      echo "  $(basename "$f"): $(objdump -p "$f" | awk '/NEEDED/ {print $2}' | paste -sd' ') [RUNPATH $(objdump -p "$f" | awk '/RUNPATH/ {print $2}')]"
    done
    echo "lib/ (copied: neither glibc nor NVIDIA): $(cd "$stage/lib" && find . -type f | sort | paste -sd' ')"
  } >>"$bundle/manifest.txt"

  step "checks"
  local bad=0 missing
  for f in "$stage"/bin/*; do
    # Every library must resolve to the toolkit's lib64, the bundle's lib/ or glibc.
    missing=$(LD_LIBRARY_PATH="$cuda_lib:$stage/lib:$stage/lib/fallback" ldd "$f" 2>&1 | awk -v lib="$stage/lib" -v cuda="$cuda_lib" '
      /not found/ {print; next}
      $2 == "=>" && $3 ~ /^\// {
        if (index($3, lib "/") == 1 || index($3, cuda "/") == 1) next
        if ($1 ~ /^(libc|libm|libdl|librt|libpthread|libresolv)\.so/ || $1 ~ /^ld-linux/) next
        print $1 " => " $3 " (outside the toolkit, the bundle and glibc)"
      }')
    if [ -n "$missing" ]; then echo "$(basename "$f"): $missing"; bad=1; fi
  done
  if [ "$bad" = 0 ]; then
    echo "ldd: all $(ls "$stage/bin" | wc -l) binaries resolve every library in $cuda_lib, the bundle's lib/ (+ lib/fallback/) or glibc"
  else
    fail "ldd found libraries outside the toolkit, the bundle and glibc (above)"
  fi
  if ! nvidia-smi -L >/dev/null 2>&1; then
    local msg rc b args
    for b in gq-parity gq-bench-kernels gq-train; do
      case "$b" in
        gq-parity) args=(--write /dev/null) ;;
        gq-train) args=(--dataset mnist --model mnist-cnn --data-dir "${GQ_DATA_DIR:-$repo/../shared/data}"
                        --train-subset 64 --test-subset 64 --batch-size 32 --max-steps 1) ;;
        *) args=() ;;
      esac
      msg=$(cd /tmp && LD_LIBRARY_PATH="$cuda_lib:$stage/lib" "$stage/bin/$b" "${args[@]}" 2>&1)
      rc=$?
      echo "no GPU here: bin/$b -> exit $rc: $(grep -m1 "no CUDA device" <<<"$msg" | cut -c1-200)"
      [ "$rc" != 0 ] && grep -q "no CUDA device" <<<"$msg" ||
        { tail -5 <<<"$msg"; fail "$b without a GPU: expected a 'no CUDA device' error and a non-zero exit"; }
    done
  fi
  step "pack"
  tar -C "$stage" -cf - bin lib | xz -9 -T2 >"$bundle/payload.tar.xz" || fail "packing payload.tar.xz failed"
  rm -rf "$stage"
  local tree bund total
  tree=$(tree_bytes)
  bund=$(du -sb "$bundle" | cut -f1)
  total=$((tree + bund))
  {
    echo "sizes: tree (tracked + untracked-not-ignored) $(mib "$tree"), bundle $(mib "$bund"), total $(mib "$total") (limit $LIMIT_MIB MiB of the 64 MiB the device machine receives)"
    echo "bundle contents (bytes):"
    (cd "$bundle" && find . -type f -printf '%s %p\n' | sort -k2 | awk '{printf "  %10d  %s\n", $1, $2}')
  } >>"$bundle/manifest.txt"
  sed -n '/^sizes: /,$p' "$bundle/manifest.txt"
  echo "glibc needs: $(sed -n '/^glibc needs (max/,/^glibc needs of/p' "$bundle/manifest.txt" | sed '1d;$d' | paste -sd',');" \
    "lib/fallback/: $(sed -n '/^glibc needs of/,/^glibc needs per/p' "$bundle/manifest.txt" | sed '1d;$d' | paste -sd',')"
  [ "$total" -le $((LIMIT_MIB * 1048576)) ] || fail "tree + bundle = $(mib "$total"): over the $LIMIT_MIB MiB limit"
  echo
  echo "prepared $bundle/ in $((SECONDS - t_all)) s. On the GPU machine (carry [\"$bundle\"]):"
  echo "  tools/gpu-check.sh --run $bundle --out \$OUT"
}

# ---- --dry-run ------------------------------------------------------------------------------
dry_run() {
  local build jobs="${GQ_JOBS:-$(nproc)}"
  if [ -n "$emu_bin" ]; then
    [ -x "$emu_bin/gq-parity" ] || die "--emu-bin $emu_bin has no gq-parity"
    emu_bin=$(cd "$emu_bin" && pwd)
    build=$(dirname "$emu_bin")
  else
    step "emulator build ($EMU_BUILD: $EMU_REF_FLAGS)"
    # shellcheck disable=SC2086
    cmake -S . -B "$EMU_BUILD" -G Ninja $EMU_REF_FLAGS -DCMAKE_BUILD_TYPE=Release >/dev/null ||
      fail "configure of $EMU_BUILD failed"
    cmake --build "$EMU_BUILD" -j "$jobs" || fail "the emulator build failed"
    build="$repo/$EMU_BUILD"
    emu_bin="$build/bin"
  fi
  grep -q '^GQ_BUILT_FOR_GPU:INTERNAL=OFF' "$build/CMakeCache.txt" 2>/dev/null ||
    die "$build is not an emulator build (GQ_CUDA=OFF)"
  local dry
  dry=$(mktemp -d "${TMPDIR:-/tmp}/gq-dry-bundle.XXXXXX") || fail "mktemp failed"
  # shellcheck disable=SC2064
  trap "rm -rf '$dry'" EXIT
  if [ "$quick" = 1 ]; then
    ln -s "$emu_bin" "$dry/bin"  # --quick: skip packing, the run step uses bin/ as it is
  else
    step "payload (the emulator binaries, packed as --prepare packs the GPU ones)"
    tar -C "$(dirname "$emu_bin")" -cf - "$(basename "$emu_bin")" --transform 's,^[^/]*,bin,' |
      xz -1 -T2 >"$dry/payload.tar.xz" || fail "packing the emulator binaries failed"
    du -h "$dry/payload.tar.xz"
  fi
  if [ "$quick" = 1 ]; then
    GQ_PARITY_XZ=0 bundle_common "$dry" emulator "$build" "$emu_bin/gq-parity" --cifar-train 500 --cifar-test 100 \
      --mnist-train 1000 --mnist-test 200 --no-reuters --xz-preset 1 --test-from-train
  else
    bundle_common "$dry" emulator "$build" "$emu_bin/gq-parity"
  fi
  echo "emulator bundle in $dry ($(du -sbL "$dry" | cut -f1) bytes with bin/)"
  local rc
  ( run_step "$dry" "${out:-${OUT:-gpu-check-out}}" )
  rc=$?
  return $rc
}

case "$mode" in
  prepare) prepare ;;
  run) run_step "$bundle" "${out:-${OUT:-gpu-check-out}}" ;;
  dry) dry_run ;;
esac
