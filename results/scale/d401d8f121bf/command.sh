#!/bin/sh
/work/study-bin/gq-train-3507773 --batch-size 2048 --dataset reuters --epochs 192 --log-every 2 --lr 4.00001 --model mlp --momentum 0.9 --optimizer nesterov --schedule onecycle --seed 0 --val-size 500 --warmup 0.1 --weight-decay 0.0005 --data-dir /work/gq-study-data --metrics /work/main/results/scale/d401d8f121bf/metrics.jsonl
