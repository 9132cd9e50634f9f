#!/bin/sh
/work/wt-study/build-emu/bin/gq-train --batch-size 128 --dataset reuters --epochs 12 --lars-eta 0.001 --log-every 2 --lr 1.26491 --model mlp --momentum 0.9 --optimizer lars --schedule onecycle --seed 0 --val-size 500 --warmup 0.1 --weight-decay 0.0005 --data-dir /work/gq-study-data --metrics /work/wt-study/results/scale/d31020ba17f6/metrics.jsonl
