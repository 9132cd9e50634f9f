#!/bin/sh
/work/runs/build-4bfd292/bin/gq-train --batch-size 2048 --dataset reuters --epochs 48 --gq-clusters 4 --gradqueue --log-every 2 --lr 0.126491 --model mlp --optimizer adamw --schedule onecycle --seed 0 --val-size 500 --warmup 0.1 --weight-decay 0.01 --data-dir /work/shared/data --metrics /work/wt4/results/scale/d4bd48fe3072/metrics.jsonl
