#!/usr/bin/env bash
# gq-export read back by the safetensors package's own loader (PyPI, in .venv-test/, made by
# tools/test-venv.sh): every parameter tensor and every BatchNorm running statistic of an
# airbench94 checkpoint, by name, with the header's shapes and the checkpoint's exact values, and
# the run's metadata. Refused, naming what is wrong: a truncated checkpoint, an output name without
# .safetensors, a folder that cannot be written. Exits 77 (ctest: skipped) when the venv cannot be
# made, saying why.
# Usage: test_export.sh BIN_DIR (GQ_DATA_DIR: the shared data).
set -u
bin="$1"
here=$(cd "$(dirname "$0")" && pwd)
source "$here/expect.sh"

expect train 0 "final test accuracy" -- "$bin/gq-train" --model airbench94 --dataset mnist \
  --train-subset 64 --test-subset 40 --batch-size 16 --max-steps 3 --whiten-images 48 \
  --checkpoint-dir "$tmp/run" --quiet
expect export 0 "wrote $tmp/model.safetensors (airbench94, step 3" -- \
  "$bin/gq-export" "$tmp/run/last.ckpt" "$tmp/model.safetensors"
head -c 3000 "$tmp/run/last.ckpt" > "$tmp/short.ckpt"
expect truncated 1 "gq-export: $tmp/short.ckpt" -- "$bin/gq-export" "$tmp/short.ckpt" "$tmp/x.safetensors"
expect not-safetensors 105 "expected a file name ending in .safetensors" -- \
  "$bin/gq-export" "$tmp/run/last.ckpt" "$tmp/model.pt"
expect unwritable 1 "cannot create the safetensors file folder /dev/null" -- \
  "$bin/gq-export" "$tmp/run/last.ckpt" /dev/null/m.safetensors
[ ! -e "$tmp/x.safetensors" ] || fail "a refused export left $tmp/x.safetensors"

if ! why=$("$here/../../tools/test-venv.sh" 2>&1); then
  echo "SKIP: the safetensors reader is not available: $why"
  finish
  exit 77
fi
if out=$("$here/../../.venv-test/bin/python" - "$tmp/run/last.ckpt" "$tmp/model.safetensors" 2>&1 <<'PY'
import json, struct, sys
import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file

ckpt, out = sys.argv[1], sys.argv[2]
b = open(ckpt, "rb").read()  # magic, header, named float32 sections, checksum (checkpoint.h)
assert b[:8] == b"GQCKPT01", "not a checkpoint"
n = struct.unpack_from("<Q", b, 8)[0]
header, off = json.loads(b[16:16 + n]), 16 + n
count, off = struct.unpack_from("<Q", b, off)[0], off + 8
sections = {}
for _ in range(count):
    ln, off = struct.unpack_from("<I", b, off)[0], off + 4
    name, off = b[off:off + ln].decode(), off + ln
    size, off = struct.unpack_from("<Q", b, off)[0], off + 8
    sections[name], off = np.frombuffer(b, "<f4", size, off), off + 4 * size
tensors = load_file(out)
want, at = {}, 0
for name, dims in header["tensors"]:
    size = int(np.prod(dims))
    want[name] = sections["params"][at:at + size].reshape(dims)
    at += size
assert at == len(sections["params"]), "the header's tensors do not cover the parameters"
for name, dims in header["model_state"]:
    want[name] = sections[name].reshape(dims)
assert len(header["model_state"]) == 12, header["model_state"]
assert sorted(tensors) == sorted(want), (sorted(tensors), sorted(want))
for name, value in want.items():
    assert tensors[name].dtype == np.float32 and tensors[name].shape == value.shape, name
    assert np.array_equal(tensors[name], value), name
with safe_open(out, "np") as f:
    meta = f.metadata()
assert meta["model"] == "airbench94" and meta["step"] == "3" and meta["num_classes"] == "10", meta
print(f"ok: {len(tensors)} tensors")
PY
); then
  pass "safetensors reader: $out"
else
  fail "safetensors reader" "$out"
fi
finish
