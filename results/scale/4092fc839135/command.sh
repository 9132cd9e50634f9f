#!/bin/sh
/work/wt-study/build-emu/bin/gq-train --batch-size 128 --dataset mnist --epochs 1 --eval-every 0 --log-every 10 --lr 0.0316228 --model mnist-cnn --momentum 0.9 --optimizer nesterov --schedule onecycle --seed 0 --test-subset 5000 --val-size 2000 --warmup 0.1 --weight-decay 0.0005 --data-dir /work/gq-study-data --metrics /work/wt-study/results/scale/4092fc839135/metrics.jsonl
