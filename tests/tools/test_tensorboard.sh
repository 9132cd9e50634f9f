#!/usr/bin/env bash
# gq-train --tensorboard read back by TensorBoard's own event reader (the tensorboard package from
# PyPI, in .venv-test/, made by tools/test-venv.sh): every number of every --metrics record is a
# scalar "<type>/<key>" holding the JSONL's value (as float32) at the same step and time, nothing
# else is; each run header is the text "run". A resume into the same folder hides the first run's
# events past the checkpoint's step, as the JSONL drops those records. A folder that cannot be made
# is named. Exits 77 (ctest: skipped) when the venv cannot be made, saying why.
# Usage: test_tensorboard.sh BIN_DIR (GQ_DATA_DIR: the shared data).
set -u
bin="$1"
here=$(cd "$(dirname "$0")" && pwd)
source "$here/expect.sh"

run=(--dataset mnist --model mnist-cnn --train-subset 288 --test-subset 64 --batch-size 32 --epochs 2
     --log-every 2 --val-size 32 --gradqueue --gq-clusters 2 --quiet)
expect not-a-folder 1 "--tensorboard /dev/null/tb: cannot create the folder" -- \
  "$bin/gq-train" "${run[@]}" --max-steps 2 --tensorboard /dev/null/tb
if ! why=$("$here/../../tools/test-venv.sh" 2>&1); then
  echo "SKIP: TensorBoard's reader is not available: $why"
  exit 77
fi
python="$here/../../.venv-test/bin/python"

# compare JSONL TENSORBOARD_DIR HEADERS: the reader's scalars and texts against the JSONL.
compare() {
  local out
  if out=$("$python" - "$@" 2>&1 <<'PY'
import json, sys
import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

jsonl, folder, headers = sys.argv[1], sys.argv[2], int(sys.argv[3])
records = [json.loads(line) for line in open(jsonl)]
want = {}  # tag -> {step: (value, time)}

def walk(prefix, record, step, time):
    for key, value in record.items():
        if isinstance(value, dict):
            walk(f"{prefix}/{key}", value, step, time)
        elif key not in ("type", "step", "epoch", "time", "elapsed_s") and \
                isinstance(value, (int, float)) and not isinstance(value, bool):
            assert step not in want.setdefault(f"{prefix}/{key}", {}), f"{prefix}/{key} twice at {step}"
            want[f"{prefix}/{key}"][step] = (value, time)

for r in records:
    if r["type"] != "run":
        walk(r["type"], r, r["step"], r["time"])
reader = EventAccumulator(folder, size_guidance={"scalars": 0, "tensors": 0})
reader.Reload()
tags = reader.Tags()["scalars"]
assert sorted(tags) == sorted(want), f"tags: TensorBoard {sorted(tags)}, JSONL {sorted(want)}"
for name in ("train/loss", "train/lr", "train/images_per_s", "eval/test_loss", "eval/test_accuracy",
             "eval/val_accuracy", "train/gradqueue/qlen", "train/gradqueue/cos_gstar_gbar"):
    assert name in tags, f"{name} missing"
for name, steps in want.items():
    events = reader.Scalars(name)
    assert [e.step for e in events] == sorted(steps), f"{name}: steps {[e.step for e in events]}, JSONL {sorted(steps)}"
    for e in events:
        value, time = steps[e.step]
        assert e.value == float(np.float32(value)), f"{name} at {e.step}: {e.value}, JSONL {value}"
        assert abs(e.wall_time - time) < 1e-3, f"{name} at {e.step}: time {e.wall_time}, JSONL {time}"
texts = reader.Tensors("run")
runs = [r for r in records if r["type"] == "run"]
assert len(texts) == len(runs) == headers, f"{len(texts)} run texts, {len(runs)} headers"
for text, header in zip(texts, runs):
    content = text.tensor_proto.string_val[0].decode()
    assert text.step == header["step"] and '"model": "mnist-cnn"' in content and header["commit"] in content, content
print(f"{len(want)} scalars, {sum(map(len, want.values()))} values, {len(texts)} texts")
PY
  ); then pass; echo "  $out"; else fail "$1" "$out"; fi
}

"$bin/gq-train" "${run[@]}" --checkpoint-dir "$tmp/ck" --checkpoint-every 6 --metrics "$tmp/m.jsonl" \
  --tensorboard "$tmp/tb" >/dev/null || fail "first run"
compare "$tmp/m.jsonl" "$tmp/tb" 1
# Resumed at step 6, into the same JSONL and folder: the reader sees what the JSONL keeps.
"$bin/gq-train" "${run[@]}" --resume "$tmp/ck/step0000006.ckpt" --metrics "$tmp/m.jsonl" \
  --tensorboard "$tmp/tb" >/dev/null || fail "resumed run"
[ "$(ls "$tmp/tb" | grep -c tfevents)" = 2 ] && pass || fail "resumed: a second event file" "$(ls "$tmp/tb")"
compare "$tmp/m.jsonl" "$tmp/tb" 2
finish
