#!/usr/bin/env bash
# Bad input to the tool binaries ends with a clear message and a non-zero exit, never a crash or
# a hang. Usage: test_cli.sh BIN_DIR (GQ_DATA_DIR must point at the shared data).
set -u
bin="$1"
source "$(dirname "$0")/expect.sh"


small=(--dataset mnist --model mnist-cnn --train-subset 256 --test-subset 64 --batch-size 32 --quiet)
expect unknown-flag 109 "--bogus" -- "$bin/gq-train" --bogus
expect bad-number 105 "--batch-size" -- "$bin/gq-train" --batch-size -3
# Every choice's bad value fails at parse time (exit 105, the flag and the valid values named, no
# source path) before any data is read: the data root is an empty folder and each must be quick.
mkdir -p "$tmp/empty"
for bad in "--model resnet18:paper-cnn, airbench, airbench94, mnist-cnn, mlp" "--optimizer adam:did you mean adamw?" \
    "--schedule linear:constant, step, cosine, onecycle, triangular" "--dataset foo:cifar10, mnist, fashion-mnist, reuters" \
    "--device gpu:auto, cuda, cpu" "--cuda-graph sometimes:auto, on, off" \
    "--gq-scarcity foo:powtanh, clip, chebyshev, none" "--gq-sigma-scale x:cluster, batch" \
    "--gq-granularity x:element, cluster" "--gq-cluster-weight x:size, uniform" "--gq-renorm x:on, off" \
    "--gq-features x:penultimate, input" "--gq-ring-precision x:fp32, bf16"; do
  flag="${bad%%:*}" valid="${bad#*:}"
  started=$(date +%s%N)
  expect "bad ${flag}" 105 "${flag% *}: expected one of" "$valid" -- \
    env GQ_DATA_DIR="$tmp/empty" "$bin/gq-train" "${small[@]}" --gradqueue $flag
  [ $(( ($(date +%s%N) - started) / 1000000 )) -lt 1000 ] && pass || fail "bad ${flag}: not refused within 1 s"
done
out=$("$bin/gq-train" --model resnet18 2>&1)
grep -q "\.cpp:" <<<"$out" && fail "bad-model: a source path in the message" "$out" || pass
# A mistyped flag, or config key, gets the nearest name.
expect did-you-mean 109 "did you mean --batch-size?" -- "$bin/gq-train" --batchsize 64
printf 'gq-cluster = 4\n' >"$tmp/typo.toml"
expect did-you-mean-config 110 "did you mean 'gq-clusters'?" -- "$bin/gq-train" --config "$tmp/typo.toml"
# A setting given where it has no effect is refused, saying what to add.
expect no-effect-gq 105 "--gq-clusters has no effect without --gradqueue" "add --gradqueue" -- "$bin/gq-train" --gq-clusters 4
expect no-effect-lars 105 "--lars-eta has no effect with --optimizer nesterov" "--optimizer lars" -- "$bin/gq-train" --lars-eta 0.01
expect no-effect-checkpoint 105 "--checkpoint-every has no effect without --checkpoint-dir" -- "$bin/gq-train" --checkpoint-every 5
expect no-effect-keep 105 "--keep-checkpoints has no effect without --checkpoint-dir" -- "$bin/gq-train" --keep-checkpoints 5
expect no-effect-profile 105 "--metrics has no effect with --profile 2" -- "$bin/gq-train" --profile 2 --metrics "$tmp/m.jsonl"
printf 'gq-qmin = 8\n' >"$tmp/gq.toml"
expect no-effect-config 105 "--gq-qmin has no effect without --gradqueue" -- "$bin/gq-train" --config "$tmp/gq.toml"
expect missing-data 3 "looked for" -- "$bin/gq-train" "${small[@]}" --data-dir "$tmp/nowhere"
expect batch-too-big 1 "larger than the training set" -- "$bin/gq-train" "${small[@]}" --batch-size 100000

