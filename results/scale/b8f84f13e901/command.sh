#!/bin/sh
/work/study-bin/gq-train-c1f2918 --batch-size 2048 --dataset mnist --epochs 8 --eval-every 20 --log-every 10 --lr 0.126491 --model mnist-cnn --momentum 0.9 --optimizer nesterov --schedule onecycle --seed 2 --test-subset 5000 --val-size 2000 --warmup 0.1 --weight-decay 0.0005 --data-dir /work/gq-study-data --metrics /work/main/results/scale/b8f84f13e901/metrics.jsonl
