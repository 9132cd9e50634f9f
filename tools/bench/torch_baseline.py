#!/usr/bin/python3
"""The named baseline for training throughput: the same nets as gradqueue's model zoo in PyTorch
(CPU), trained with the same optimizer on the same kind of batches: real CIFAR-10 images drawn in a
shuffled order, normalised per channel, randomly cropped (4 pixels of zero padding) and flipped,
as gq-train's data step does on the device. The data step is inside the timed loop on both sides.
Prints images/s as JSON.

Usage: tools/bench/torch_baseline.py --model paper-cnn|airbench [--batch-size 128] [--steps 30]
           [--threads N] [--data-dir DIR]   (DIR: CIFAR-10 as gq-train reads it; without it,
                                              random batches and no augmentation)
Uses Debian's python3-torch (hence /usr/bin/python3). Threads: all cores unless --threads.
"""
import argparse
import json
import os
import tarfile
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def cifar10_train_images(data_dir):
    """The first training batch file (10,000 images) as uint8 [n, 3, 32, 32], from the extracted
    folder or the .tar.xz archive, as datasets/cifar10.cpp finds them."""
    root = os.path.join(data_dir, "cifar10")
    extracted = os.path.join(root, "cifar-10-batches-bin", "data_batch_1.bin")
    if os.path.exists(extracted):
        raw = open(extracted, "rb").read()
    else:
        with tarfile.open(os.path.join(root, "cifar-10-binary.tar.xz")) as tar:
            raw = tar.extractfile("cifar-10-batches-bin/data_batch_1.bin").read()
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3073)
    return torch.from_numpy(rows[:, 1:].reshape(-1, 3, 32, 32).copy()), \
        torch.from_numpy(rows[:, 0].astype(np.int64))


class AugmentedBatches:
    """Shuffled batches of normalised, randomly cropped and flipped images."""

    def __init__(self, images, labels, batch_size, seed=0):
        self.images, self.labels, self.b = images, labels, batch_size
        x = images.float() / 255
        self.mean = x.mean(dim=(0, 2, 3)).view(1, 3, 1, 1)
        self.std = x.std(dim=(0, 2, 3)).view(1, 3, 1, 1)
        self.gen = torch.Generator().manual_seed(seed)
        self.order, self.at = torch.randperm(len(images), generator=self.gen), 0

    def next(self):
        if self.at + self.b > len(self.order):
            self.order, self.at = torch.randperm(len(self.images), generator=self.gen), 0
        idx = self.order[self.at:self.at + self.b]
        self.at += self.b
        x = (self.images[idx].float() / 255 - self.mean) / self.std
        padded = F.pad(x, (4, 4, 4, 4))
        dy = torch.randint(0, 9, (self.b,), generator=self.gen).tolist()
        dx = torch.randint(0, 9, (self.b,), generator=self.gen).tolist()
        flip = torch.rand(self.b, generator=self.gen) < 0.5
        x = torch.stack([padded[i, :, dy[i]:dy[i] + 32, dx[i]:dx[i] + 32] for i in range(self.b)])
        x[flip] = x[flip].flip(3)
        return x, self.labels[idx]


class RandomBatch:
    def __init__(self, batch_size):
        self.x, self.y = torch.randn(batch_size, 3, 32, 32), torch.randint(0, 10, (batch_size,))

    def next(self):
        return self.x, self.y


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
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = paper_cnn() if args.model == "paper-cnn" else airbench()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True,
                          weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()
    batches = (AugmentedBatches(*cifar10_train_images(args.data_dir), args.batch_size)
               if args.data_dir else RandomBatch(args.batch_size))
    for i in range(args.warmup + args.steps):
        if i == args.warmup:
            t0 = time.perf_counter()
        x, y = batches.next()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - t0
    print(json.dumps({"framework": f"pytorch {torch.__version__}", "model": args.model,
                      "batch_size": args.batch_size, "threads": torch.get_num_threads(),
                      "data": "cifar10 augmented" if args.data_dir else "random",
                      "images_per_s": args.steps * args.batch_size / seconds}))


if __name__ == "__main__":
    main()
