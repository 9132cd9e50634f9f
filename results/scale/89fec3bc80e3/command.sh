#!/bin/sh
/work/study-bin/gq-train-3507773 --batch-size 2048 --dataset reuters --epochs 96 --gq-clusters 16 --gradqueue --log-every 2 --lr 0.0126491 --model mlp --optimizer adamw --schedule onecycle --seed 2 --val-size 500 --warmup 0.1 --weight-decay 0.01 --data-dir /work/gq-study-data --metrics /work/main/results/scale/89fec3bc80e3/metrics.jsonl
