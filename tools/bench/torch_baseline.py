#!/usr/bin/python3
"""The named baseline for training throughput: the same nets as gradqueue's model zoo in PyTorch
(CPU), trained with the same optimizer on random CIFAR-shaped batches. Prints images/s as JSON.

Usage: tools/bench/torch_baseline.py --model paper-cnn|airbench [--batch-size 128] [--steps 30]
Uses Debian's python3-torch (hence /usr/bin/python3). Threads: all cores, as gq-train uses them.
"""
import argparse
import json
import os
import time

import torch
from torch import nn


def paper_cnn(classes=10):
    layers, c_in = [], 3
    for width in (32, 64, 128):
        layers += [nn.Conv2d(c_in, width, 3, padding=1, bias=False), nn.GroupNorm(8, width),
                   nn.ReLU(), nn.MaxPool2d(2)]
        c_in = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, classes))


def airbench(classes=10):
    def conv_bn(c_in, c_out):
        return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.GELU()]
    layers, c_in = conv_bn(3, 64), 64
    for width in (64, 256, 256):
        layers += [nn.Conv2d(c_in, width, 3, padding=1, bias=False), nn.MaxPool2d(2),
                   nn.BatchNorm2d(width), nn.GELU(), *conv_bn(width, width)]
        c_in = width
    return nn.Sequential(*layers, nn.MaxPool2d(4), nn.Flatten(), nn.Linear(256, classes, bias=False))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="paper-cnn", choices=["paper-cnn", "airbench"])
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(0)
    model = paper_cnn() if args.model == "paper-cnn" else airbench()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True,
                          weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.randn(args.batch_size, 3, 32, 32)
    y = torch.randint(0, 10, (args.batch_size,))
    for i in range(args.warmup + args.steps):
        if i == args.warmup:
            t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - t0
    print(json.dumps({"framework": f"pytorch {torch.__version__}", "model": args.model,
                      "batch_size": args.batch_size, "threads": torch.get_num_threads(),
                      "images_per_s": args.steps * args.batch_size / seconds}))


if __name__ == "__main__":
    main()