# A config file supplies flags; the command line overrides it; a bad key is named.
printf 'model = "mnist-cnn"\ndataset = "mnist"\ntrain-subset = 256\ntest-subset = 64\nbatch-size = 32\nmax-steps = 3\n' >"$tmp/run.toml"
expect config-file 0 "final test accuracy" -- "$bin/gq-train" --config "$tmp/run.toml"
expect config-override 105 "--model: expected one of" -- "$bin/gq-train" --config "$tmp/run.toml" --model resnet
printf 'bogus-key = 3\n' >"$tmp/bad.toml"
expect config-bad-key 110 "bogus-key" -- "$bin/gq-train" --config "$tmp/bad.toml"
expect config-missing 103 "nothere.toml" -- "$bin/gq-train" --config "$tmp/nothere.toml"
expect reuters-mlp 0 "final test accuracy" -- "$bin/gq-train" --dataset reuters --model mlp --max-steps 5 --batch-size 64 --quiet
expect reuters-cnn 1 "needs image input" -- "$bin/gq-train" --dataset reuters --model paper-cnn --quiet
expect gradqueue-run 0 "final test accuracy" -- "$bin/gq-train" "${small[@]}" --gradqueue --gq-clusters 3 --max-steps 4
expect gq-bad-clusters 105 "--gq-clusters" -- "$bin/gq-train" "${small[@]}" --gradqueue --gq-clusters many

# The resume check names a setting a component declares (--lars-eta, optimizers/lars.cpp).
lars=(--dataset reuters --model mlp --batch-size 64 --max-steps 4 --optimizer lars --quiet)
expect lars-run 0 "final test accuracy" -- "$bin/gq-train" "${lars[@]}" --lars-eta 0.002 --checkpoint-dir "$tmp/lars" --checkpoint-every 2
expect lars-resume-other-eta 1 "--lars-eta: checkpoint 0.002, this run 0.003" -- \
  "$bin/gq-train" "${lars[@]}" --lars-eta 0.003 --resume "$tmp/lars/step0000002.ckpt"

