#!/bin/sh
/work/study-bin/gq-train-3507773 --batch-size 2048 --dataset reuters --epochs 384 --log-every 2 --lr 0.400001 --model mlp --momentum 0.9 --optimizer nesterov --schedule onecycle --seed 2 --val-size 500 --warmup 0.1 --weight-decay 0.0005 --data-dir /work/gq-study-data --metrics /work/main/results/scale/6047728b961f/metrics.jsonl
