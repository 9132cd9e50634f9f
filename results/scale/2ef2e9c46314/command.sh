#!/bin/sh
/work/study-bin/gq-train-c1f2918 --batch-size 2048 --dataset cifar10 --epochs 4 --eval-every 9 --log-every 10 --lr 0.04 --model paper-cnn --momentum 0.9 --optimizer nesterov --schedule onecycle --seed 2 --test-subset 5000 --val-size 2000 --warmup 0.1 --weight-decay 0.0005 --data-dir /work/gq-study-data --metrics /work/main/results/scale/2ef2e9c46314/metrics.jsonl
