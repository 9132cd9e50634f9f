#!/usr/bin/env bash
# gq-predict against gq-eval on the same pixels: the first test images of MNIST (mnist-cnn) and
# CIFAR-10 (airbench94) written as PNG files by Pillow (PyPI, in .venv-test/), each file's top
# classes and probabilities must be the softmax of gq-eval's logits (--logits) for that image
# (within 1e-5). Also: a JPEG and an image of another size and colour type are classified; an
# unreadable image is named (exit 3) while the others are still classified; --json parses; a bad
# --top is refused (105). Exits 77 (ctest: skipped) when the venv cannot be made, saying why.
# Usage: test_predict.sh BIN_DIR (GQ_DATA_DIR: the shared data).
set -u
bin="$1"
here=$(cd "$(dirname "$0")" && pwd)
source "$here/expect.sh"
if ! why=$("$here/../../tools/test-venv.sh" 2>&1); then
  echo "SKIP: Pillow (to write the test images) is not available: $why"
  exit 77
fi
python="$here/../../.venv-test/bin/python"

for pair in mnist-cnn:mnist airbench94:cifar10; do
  model=${pair%:*} dataset=${pair#*:} run="$tmp/$model"
  extra=()
  [ "$model" = airbench94 ] && extra=(--whiten-images 64)
  expect "train $model" 0 "final test accuracy" -- "$bin/gq-train" --model "$model" \
    --dataset "$dataset" --train-subset 512 --test-subset 40 --batch-size 64 --max-steps 6 \
    "${extra[@]}" --checkpoint-dir "$run" --quiet
  expect "eval $model" 0 "12 samples" -- "$bin/gq-eval" "$run/last.ckpt" --test-subset 12 \
    --logits "$run/logits.npy"
  mkdir -p "$run/images"
  if ! out=$(PYTHONPATH="$here" "$python" - "$dataset" "$GQ_DATA_DIR" "$run/images" 2>&1 <<'PY'
import os, sys
from PIL import Image
from first_test_images import first_test_images

dataset, data, out = sys.argv[1:4]
images = first_test_images(dataset, data, 12).transpose(0, 2, 3, 1)  # HWC for Pillow
if dataset == "mnist":
    images = images[..., 0]  # grey: Pillow's "L"
for i, image in enumerate(images):
    Image.fromarray(image).save(os.path.join(out, f"{i:02d}.png"))
first = Image.fromarray(images[0])
first.convert("L" if dataset == "cifar10" else "RGB").resize((97, 61)).save(
    os.path.join(out, "other.jpg"), quality=90)
PY
  ); then
    fail "write $dataset images" "$out"
    continue
  fi
  timeout -k 10 120 "$bin/gq-predict" "$run/last.ckpt" "$run"/images/??.png --json --top 10 \
    > "$run/predict.json" 2> "$run/predict.err"
  rc=$?
  if [ "$rc" != 0 ]; then
    fail "predict $model: exit $rc (want 0)" "$(cat "$run/predict.err")"
  elif out=$("$python" - "$run/predict.json" "$run/logits.npy" 2>&1 <<'PY'
import json, sys
import numpy as np

predictions, logits = json.load(open(sys.argv[1])), np.load(sys.argv[2]).astype(np.float64)
p = np.exp(logits - logits.max(1, keepdims=True))
p /= p.sum(1, keepdims=True)
assert len(predictions) == 12, len(predictions)
for i, pred in enumerate(predictions):
    assert pred["file"].endswith(f"{i:02d}.png"), pred["file"]
    top = pred["top"]
    assert [t["index"] for t in top][0] == int(p[i].argmax()), (i, top[0], p[i])
    for t in top:
        assert abs(t["probability"] - p[i][t["index"]]) <= 1e-5, (i, t, p[i][t["index"]])
print("ok")
PY
  ); then
    pass
  else
    fail "gq-predict vs gq-eval ($model)" "$out"
  fi
  echo "not an image" > "$run/images/bad.png"
  expect "one bad image of three ($model)" 3 "bad.png" "expected a PNG or JPEG file" "00.png" \
    "other.jpg" -- "$bin/gq-predict" "$run/last.ckpt" "$run/images/00.png" \
    "$run/images/bad.png" "$run/images/other.jpg"
done
expect "top 0" 105 "--top" -- "$bin/gq-predict" "$tmp/mnist-cnn/last.ckpt" \
  "$tmp/mnist-cnn/images/00.png" --top 0
expect "missing checkpoint" 1 "$tmp/none.ckpt" -- "$bin/gq-predict" "$tmp/none.ckpt" \
  "$tmp/mnist-cnn/images/00.png"
finish
