#!/usr/bin/env bash
# gq-export read back by the real readers (PyPI, in .venv-test/, made by tools/test-venv.sh):
# - safetensors' own loader: every parameter tensor and every BatchNorm running statistic of an
#   airbench94 checkpoint, by name, with the header's shapes and the checkpoint's exact values (each
#   at its recorded offset; the frozen BatchNorm scales must read 1), and the run's metadata;
# - onnxruntime: the ONNX export of every model of the zoo, each trained a few steps, run on the
#   first 1,000 test images (MNIST or CIFAR-10, read here from the official files), gives gq-eval's
#   logits (--logits) within 1e-4 (of max(1, the largest |logit|)) and the same predicted classes.
# Refused, naming what is wrong: a truncated checkpoint, an output name of neither format, a folder
# that cannot be written. Exits 77 (ctest: skipped) when the venv cannot be made, saying why.
# Usage: test_export.sh BIN_DIR (GQ_DATA_DIR: the shared data).
set -u
bin="$1"
here=$(cd "$(dirname "$0")" && pwd)
source "$here/expect.sh"
# onnxruntime leaves a session file (.ses) in $TMPDIR: keep it in this test's own folder.
export TMPDIR="$tmp"

expect train 0 "final test accuracy" -- "$bin/gq-train" --model airbench94 --dataset mnist \
  --train-subset 64 --test-subset 40 --batch-size 16 --max-steps 3 --whiten-images 48 \
  --checkpoint-dir "$tmp/run" --quiet
expect export 0 "wrote $tmp/model.safetensors (airbench94, step 3" -- \
  "$bin/gq-export" "$tmp/run/last.ckpt" "$tmp/model.safetensors"
head -c 3000 "$tmp/run/last.ckpt" > "$tmp/short.ckpt"
expect truncated 1 "gq-export: $tmp/short.ckpt" -- "$bin/gq-export" "$tmp/short.ckpt" "$tmp/x.safetensors"
expect not-safetensors 105 "expected a file name ending in .safetensors or .onnx" -- \
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
want = {}
for (name, dims), at in zip(header["tensors"], header["tensor_offsets"]):
    want[name] = sections["params"][at:at + int(np.prod(dims))].reshape(dims)
assert sum(v.size for v in want.values()) == len(sections["params"]), "gaps in the parameters"
for name in want:
    if ".norm" in name and name.endswith(".weight"):  # airbench94's BatchNorm scale: frozen at 1
        assert np.all(tensors[name] == 1), name
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

# ONNX: each model of the zoo, so that every layer's graph (models/*.cpp, add_to_graph) runs; on
# CIFAR-10 for the models whose pooling needs 32x32 images (and three channels' normalisation).
for pair in mnist-cnn:mnist mlp:mnist paper-cnn:mnist airbench:cifar10 airbench94:cifar10; do
  model=${pair%:*} dataset=${pair#*:}
  run="$tmp/onnx-$model" whiten=()
  [ "$model" = airbench94 ] && whiten=(--whiten-images 64)
  expect "train $model" 0 "final test accuracy" -- "$bin/gq-train" --model "$model" \
    --dataset "$dataset" --train-subset 256 --test-subset 40 --batch-size 32 --max-steps 4 \
    "${whiten[@]}" --checkpoint-dir "$run" --quiet
  expect "export $model" 0 "wrote $run/model.onnx ($model, step 4, onnx" -- \
    "$bin/gq-export" "$run/last.ckpt" "$run/model.onnx"
  expect "eval $model" 0 "1000 samples" -- "$bin/gq-eval" "$run/last.ckpt" --test-subset 1000 \
    --logits "$run/logits.npy"
  if out=$(PYTHONPATH="$here" "$here/../../.venv-test/bin/python" - "$run/model.onnx" "$run/logits.npy" \
      "$dataset" "$GQ_DATA_DIR" "$tmp/$dataset-test-1000.npy" 2>&1 <<'PY'
import json, sys
import numpy as np
import onnxruntime as ort
from first_test_images import first_test_images

model, logits, dataset, data, cache = sys.argv[1:6]
x = first_test_images(dataset, data, 1000, cache).astype(np.float32) / np.float32(255)  # pixel / 255
session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
got = session.run(["logits"], {"input": x})[0]
want = np.load(logits)
assert got.shape == want.shape == (1000, 10), (got.shape, want.shape)
# 1e-4 of the logits' scale: a few steps at batch 32 can leave logits in the hundreds, where
# float32 sums taken in another order differ in the fifth digit.
err = float(np.abs(got - want).max()) / max(1.0, float(np.abs(want).max()))
assert err <= 1e-4, f"max |onnxruntime - gq-eval| / max(1, max |logit|) = {err}"
assert np.array_equal(got.argmax(1), want.argmax(1)), "predicted classes differ"
meta = session.get_modelmeta().custom_metadata_map
assert len(json.loads(meta["classes"])) == 10 and meta["step"] == "4", meta
print(f"ok: max relative difference {err:.2e}")
PY
  ); then
    pass
    echo "onnxruntime $model: $out"
  else
    fail "onnxruntime $model" "$out"
  fi
done
finish
