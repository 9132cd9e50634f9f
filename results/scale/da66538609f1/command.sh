#!/bin/sh
/work/study-bin/gq-train-3507773 --batch-size 512 --dataset reuters --epochs 24 --log-every 2 --lr 0.2 --model mlp --momentum 0.9 --optimizer nesterov --schedule onecycle --seed 0 --val-size 500 --warmup 0.1 --weight-decay 0.0005 --data-dir /work/gq-study-data --metrics /work/main/results/scale/da66538609f1/metrics.jsonl
