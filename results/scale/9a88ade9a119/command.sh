#!/bin/sh
/work/study-bin/gq-train-3507773 --batch-size 2048 --dataset reuters --epochs 96 --gq-clusters 4 --gq-rho 1.25 --gradqueue --log-every 2 --lr 1.26491 --model mlp --momentum 0.9 --optimizer nesterov --schedule onecycle --seed 2 --val-size 500 --warmup 0.1 --weight-decay 0.0005 --data-dir /work/gq-study-data --metrics /work/main/results/scale/9a88ade9a119/metrics.jsonl
