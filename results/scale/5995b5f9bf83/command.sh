#!/bin/sh
/work/wt-study/build-emu/bin/gq-train --batch-size 2048 --dataset reuters --epochs 48 --gq-clusters 4 --gradqueue --log-every 2 --lr 0.00126491 --model mlp --optimizer adamw --schedule onecycle --seed 0 --val-size 500 --warmup 0.1 --weight-decay 0.01 --data-dir /work/gq-study-data --metrics /work/wt-study/results/scale/5995b5f9bf83/metrics.jsonl
