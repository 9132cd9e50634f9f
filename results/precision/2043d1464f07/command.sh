#!/bin/sh
/work/runs/build-4bfd292/bin/gq-train --batch-size 128 --dataset cifar10 --epochs 1 --log-every 50 --lr 0.1 --model paper-cnn --optimizer nesterov --precision bf16 --seed 2 --data-dir /work/shared/data --metrics /work/main/results/precision/2043d1464f07/metrics.jsonl
