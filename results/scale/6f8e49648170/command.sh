#!/bin/sh
/work/wt-study/build-emu/bin/gq-train --batch-size 128 --dataset reuters --epochs 24 --log-every 2 --lr 0.316228 --model mlp --momentum 0.9 --optimizer nesterov --schedule onecycle --seed 1 --val-size 500 --warmup 0.1 --weight-decay 0.0005 --data-dir /work/gq-study-data --metrics /work/wt-study/results/scale/6f8e49648170/metrics.jsonl