# A truncated MNIST file: the error names the file and the offset.
mkdir -p "$tmp/bad/mnist"
cp "$GQ_DATA_DIR"/mnist/*.gz "$tmp/bad/mnist/"
gzip -dc "$GQ_DATA_DIR/mnist/train-images-idx3-ubyte.gz" | head -c 100000 >"$tmp/bad/mnist/train-images-idx3-ubyte"
rm "$tmp/bad/mnist/train-images-idx3-ubyte.gz"
expect truncated-data 3 "train-images-idx3-ubyte" -- "$bin/gq-train" "${small[@]}" --data-dir "$tmp/bad"

# Checkpoints: a good one resumes; a corrupt or missing one is refused with the file name.
expect train-ok 0 "final test accuracy" -- "$bin/gq-train" --dataset mnist --model mnist-cnn --train-subset 256 \
  --test-subset 64 --batch-size 32 --checkpoint-dir "$tmp/ck"
cp "$tmp/ck/last.ckpt" "$tmp/corrupt.ckpt"
printf 'X' | dd of="$tmp/corrupt.ckpt" bs=1 seek=200 conv=notrunc 2>/dev/null
expect corrupt-resume 1 "corrupt.ckpt: checkpoint is corrupt" -- "$bin/gq-train" "${small[@]}" --resume "$tmp/corrupt.ckpt"
expect missing-resume 1 "not found" -- "$bin/gq-train" "${small[@]}" --resume "$tmp/none.ckpt"
expect eval-ok 0 "confusion matrix" -- "$bin/gq-eval" "$tmp/ck/last.ckpt"
# --json: one object on stdout, nothing else, that agrees with itself and with the text report.
"$bin/gq-eval" --json --test-subset 100 "$tmp/ck/last.ckpt" >"$tmp/eval.json" 2>"$tmp/eval.err"
text=$("$bin/gq-eval" --test-subset 100 "$tmp/ck/last.ckpt")
python3 - "$tmp/eval.json" "$text" <<'PY' && pass || fail "eval-json" "$(cat "$tmp/eval.json" "$tmp/eval.err")"
import json, sys
r = json.load(open(sys.argv[1]))
m, names = r["confusion"], r["classes"]
assert r["n"] == 100 and sum(map(sum, m)) == 100 and len(m) == len(names) == 10, r
assert r["accuracy"] == sum(m[i][i] for i in range(10)) / 100, r["accuracy"]
for i, c in enumerate(r["per_class"]):
    assert c["class"] == names[i] and c["samples"] == sum(m[i]), c
    assert c["accuracy"] == (m[i][i] / c["samples"] if c["samples"] else None), c
assert f"accuracy {100 * r['accuracy']:.2f}%" in sys.argv[2] and f"loss {r['loss']:.4f}" in sys.argv[2]
assert "tta" not in r and r["dataset"] == "mnist" and r["step"] == 8, r
PY
expect eval-json-plot 0 "wrote $tmp/cm.png" -- /usr/bin/python3 "$(dirname "$0")/../../tools/plot.py" \
  --confusion "$tmp/eval.json" -o "$tmp/cm.png"
# Fine-tuning: a new run from the trained weights says so; another model's weights are refused.
expect init-from 0 "init-from   the weights of $tmp/ck/last.ckpt (mnist-cnn, step 8)" "final test accuracy" -- \
  "$bin/gq-train" "${small[@]/--quiet/--log-every=4}" --lr 0.01 --init-from "$tmp/ck/last.ckpt"
expect init-from-other-model 1 "does not have this model's (mlp) tensors" -- "$bin/gq-train" \
  "${small[@]}" --model mlp --init-from "$tmp/ck/last.ckpt"
expect eval-corrupt 1 "corrupt" -- "$bin/gq-eval" "$tmp/corrupt.ckpt"
expect eval-missing 1 "not found" -- "$bin/gq-eval" "$tmp/none.ckpt"

# --recipe airbench94 end to end on a CIFAR-10 subset, its values overridden on the command line:
# the loss goes down, the final evaluation reports TTA next to the plain accuracy (console and
# JSONL), gq-eval takes --tta-level. Its techniques refuse the optimizers they do not apply to.
ab94=(--recipe airbench94 --train-subset 512 --test-subset 128 --batch-size 128 --epochs 2 --log-every 1)
expect recipe-airbench94 0 "--recipe airbench94" "settings    --model airbench94" "whitening   stem.whiten: 24 filters from 512 images" \
  "lookahead   EMA" "lookahead EMA" "with TTA level 2" "final test accuracy" -- \
  "$bin/gq-train" "${ab94[@]}" --metrics "$tmp/ab94.jsonl" --checkpoint-dir "$tmp/ab94"
python3 - "$tmp/ab94.jsonl" <<'PY' && pass || fail "recipe-airbench94: loss or TTA record" "$(cat "$tmp/ab94.jsonl")"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
loss = [r["loss"] for r in recs if r["type"] == "train"]
final = [r for r in recs if r["type"] == "eval"][-1]
assert len(loss) == 8 and sum(loss[-2:]) < sum(loss[:2]), loss
assert final["tta_level"] == 2 and 0 <= final["test_accuracy_tta"] <= 1, final
PY
# --tta-every-eval: every evaluation reports TTA too (steps to a TTA target), and evaluating changes
# nothing in training: the same losses, bit for bit.
expect tta-every-eval 0 "with TTA level 2" -- "$bin/gq-train" "${ab94[@]}" --eval-every 2 \
  --tta-every-eval --metrics "$tmp/ab94-tta.jsonl"
python3 - "$tmp/ab94.jsonl" "$tmp/ab94-tta.jsonl" <<'PY' && pass || fail "tta-every-eval records" "$(cat "$tmp/ab94-tta.jsonl")"
import json, sys
once, every = ([json.loads(l) for l in open(f)] for f in sys.argv[1:])
train = lambda recs: [r["loss"] for r in recs if r["type"] == "train"]
evals = [r for r in every if r["type"] == "eval"]
assert train(once) == train(every), (train(once), train(every))
assert [r["step"] for r in evals] == [2, 4, 6, 8] and all("test_accuracy_tta" in r for r in evals), evals
PY
expect tta-every-eval-alone 105 "--tta-every-eval has no effect without --tta-level" -- \
  "$bin/gq-train" --model mnist-cnn --dataset mnist --tta-every-eval
expect eval-tta 0 "test (TTA)  level 2" -- "$bin/gq-eval" --tta-level 2 --test-subset 128 "$tmp/ab94/last.ckpt"
"$bin/gq-eval" --json --tta-level 2 --test-subset 128 "$tmp/ab94/last.ckpt" >"$tmp/tta.json" 2>&1
python3 -c 'import json, sys; t = json.load(open(sys.argv[1]))["tta"]; assert t["level"] == 2 and 0 <= t["accuracy"] <= 1, t' \
  "$tmp/tta.json" && pass || fail "eval-json-tta" "$(cat "$tmp/tta.json")"
expect recipe-bad 105 "--recipe: expected one of none, airbench94" -- "$bin/gq-train" --recipe airbench
expect no-effect-norm-lr 105 "--norm-bias-lr-scale has no effect with --optimizer adamw" -- \
  "$bin/gq-train" --optimizer adamw --norm-bias-lr-scale 64
expect no-effect-recipe-adamw 105 "--freeze-stem-after-epochs has no effect with --optimizer adamw" -- \
  "$bin/gq-train" --recipe airbench94 --optimizer adamw --freeze-stem-after-epochs 3

finish
