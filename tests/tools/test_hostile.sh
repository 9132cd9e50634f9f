#!/usr/bin/env bash
# Issue 14, replayed against the tool binaries: hostile data and checkpoint files, special files,
# signals, failing outputs and bad flags each end with a clear message and a known exit code,
# never a crash, a hang or silent loss. Usage: test_hostile.sh BIN_DIR (GQ_DATA_DIR: shared data).
set -u
bin="$1"
source "$(dirname "$0")/expect.sh"
# Every case decodes what it reads: a cached decoded copy (datasets/decoded_cache.h) would change
# what runs out of memory, and when.
export GQ_CACHE_DIR=off
export GQ_DATA_DIR="${GQ_DATA_DIR:?GQ_DATA_DIR must point at the shared data}"

# A checkpoint edited by Python, its FNV-1a checksum recomputed (a forgery, not bit rot).
forge() {  # forge IN OUT PYTHON-STATEMENTS (on header h: dict, sections s: {name: bytes})
  python3 - "$1" "$2" "$3" <<'EOF'
import json, struct, sys
src, dst, code = sys.argv[1:]
b = open(src, "rb").read()[:-8]
n = struct.unpack_from("<Q", b, 8)[0]
h = json.loads(b[16:16 + n]); p = 16 + n
count = struct.unpack_from("<Q", b, p)[0]; p += 8
s = {}
for _ in range(count):
    k = struct.unpack_from("<I", b, p)[0]; name = b[p + 4:p + 4 + k].decode(); p += 4 + k
    v = struct.unpack_from("<Q", b, p)[0]; s[name] = [v, b[p + 8:p + 8 + 4 * v]]; p += 8 + 4 * v
exec(code)
hb = json.dumps(h).encode() if isinstance(h, dict) else h
out = b"GQCKPT01" + struct.pack("<Q", len(hb)) + hb + struct.pack("<Q", len(s))
for name, (v, data) in sorted(s.items()):
    out += struct.pack("<I", len(name)) + name.encode() + struct.pack("<Q", v) + data
f = 1469598103934665603
for c in out:
    f = ((f ^ c) * 1099511628211) % (1 << 64)
open(dst, "wb").write(out + struct.pack("<Q", f))
EOF
}
lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }

run=(--dataset mnist --model mlp --train-subset 512 --test-subset 64 --batch-size 32 --quiet)

# --- Data files -------------------------------------------------------------------------------
idx() {  # idx FILE MAGIC DIM... : an IDX header, data zero-filled to the product (if small)
  python3 - "$@" <<'EOF'
import struct, sys
f, magic, dims = sys.argv[1], int(sys.argv[2], 0), [int(d) for d in sys.argv[3:]]
size = 1
for d in dims: size *= d
open(f, "wb").write(struct.pack(">I%dI" % len(dims), magic, *dims) + bytes(size if size < 1 << 24 else 0))
EOF
}
mkdir -p "$tmp/wrap/mnist"
idx "$tmp/wrap/mnist/train-images-idx3-ubyte" 0x803 1048576 1048576 16777216  # 2^64 bytes: wraps to 0
idx "$tmp/wrap/mnist/train-labels-idx1-ubyte" 0x801 1048576
expect idx-wraparound 3 "train-images-idx3-ubyte" "implausible IDX dimensions" "more than 2^64 bytes" -- \
  "$bin/gq-train" "${run[@]}" --data-dir "$tmp/wrap"

mkdir -p "$tmp/shape/mnist"
idx "$tmp/shape/mnist/train-images-idx3-ubyte" 0x803 64 28 28
idx "$tmp/shape/mnist/train-labels-idx1-ubyte" 0x801 64
idx "$tmp/shape/mnist/t10k-images-idx3-ubyte" 0x803 16 32 32
idx "$tmp/shape/mnist/t10k-labels-idx1-ubyte" 0x801 16
expect train-test-shapes 3 "the test split does not match the train split" "expected 1x28x28" "found 1x32x32" -- \
  "$bin/gq-train" --dataset mnist --model mlp --batch-size 16 --quiet --data-dir "$tmp/shape"

