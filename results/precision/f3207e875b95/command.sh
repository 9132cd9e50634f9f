#!/bin/sh
/work/runs/build-4bfd292/bin/gq-train --batch-size 128 --dataset cifar10 --epochs 1 --gq-clusters 4 --gradqueue --log-every 50 --lr 0.1 --model paper-cnn --optimizer nesterov --precision bf16 --seed 4 --data-dir /work/shared/data --metrics /work/main/results/precision/f3207e875b95/metrics.jsonl
