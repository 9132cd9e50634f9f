#!/usr/bin/env bash
# Bad input to the tool binaries ends with a clear message and a non-zero exit, never a crash or
# a hang. Usage: test_cli.sh BIN_DIR (GQ_DATA_DIR must point at the shared data).
set -u
bin="$1"
source "$(dirname "$0")/expect.sh"


small=(--dataset mnist --model mnist-cnn --train-subset 256 --test-subset 64 --batch-size 32 --quiet)
expect unknown-flag 109 "--bogus" -- "$bin/gq-train" --bogus
expect bad-number 105 "--batch-size" -- "$bin/gq-train" --batch-size -3
expect bad-model 1 "valid: paper-cnn" -- "$bin/gq-train" "${small[@]}" --model resnet
expect bad-optimizer 1 "valid: sgd" -- "$bin/gq-train" "${small[@]}" --optimizer adagrad
expect bad-schedule 1 "constant" -- "$bin/gq-train" "${small[@]}" --schedule wavy
expect bad-dataset 1 "valid: cifar10" -- "$bin/gq-train" "${small[@]}" --dataset imagenet
expect missing-data 3 "looked for" -- "$bin/gq-train" "${small[@]}" --data-dir "$tmp/nowhere"
expect batch-too-big 1 "larger than the training set" -- "$bin/gq-train" "${small[@]}" --batch-size 100000

# A config file supplies flags; the command line overrides it; a bad key is named.
printf 'model = "mnist-cnn"\ndataset = "mnist"\ntrain-subset = 256\ntest-subset = 64\nbatch-size = 32\nmax-steps = 3\n' >"$tmp/run.toml"
expect config-file 0 "final test accuracy" -- "$bin/gq-train" --config "$tmp/run.toml"
expect config-override 1 "valid: paper-cnn" -- "$bin/gq-train" --config "$tmp/run.toml" --model resnet
printf 'bogus-key = 3\n' >"$tmp/bad.toml"
expect config-bad-key 110 "bogus-key" -- "$bin/gq-train" --config "$tmp/bad.toml"
expect config-missing 103 "nothere.toml" -- "$bin/gq-train" --config "$tmp/nothere.toml"
expect reuters-mlp 0 "final test accuracy" -- "$bin/gq-train" --dataset reuters --model mlp --max-steps 5 --batch-size 64 --quiet
expect reuters-cnn 1 "needs image input" -- "$bin/gq-train" --dataset reuters --model paper-cnn --quiet
expect gradqueue-run 0 "final test accuracy" -- "$bin/gq-train" "${small[@]}" --gradqueue --gq-clusters 3 --max-steps 4
expect gq-bad-scarcity 1 "valid: powtanh" -- "$bin/gq-train" "${small[@]}" --gradqueue --gq-scarcity foo
expect gq-bad-clusters 105 "--gq-clusters" -- "$bin/gq-train" "${small[@]}" --gradqueue --gq-clusters many

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
expect eval-corrupt 1 "corrupt" -- "$bin/gq-eval" "$tmp/corrupt.ckpt"
expect eval-missing 1 "not found" -- "$bin/gq-eval" "$tmp/none.ckpt"

finish
