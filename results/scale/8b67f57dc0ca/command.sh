#!/bin/sh
/work/wt-study/build-emu/bin/gq-train --batch-size 2048 --dataset reuters --epochs 48 --lars-eta 0.001 --log-every 2 --lr 1.6 --model mlp --momentum 0.9 --optimizer lars --schedule onecycle --seed 0 --val-size 500 --warmup 0.1 --weight-decay 0.0005 --data-dir /work/gq-study-data --metrics /work/wt-study/results/scale/8b67f57dc0ca/metrics.jsonl
