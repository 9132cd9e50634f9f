#!/bin/sh
/work/study-bin/gq-train-c1f2918 --batch-size 2048 --dataset mnist --epochs 1 --eval-every 0 --gq-clusters 4 --gradqueue --log-every 10 --lr 0.0004 --model mnist-cnn --optimizer adamw --schedule onecycle --seed 0 --test-subset 5000 --val-size 2000 --warmup 0.1 --weight-decay 0.01 --data-dir /work/gq-study-data --metrics /work/main/results/scale/ede65853f505/metrics.jsonl
