#!/bin/sh
/work/runs/build-4bfd292/bin/gq-train --batch-size 1024 --dataset cifar10 --gq-cluster-weight uniform --gq-clusters 4 --gradqueue --log-every 8 --lr 1.5 --max-steps 48 --model airbench94 --optimizer nesterov --precision bf16 --recipe airbench94 --seed 0 --data-dir /work/shared/data --metrics /work/main/results/airbench94-ablation/4c6550c82799/metrics.jsonl