mkdir -p "$tmp/zero/mnist" "$tmp/fifo/mnist" "$tmp/sparse/mnist"
ln -s /dev/zero "$tmp/zero/mnist/train-images-idx3-ubyte"
mkfifo "$tmp/fifo/mnist/train-images-idx3-ubyte"
truncate -s 3G "$tmp/sparse/mnist/train-images-idx3-ubyte"
for d in zero fifo sparse; do cp "$GQ_DATA_DIR/mnist/train-labels-idx1-ubyte.gz" "$tmp/$d/mnist/"; done
expect data-dev-zero 3 "train-images-idx3-ubyte" "found a character device" -- "$bin/gq-train" "${run[@]}" --data-dir "$tmp/zero"
expect data-fifo 3 "train-images-idx3-ubyte" "found a FIFO" -- "$bin/gq-train" "${run[@]}" --data-dir "$tmp/fifo"
expect data-sparse-3g 3 "file too large" "at most 1.0 GiB for an IDX file" "found 3.0 GiB" -- \
  "$bin/gq-train" "${run[@]}" --data-dir "$tmp/sparse"

mkdir -p "$tmp/tar/cifar10"
python3 - "$tmp/tar/cifar10/cifar-10-binary.tar.gz" <<'EOF'
import io, sys, tarfile, gzip
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
    info = tarfile.TarInfo("cifar-10-batches-bin/data_batch_1.bin"); info.size = 3073
    t.addfile(info, io.BytesIO(bytes(3073)))
h = bytearray(buf.getvalue())
h[124:136] = b"77777777777\0"  # the member claims 8 GiB
h[148:156] = b" " * 8
h[148:156] = b"%06o\0 " % sum(h[:512])
open(sys.argv[1], "wb").write(gzip.compress(bytes(h)))
EOF
expect tar-member-8gib 3 "cifar-10-binary.tar.gz [member cifar-10-batches-bin/data_batch_1.bin]" \
  "archive member too large" "8589934591 bytes in its tar header" -- \
  "$bin/gq-train" --dataset cifar10 --model paper-cnn --quiet --data-dir "$tmp/tar"

# --- Checkpoints ------------------------------------------------------------------------------
expect make-checkpoint 0 "final test accuracy" -- "$bin/gq-train" "${run[@]}" --max-steps 6 \
  --checkpoint-dir "$tmp/ck" --checkpoint-every 3 --metrics "$tmp/ck.jsonl"
good="$tmp/ck/step0000003.ckpt"
forge "$good" "$tmp/neg.ckpt" 'h["step"] = -3'
forge "$good" "$tmp/huge.ckpt" 's["params"][0] = 1 << 62'
forge "$good" "$tmp/json.ckpt" 'h = b"{\"step\": 3,"'
forge "$good" "$tmp/type.ckpt" 'h["seed"] = "seven"'
forge "$good" "$tmp/nan.ckpt" 's["params"][1] = b"\x00\x00\xc0\x7f" * s["params"][0]'
expect resume-negative-step 1 "neg.ckpt" "'step' is -3" "non-negative integer" -- "$bin/gq-train" "${run[@]}" --max-steps 6 --resume "$tmp/neg.ckpt"
expect resume-huge-section 1 "huge.ckpt" "truncated or forged checkpoint" "section data" -- "$bin/gq-train" "${run[@]}" --max-steps 6 --resume "$tmp/huge.ckpt"
expect resume-bad-json 1 "json.ckpt" "is not valid JSON" -- "$bin/gq-train" "${run[@]}" --max-steps 6 --resume "$tmp/json.ckpt"
expect eval-bad-type 1 "type.ckpt" "'seed'" -- "$bin/gq-eval" "$tmp/type.ckpt"
expect eval-nan-model 1 "nan.ckpt" "section 'params' holds nan at index" "expected finite values" -- "$bin/gq-eval" "$tmp/nan.ckpt" --test-subset 64
expect resume-finished 1 "already finished (step 6 of 6)" "gq-eval" -- "$bin/gq-train" "${run[@]}" --max-steps 6 --resume "$tmp/ck/last.ckpt"
expect resume-other-run 1 "3 setting(s) differ" "--seed: checkpoint 0, this run 5" "--max-steps: checkpoint 6, this run 4" \
  "--lr: checkpoint 0.1, this run 0.05" -- "$bin/gq-train" "${run[@]}" --max-steps 4 --seed 5 --lr 0.05 --resume "$good"
