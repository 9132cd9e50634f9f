#!/bin/sh
/work/wt-study/build-emu/bin/gq-train --batch-size 2048 --dataset reuters --epochs 48 --gq-clusters 16 --gradqueue --log-every 2 --lr 0.126491 --model mlp --momentum 0.9 --optimizer nesterov --schedule onecycle --seed 0 --val-size 500 --warmup 0.1 --weight-decay 0.0005 --data-dir /work/gq-study-data --metrics /work/wt-study/results/scale/f473b8fcd2e2/metrics.jsonl
