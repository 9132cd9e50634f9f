#!/usr/bin/env bash
# gq-train under mpirun (emulator build with GQ_MPI): bad situations end the whole job with a
# message naming the rank, never a hang. Usage: test_distributed.sh BIN_DIR (GQ_DATA_DIR set).
#  - processes started with different flags (MPMD launch): every rank refuses, naming rank 1 and,
#    on it, the flag (--lr, and --eval-every, which changes which collectives run);
#  - a rank whose data folder holds other labels: refused, naming the split;
#  - a batch the processes cannot share: refused;
#  - an error one rank alone hits (its data folder is missing): that rank's exit code, named;
#  - a rank killed with SIGKILL mid-run: mpirun ends the job, naming the rank;
#  - a rank stopped with SIGSTOP (alive, silent): the other ends the job after --comm-timeout,
#    naming it;
#  - SIGTERM to one rank: every rank stops after the same step, rank 0 writes the checkpoint;
#  - --cuda-graph auto falls back to direct launches (saying why), on is refused.
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
# --cuda-graph: auto takes direct launches under mpirun and says why; on is refused, naming it.
run graph-auto-off 0 "cuda-graph  off: data-parallel (2 processes)" -- "${mpi[@]}" -np 2 \
  "$bin/gq-train" "${small[@]:0:10}" --max-steps 2
run graph-on-refused 1 "--cuda-graph on: the training step cannot be captured" -- "${mpi[@]}" \
  -np 2 "$bin/gq-train" "${small[@]}" --max-steps 2 --cuda-graph on
run flags-differ 1 "rank(s) 1 differ from rank 0" -- "${mpi[@]}" \
  -np 1 "$bin/gq-train" "${small[@]}" --max-steps 3 --lr 0.1 : \
  -np 1 "$bin/gq-train" "${small[@]}" --max-steps 3 --lr 0.2
run flags-differ-named 1 "--lr: rank 0 0.1, rank 1 0.2" -- "${mpi[@]}" \
  -np 1 "$bin/gq-train" "${small[@]}" --max-steps 3 --lr 0.1 : \
  -np 1 "$bin/gq-train" "${small[@]}" --max-steps 3 --lr 0.2
# A flag given to one rank only that changes which collectives run (evaluations here) is named.
run eval-every-differs 1 "--eval-every: rank 0 0, rank 1 2" -- "${mpi[@]}" \
  -np 1 "$bin/gq-train" "${small[@]}" --max-steps 3 : \
  -np 1 "$bin/gq-train" "${small[@]}" --max-steps 3 --eval-every 2
# A rank whose data folder holds other labels would train another model: the ranks compare what
# they loaded, and the differing rank names the split.
mkdir -p "$tmp/other/mnist"
cp "$GQ_DATA_DIR"/mnist/t10k-* "$GQ_DATA_DIR"/mnist/train-images-* "$tmp/other/mnist/"
python3 - "$GQ_DATA_DIR/mnist/train-labels-idx1-ubyte.gz" "$tmp/other/mnist/train-labels-idx1-ubyte" <<'EOF'
import gzip, sys
b = bytearray(gzip.open(sys.argv[1]).read())
b[8] = (b[8] + 1) % 10  # the first image's label
open(sys.argv[2], "wb").write(b)
EOF
run data-differs 1 "train split: rank 0 256 samples, digest" -- \
  "${mpi[@]}" -np 1 "$bin/gq-train" "${small[@]}" --max-steps 3 : \
  -np 1 "$bin/gq-train" "${small[@]}" --max-steps 3 --data-dir "$tmp/other"
run batch-not-shared 1 "not divisible by the 3 processes" -- "${mpi[@]}" -np 3 "$bin/gq-train" \
  "${small[@]}" --max-steps 3
run one-rank-data-error 3 "rank 1 of 2: data error" -- "${mpi[@]}" \
  -np 1 "$bin/gq-train" "${small[@]}" --max-steps 3 : \
  -np 1 "$bin/gq-train" "${small[@]}" --max-steps 3 --data-dir "$tmp/nowhere"

# Starts a 2-rank job that trains until stopped (metrics in $tmp/NAME.jsonl, output in
# $tmp/NAME.out), sends SIGNAL to rank 1 once training runs, and sets rc to the job's exit code
# ("hang" if it has not ended within a minute, "none" if rank 1 was not found).
signal_rank_1() {  # NAME SIGNAL EXTRA_FLAGS...
  local name="$1" signal="$2" job victim
  shift 2
  "${mpi[@]}" -np 2 "$bin/gq-train" "${small[@]}" --max-steps 100000 --epochs 0 --log-every 1 \
    --metrics "$tmp/$name.jsonl" "$@" >"$tmp/$name.out" 2>&1 &
  job=$!
  pids_to_kill+=("$job")
  for _ in $(seq 600); do grep -qs '"type":"train"' "$tmp/$name.jsonl" && break; sleep 0.1; done
  victim=$(rank_pid 1 "$name.jsonl")
  rc=none
  [ -n "$victim" ] || return
  pids_to_kill+=("$victim")
  kill "-$signal" "$victim"
  for _ in $(seq 600); do kill -0 "$job" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$job" 2>/dev/null; then rc=hang; else wait "$job"; rc=$?; fi
}
nonzero() { [ "$rc" != 0 ] && [ "$rc" != hang ] && [ "$rc" != none ] && rc=nonzero; }

# A rank dies (SIGKILL) during training: the job ends, the message names the rank.
signal_rank_1 kill KILL
nonzero
check rank-killed nonzero "$rc" "process rank 1" "$(cat "$tmp/kill.out")"

# A rank stops (SIGSTOP: alive, never answering): past --comm-timeout the waiting rank names it.
signal_rank_1 stop STOP --comm-timeout 3
nonzero
check rank-stopped nonzero "$rc" "rank(s) 1 do not answer" "$(cat "$tmp/stop.out")"

# SIGTERM to rank 1 alone: the ranks agree to stop after the same step; rank 0 saves.
mkdir -p "$tmp/ck"
signal_rank_1 term TERM --checkpoint-dir "$tmp/ck"
check sigterm-one-rank 143 "$rc" "to resume, run" "$(cat "$tmp/term.out")"
n_ckpt=$(ls "$tmp/ck" | grep -c '^step.*\.ckpt$')
check sigterm-one-checkpoint 1 "$n_ckpt" "" ""

echo "test_distributed: $passed passed, $failed failed"
[ "$failed" = 0 ]