expect make-gq-checkpoint 0 "final test accuracy" -- "$bin/gq-train" "${run[@]}" --max-steps 2 \
  --gradqueue --gq-clusters 2 --checkpoint-dir "$tmp/gq" --checkpoint-every 1
expect resume-gq-qmin 1 "--gq-qmin: checkpoint 4, this run 8" -- "$bin/gq-train" "${run[@]}" \
  --max-steps 2 --gradqueue --gq-clusters 2 --gq-qmin 8 --resume "$tmp/gq/step0000001.ckpt"
mkfifo "$tmp/fifo.ckpt" "$tmp/fifo.toml"
expect resume-fifo 1 "fifo.ckpt" "found a FIFO" -- "$bin/gq-train" "${run[@]}" --resume "$tmp/fifo.ckpt"
expect resume-dev-zero 1 "/dev/zero" "found a character device" -- "$bin/gq-train" "${run[@]}" --resume /dev/zero
expect eval-fifo 1 "found a FIFO" -- "$bin/gq-eval" "$tmp/fifo.ckpt"

# --- Config files -----------------------------------------------------------------------------
expect config-fifo 105 "fifo.toml" "found a FIFO" -- "$bin/gq-train" --config "$tmp/fifo.toml"
expect config-dev-zero 105 "/dev/zero" "found a character device" -- "$bin/gq-train" --config /dev/zero
printf 'model = "mlp"\n\n[gq]\nqmin = 3\n' >"$tmp/section.toml"
expect config-section 110 "section.toml line 3" "[sections] are not supported" -- "$bin/gq-train" --config "$tmp/section.toml"
printf '# run\nmodel = "mlp\n' >"$tmp/quote.toml"
expect config-unterminated 110 "quote.toml line 2" "unterminated string" -- "$bin/gq-train" --config "$tmp/quote.toml"
printf 'model = "mlp"\nbatch-size = 32\nbogus-key = 3\n' >"$tmp/key.toml"
expect config-unknown-key 110 "key.toml line 3" "unknown key 'bogus-key'" -- "$bin/gq-train" --config "$tmp/key.toml"
printf 'model = "mlp"\nlr = nan\n' >"$tmp/nan.toml"
expect config-nan-value 105 "--lr" "finite number" "(set in $tmp/nan.toml line 2)" -- "$bin/gq-train" --config "$tmp/nan.toml"

# --- Flags ------------------------------------------------------------------------------------
expect flag-lr-nan 105 "--lr" "expected a finite number > 0" -- "$bin/gq-train" --lr nan
expect flag-clip-nan 105 "--clip-norm" "finite number in 0..1000000" -- "$bin/gq-train" --clip-norm nan
expect flag-momentum-inf 105 "--momentum" -- "$bin/gq-train" --momentum inf
expect flag-subset-negative 105 "--train-subset" "an integer 0..2147483647" -- "$bin/gq-train" --train-subset -5
expect flag-steps-negative 105 "--max-steps" -- "$bin/gq-train" --max-steps -1
expect flag-seed-negative 105 "--seed" "an integer 0..2^64-1" -- "$bin/gq-train" --seed -1
expect flag-clusters-fraction 105 "--gq-clusters" "auto or an integer 1..64" -- "$bin/gq-train" --gq-clusters 2.5
expect flag-keep-negative 105 "--keep-checkpoints" -- "$bin/gq-train" --keep-checkpoints -1
expect flag-rho-range 105 "--gq-rho" "1..1000000" -- "$bin/gq-train" --gq-rho 0.5
expect flag-cuda-graph 105 "--cuda-graph" "expected one of auto, on, off" -- "$bin/gq-train" --cuda-graph sometimes

