#!/bin/sh
/work/runs/build-4bfd292/bin/gq-train --batch-size 128 --dataset reuters --epochs 12 --lars-eta 0.00316228 --log-every 2 --lr 12.6491 --model mlp --momentum 0.9 --optimizer lars --schedule onecycle --seed 0 --val-size 500 --warmup 0.1 --weight-decay 0.0005 --data-dir /work/shared/data --metrics /work/wt4/results/scale/7ed54429be16/metrics.jsonl
