#!/bin/sh
/work/study-bin/gq-train-4384024 --batch-size 2048 --dataset cifar10 --epochs 16 --eval-every 37 --log-every 10 --lr 0.04 --model paper-cnn --momentum 0.9 --optimizer nesterov --schedule onecycle --seed 0 --test-subset 5000 --val-size 2000 --warmup 0.1 --weight-decay 0.0005 --data-dir /work/gq-study-data --metrics /work/main/results/scale/40162d929fc4/metrics.jsonl