# --- Outputs ----------------------------------------------------------------------------------
expect metrics-dev-full 1 "--metrics /dev/full: writing a record failed: No space left on device" -- \
  "$bin/gq-train" "${run[@]}" --max-steps 4 --log-every 1 --metrics /dev/full
touch "$tmp/a-file"
started=$SECONDS
expect checkpoint-dir-unusable 1 "--checkpoint-dir $tmp/a-file/ck" "cannot create the folder" -- \
  "$bin/gq-train" "${run[@]}" --max-steps 4 --checkpoint-dir "$tmp/a-file/ck"
[ $((SECONDS - started)) -lt 20 ] && pass || fail "checkpoint-dir-unusable: not refused before training"
expect metrics-is-folder 1 "is a folder" -- "$bin/gq-train" "${run[@]}" --max-steps 4 --metrics "$tmp"
# A checkpoint write that fails: a 1 MiB file-size limit with SIGXFSZ's default action (which
# would kill the process); gq-train ignores it, so write(2) says EFBIG and no .tmp is left.
expect checkpoint-write-fails 1 "writing checkpoint $tmp/small/step0000002.ckpt failed: File too large" -- \
  bash -c "ulimit -f 1024; exec \"\$0\" \"\$@\"" "$bin/gq-train" "${run[@]}" --max-steps 4 \
  --checkpoint-dir "$tmp/small" --checkpoint-every 2
[ -z "$(ls "$tmp/small" | grep -F .tmp)" ] && pass || fail "checkpoint-write-fails: left $(ls "$tmp/small")"
# Leftover temporary files are removed on start; older checkpoints are pruned.
touch "$tmp/ck/step0000009.ckpt.tmp"
# A new run in a folder of another run's checkpoints is refused unless asked for (--overwrite).
expect new-run-into-old-folder 1 "--checkpoint-dir $tmp/ck holds" "checkpoint(s) of another run" \
  "--resume $tmp/ck/step0000006.ckpt" "--overwrite" -- "$bin/gq-train" "${run[@]}" --max-steps 8 \
  --checkpoint-dir "$tmp/ck"
[ -f "$tmp/ck/last.ckpt" ] && pass || fail "new-run-into-old-folder: the old run's last.ckpt is gone"
expect keep-two 0 "removed 3 checkpoint(s) of an earlier run" "final test accuracy" -- "$bin/gq-train" \
  "${run[@]/--quiet/--log-every=8}" --max-steps 8 --checkpoint-every 2 --keep-checkpoints 2 \
  --checkpoint-dir "$tmp/ck" --overwrite
[ "$(cd "$tmp/ck" && ls step*.ckpt | tr '\n' ' ')" = "step0000006.ckpt step0000008.ckpt " ] && \
  [ ! -e "$tmp/ck/step0000009.ckpt.tmp" ] && pass || fail "keep-two: $(ls "$tmp/ck" | tr '\n' ' ')"

# --- Divergence -------------------------------------------------------------------------------
# A learning rate that climbs (warm-up to 1e6) blows the model up after a few good steps.
expect diverged 1 "training diverged:" "no checkpoint is written from this state" \
  "Last good checkpoint: $tmp/div/step" -- "$bin/gq-train" "${run[@]}" --optimizer sgd \
  --lr 1000000 --schedule cosine --warmup 0.5 --max-steps 60 --log-every 1 --checkpoint-every 1 --checkpoint-dir "$tmp/div"
for ck in "$tmp"/div/step*.ckpt; do  # every checkpoint that was written holds a finite model
  expect "diverged-kept-$(basename "$ck")" 0 "confusion matrix" -- "$bin/gq-eval" "$ck" --test-subset 64
done

