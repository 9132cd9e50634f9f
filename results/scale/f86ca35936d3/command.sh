#!/bin/sh
/work/wt-study/build-emu/bin/gq-train --batch-size 2048 --dataset reuters --epochs 96 --log-every 2 --lr 1.26491 --model mlp --momentum 0.9 --optimizer nesterov --schedule onecycle --seed 0 --val-size 500 --warmup 0.1 --weight-decay 0.0005 --data-dir /work/gq-study-data --metrics /work/wt-study/results/scale/f86ca35936d3/metrics.jsonl
