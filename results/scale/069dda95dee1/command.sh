#!/bin/sh
/work/wt-study/build-emu/bin/gq-train --batch-size 2048 --dataset reuters --epochs 96 --lars-eta 0.001 --log-every 2 --lr 5.05965 --model mlp --momentum 0.9 --optimizer lars --schedule onecycle --seed 1 --val-size 500 --warmup 0.1 --weight-decay 0.0005 --data-dir /work/gq-study-data --metrics /work/wt-study/results/scale/069dda95dee1/metrics.jsonl