# --- Signals ----------------------------------------------------------------------------------
long=("${run[@]}" --epochs 8 --log-every 1)
"$bin/gq-train" "${long[@]}" --checkpoint-dir "$tmp/straight" --metrics "$tmp/straight.jsonl" >/dev/null 2>&1
# Stop once 40 records are in, then resume with the command the run printed.
"$bin/gq-train" "${long[@]}" --checkpoint-dir "$tmp/stop" --metrics "$tmp/stop.jsonl" >"$tmp/stop.out" 2>&1 &
pid=$!
for _ in $(seq 600); do [ "$(lines "$tmp/stop.jsonl")" -ge 40 ] && break; sleep 0.05; done
kill -INT "$pid"
wait "$pid"
rc=$?
out=$(cat "$tmp/stop.out")
resume_cmd=$(grep -A1 "^to resume" <<<"$out" | tail -1)
if [ "$rc" = 130 ] && grep -q "stopped by SIGINT after step" <<<"$out" && [ -n "$resume_cmd" ]; then
  pass
  eval "$resume_cmd" >/dev/null 2>&1 || fail "sigint-resume: the printed command failed: $resume_cmd"
  cmp -s "$tmp/straight/last.ckpt" "$tmp/stop/last.ckpt" && pass || fail "sigint-resume: last.ckpt differs"
  cmp -s <(comparable_metrics "$tmp/straight.jsonl") <(comparable_metrics "$tmp/stop.jsonl") && pass || \
    fail "sigint-resume: metrics differ from the uninterrupted run's (duplicates or gaps?)"
else
  fail "sigint: exit $rc (want 130), or no resume line" "$out"
fi
# stops_safely NAME SIGNAL EXIT: a run signalled after 5 records finishes the step, writes a
# checkpoint, names the signal and exits 128 + its number.
stops_safely() {
  local name="$1" sig="$2" want="$3" pid rc
  "$bin/gq-train" "${long[@]}" --checkpoint-dir "$tmp/$name" --metrics "$tmp/$name.jsonl" \
    >"$tmp/$name.out" 2>&1 &
  pid=$!
  for _ in $(seq 600); do [ "$(lines "$tmp/$name.jsonl")" -ge 5 ] && break; sleep 0.05; done
  kill -"$sig" "$pid"
  wait "$pid"
  rc=$?
  [ "$rc" = "$want" ] && grep -q "stopped by SIG$sig" "$tmp/$name.out" && \
    ls "$tmp/$name"/step*.ckpt >/dev/null 2>&1 && pass || \
    fail "$name: exit $rc (want $want) or no checkpoint" "$(cat "$tmp/$name.out")"
}
stops_safely sigterm TERM 143
# SIGHUP (the terminal closed) and SIGPIPE (the output's reader exited) stop safely too.
stops_safely sighup HUP 129
# (not --quiet: the progress lines on stdout are what meets the closed pipe)
"$bin/gq-train" "${run[@]/--quiet/--log-every=1}" --epochs 8 --checkpoint-dir "$tmp/pipe" 2>"$tmp/pipe.err" |
  head -c 1 >/dev/null
rc=${PIPESTATUS[0]}
[ "$rc" = 141 ] && grep -q "stopped by SIGPIPE" "$tmp/pipe.err" && ls "$tmp"/pipe/step*.ckpt >/dev/null 2>&1 && pass || \
  fail "sigpipe: exit $rc (want 141) or no checkpoint" "$(cat "$tmp/pipe.err")"
# Two runs writing one --checkpoint-dir at once: the second is refused, naming the first's pid;
# an empty --resume is refused (it would silently start a new run into the resumed run's folder).
"$bin/gq-train" "${long[@]}" --checkpoint-dir "$tmp/shared" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 600); do [ -s "$tmp/shared/.gq-train.lock" ] && break; sleep 0.05; done
expect second-run-locked 1 "--checkpoint-dir $tmp/shared is in use by another gq-train run (pid $pid)" -- \
  "$bin/gq-train" "${run[@]}" --max-steps 2 --checkpoint-dir "$tmp/shared"
