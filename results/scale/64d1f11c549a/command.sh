#!/bin/sh
/work/runs/build-4bfd292/bin/gq-train --batch-size 2048 --dataset reuters --epochs 96 --lars-eta 0.1 --log-every 2 --lr 0.505965 --model mlp --momentum 0.9 --optimizer lars --schedule onecycle --seed 2 --val-size 500 --warmup 0.1 --weight-decay 0.0005 --data-dir /work/shared/data --metrics /work/wt4/results/scale/64d1f11c549a/metrics.jsonl
