#!/bin/sh
/work/runs/build-4bfd292/bin/gq-train --batch-size 2048 --dataset reuters --epochs 38.25 --log-every 2 --lr 1.26491 --model mlp --momentum 0.9 --optimizer nesterov --schedule onecycle --seed 0 --val-size 500 --warmup 0.1 --weight-decay 0.0005 --data-dir /work/shared/data --metrics /work/wt4/results/scale/b9c9e8ea2c45/metrics.jsonl
