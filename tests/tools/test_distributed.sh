#!/usr/bin/env bash
# gq-train under mpirun (emulator build with GQ_MPI): bad situations end the whole job with a
# message naming the rank, never a hang. Usage: test_distributed.sh BIN_DIR (GQ_DATA_DIR set).
#  - processes started with different flags (MPMD launch): every rank refuses, naming rank 1;
#  - a batch the processes cannot share: refused;
#  - an error one rank alone hits (its data folder is missing): that rank's exit code, named;
#  - a rank killed with SIGKILL mid-run: mpirun ends the job, naming the rank;
#  - SIGTERM to one rank: every rank stops after the same step, rank 0 writes the checkpoint.
set -u
bin="$1"
tmp=$(mktemp -d)
pids_to_kill=()
trap 'for p in "${pids_to_kill[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT
passed=0 failed=0
mpi=(mpirun --allow-run-as-root --oversubscribe --mca btl self,vader
     -x GQ_DATA_DIR -x OMP_WAIT_POLICY -x CUEMU_WORKERS=1)
small=(--dataset mnist --model mnist-cnn --train-subset 256 --test-subset 64 --batch-size 32
       --quiet)

check() {  # NAME WANT_RC GOT_RC PATTERN OUTPUT
  if [ "$3" = "$2" ] && grep -q -- "$4" <<<"$5"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL $1: exit $3 (want $2), output lacks '$4':"
    grep -v '^\[' <<<"$5" | tail -8 | sed 's/^/    /'
  fi
}
run() {  # NAME WANT_RC PATTERN -- COMMAND...
  local name="$1" want="$2" pattern="$3"
  shift 4
  local out rc
  out=$(timeout 120 "$@" 2>&1)
  rc=$?
  check "$name" "$want" "$rc" "$pattern" "$out"
}
# The pid of rank R's gq-train under this script's mpirun (its environment names the rank).
rank_pid() {
  local p
  for p in $(pgrep -f "$bin/gq-train" || true); do
    if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$1" &&
       tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | grep -qx -- "$tmp/$2"; then
      echo "$p"
      return
    fi
  done
}

run works 0 "final test accuracy" -- "${mpi[@]}" -np 2 "$bin/gq-train" "${small[@]}" --max-steps 3
run flags-differ 1 "rank(s) 1 differ from rank 0" -- "${mpi[@]}" \
  -np 1 "$bin/gq-train" "${small[@]}" --max-steps 3 --lr 0.1 : \
  -np 1 "$bin/gq-train" "${small[@]}" --max-steps 3 --lr 0.2
run flags-differ-named 1 "--lr: rank 0 0.1, rank 1 0.2" -- "${mpi[@]}" \
  -np 1 "$bin/gq-train" "${small[@]}" --max-steps 3 --lr 0.1 : \
  -np 1 "$bin/gq-train" "${small[@]}" --max-steps 3 --lr 0.2
run batch-not-shared 1 "not divisible by the 3 processes" -- "${mpi[@]}" -np 3 "$bin/gq-train" \
  "${small[@]}" --max-steps 3
run one-rank-data-error 3 "rank 1 of 2: data error" -- "${mpi[@]}" \
  -np 1 "$bin/gq-train" "${small[@]}" --max-steps 3 : \
  -np 1 "$bin/gq-train" "${small[@]}" --max-steps 3 --data-dir "$tmp/nowhere"

# A rank dies (SIGKILL) during training: the job ends, the message names the rank.
long=("${small[@]}" --max-steps 100000 --epochs 0 --log-every 1 --metrics "$tmp/kill.jsonl")
"${mpi[@]}" -np 2 "$bin/gq-train" "${long[@]}" >"$tmp/kill.out" 2>&1 &
job=$!
pids_to_kill+=("$job")
for _ in $(seq 600); do [ -s "$tmp/kill.jsonl" ] && break; sleep 0.1; done
victim=$(rank_pid 1 kill.jsonl)
if [ -n "$victim" ]; then
  kill -9 "$victim"
  rc=0
  for _ in $(seq 600); do kill -0 "$job" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$job" 2>/dev/null; then
    rc=hang
  else
    wait "$job"
    rc=$?
  fi
  [ "$rc" != 0 ] && [ "$rc" != hang ] && rc=nonzero
  check rank-killed nonzero "$rc" "process rank 1" "$(cat "$tmp/kill.out")"
else
  check rank-killed nonzero "no rank 1 found" "process rank 1" "$(cat "$tmp/kill.out")"
fi

# SIGTERM to rank 1 alone: the ranks agree to stop after the same step; rank 0 saves.
mkdir -p "$tmp/ck"
long=("${small[@]}" --max-steps 100000 --epochs 0 --log-every 1 --metrics "$tmp/term.jsonl"
      --checkpoint-dir "$tmp/ck")
"${mpi[@]}" -np 2 "$bin/gq-train" "${long[@]}" >"$tmp/term.out" 2>&1 &
job=$!
pids_to_kill+=("$job")
for _ in $(seq 600); do [ -s "$tmp/term.jsonl" ] && break; sleep 0.1; done
victim=$(rank_pid 1 term.jsonl)
rc=none
if [ -n "$victim" ]; then
  kill -TERM "$victim"
  for _ in $(seq 600); do kill -0 "$job" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$job" 2>/dev/null; then rc=hang; else wait "$job"; rc=$?; fi
fi
check sigterm-one-rank 143 "$rc" "to resume, run" "$(cat "$tmp/term.out")"
n_ckpt=$(ls "$tmp/ck" | grep -c '^step.*\.ckpt$')
check sigterm-one-checkpoint 1 "$n_ckpt" "" ""

echo "test_distributed: $passed passed, $failed failed"
[ "$failed" = 0 ]