kill -TERM "$pid"
wait "$pid"
expect resume-empty 105 "--resume: expected a file or folder name, found an empty one" -- \
  "$bin/gq-train" "${run[@]}" --resume ""
# --profile stops safely too: after the step in flight, saying that nothing is saved.
"$bin/gq-train" "${run[@]}" --profile 100000 >"$tmp/profile.out" 2>&1 &
pid=$!
sleep 2
kill -INT "$pid"
wait "$pid"
rc=$?
[ "$rc" = 130 ] && grep -q "stopped by SIGINT after step .*--profile saves no checkpoint" "$tmp/profile.out" &&
  pass || fail "profile-sigint: exit $rc (want 130)" "$(cat "$tmp/profile.out")"
# A second signal stops at once (here: while CIFAR-10 is still being decoded).
started=$SECONDS
"$bin/gq-train" --dataset cifar10 --model paper-cnn --quiet >"$tmp/twice.out" 2>&1 &
pid=$!
sleep 1
kill -INT "$pid"
sleep 0.5
kill -INT "$pid"
wait "$pid"
rc=$?
[ "$rc" = 130 ] && [ $((SECONDS - started)) -lt 8 ] && ! grep -q "stopped by" "$tmp/twice.out" && pass || \
  fail "second-signal: exit $rc after $((SECONDS - started)) s" "$(cat "$tmp/twice.out")"

# --- Out of memory ----------------------------------------------------------------------------
# Under a memory limit (ulimit -v, KiB) an allocation failure, the host's, the emulated device's
# or a library's (here the xz decoder), ends the process within seconds with exit 4, saying what
# it was doing and how much it held (it used to hang: an OpenBLAS worker spun in its allocator
# while the process exited, and SIGTERM was ignored).
limited=(bash -c 'ulimit -v "$0"; exec "$@"')  # limited KIB COMMAND...
# Not under AddressSanitizer: it reserves terabytes of address space, so no process starts under
# ulimit -v (the Release build, which the test suite runs first, covers this section).
if grep -q "GQ_SANITIZE:BOOL=ON" "$bin/../CMakeCache.txt" 2>/dev/null; then
  echo "out-of-memory cases: not run under AddressSanitizer (see above)"
  finish
  exit
fi
oom() {  # oom NAME KIB PATTERN... -- COMMAND...
  local name=$1 kib=$2 started=$SECONDS
  shift 2
  local patterns=()
  while [ "$1" != "--" ]; do patterns+=("$1"); shift; done
  shift
  expect "$name" 4 "out of memory while" "(ulimit -v)" "${patterns[@]}" -- "${limited[@]}" "$kib" "$@"
  [ $((SECONDS - started)) -lt 30 ] && pass || fail "$name: took $((SECONDS - started)) s"
}
oom oom-train-host 150000 "a request for" -- "$bin/gq-train" "${run[@]}" --max-steps 2
oom oom-train-mnist-cnn 250000 -- "$bin/gq-train" "${run[@]}" --model mnist-cnn --max-steps 2
# (decoding CIFAR-10: the xz decoder's failure, or ours, is out of memory, not a corrupt archive)
oom oom-decoding-cifar10 350000 "while loading the data" -- "$bin/gq-train" \
  --dataset cifar10 --model paper-cnn --train-subset 512 --test-subset 128 --max-steps 2 --quiet
oom oom-eval 150000 "gq-eval: out of memory while" -- "$bin/gq-eval" "$tmp/ck/last.ckpt" --test-subset 64
# A 3 GiB sparse file given as a checkpoint is refused by its first bytes, not read whole (under a
# 1 GiB limit, reading it would run out of memory).
truncate -s 3G "$tmp/sparse.ckpt"
expect resume-sparse-3g 1 "sparse.ckpt: not a gradqueue checkpoint" -- "${limited[@]}" 1000000 "$bin/gq-train" \
  "${run[@]}" --resume "$tmp/sparse.ckpt"

finish
