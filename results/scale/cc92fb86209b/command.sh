#!/bin/sh
/work/wt-study/build-emu/bin/gq-train --batch-size 128 --dataset reuters --epochs 12 --gq-clusters 1 --gradqueue --log-every 2 --lr 0.0316228 --model mlp --momentum 0.9 --optimizer nesterov --schedule onecycle --seed 0 --val-size 500 --warmup 0.1 --weight-decay 0.0005 --data-dir /work/gq-study-data --metrics /work/wt-study/results/scale/cc92fb86209b/metrics.jsonl
