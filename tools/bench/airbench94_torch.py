#!/usr/bin/python3
"""The airbench94 recipe in PyTorch, fp32 on the CPU: the side-by-side baseline for gq-train's
`airbench94` recipe (accuracy and wall time of complete runs on the same machine).

Written from the recipe's published description and hyper-parameters (the cifar10-airbench
project's airbench94 and its paper, arXiv 2404.00498; 94.01% mean over 1,000 runs, 3.83 s on an
A100 in fp16): a frozen 2x2 whitening stem from the patch covariance of 5,000 training images,
three conv blocks (64, 256, 256) with BatchNorm (frozen scale, eps 1e-12, running-stat decay 0.6)
and GELU, Dirac-initialised convolutions, Nesterov SGD with decoupled hyper-parameters (lr 11.5
and weight decay 0.0153 per 1024 examples, momentum 0.85, BatchNorm shifts at 64x the lr), label
smoothing 0.2 on a summed loss, the triangular schedule, a lookahead EMA every 5 steps, reflect
padding + translation by 2, the alternating flip, and test-time augmentation level 2.

Usage: tools/bench/airbench94_torch.py [--data-dir DIR] [--seed N] [--threads N] [--epochs 9.9]
           [--batch-size 1024] [--metrics FILE] [--state FILE] [--precision fp32|bf16]
           [--bench-steps N (time the training step only, print ms per step)]
Prints one JSON line: seed, accuracy without and with TTA on the full test set, wall time of the
training (whitening init to the last step; evaluation apart; a run continued from --state adds
the time of each part, its data preparation included), and the steps run.
Uses Debian's python3-torch (hence /usr/bin/python3).
"""
import argparse
import json
import math
import os
import tarfile
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)
HYP = dict(lr=11.5, momentum=0.85, weight_decay=0.0153, bias_scaler=64.0, label_smoothing=0.2,
           whiten_bias_epochs=3, widths=(64, 256, 256), bn_decay=0.6, scale=1 / 9,
           translate=2, ema_every=5)


def load_cifar10(data_dir):
    """(train images uint8 [50000,3,32,32], train labels, test images, test labels) from the
    extracted folder or the .tar.xz, as gq-train finds them."""
    root = os.path.join(data_dir, "cifar10")
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    extracted = os.path.join(root, "cifar-10-batches-bin")
    raws = {}
    if os.path.isdir(extracted):
        for n in names:
            raws[n] = open(os.path.join(extracted, n), "rb").read()
    else:
        with tarfile.open(os.path.join(root, "cifar-10-binary.tar.xz")) as tar:
            for n in names:
                raws[n] = tar.extractfile("cifar-10-batches-bin/" + n).read()

    def split(raw):
        rows = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3073)
        return (torch.from_numpy(rows[:, 1:].reshape(-1, 3, 32, 32).copy()),
                torch.from_numpy(rows[:, 0].astype(np.int64)))
    train = [split(raws[n]) for n in names[:5]]
    test_x, test_y = split(raws[names[5]])
    return torch.cat([t[0] for t in train]), torch.cat([t[1] for t in train]), test_x, test_y


def normalise(images):
    x = images.float() / 255
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


class BatchNorm(nn.BatchNorm2d):
    """Scale frozen at 1, shift trained; running statistics decay 0.6 (PyTorch momentum 0.4)."""

    def __init__(self, channels):
        super().__init__(channels, eps=1e-12, momentum=1 - HYP["bn_decay"])
        self.weight.requires_grad = False


class Conv(nn.Conv2d):
    """3x3 'same' convolution without bias, identity on its first input channels."""

    def __init__(self, cin, cout):
        super().__init__(cin, cout, kernel_size=3, padding=1, bias=False)

    def reset_parameters(self):
        super().reset_parameters()
        w = self.weight.data
        nn.init.dirac_(w[:w.size(1)])


class Block(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv1, self.pool, self.norm1 = Conv(cin, cout), nn.MaxPool2d(2), BatchNorm(cout)
        self.conv2, self.norm2, self.activ = Conv(cout, cout), BatchNorm(cout), nn.GELU()

    def forward(self, x):
        x = self.activ(self.norm1(self.pool(self.conv1(x))))
        return self.activ(self.norm2(self.conv2(x)))


class Scale(nn.Module):
    def forward(self, x):
        return x * HYP["scale"]


def make_net():
    w = HYP["widths"]
    net = nn.Sequential(nn.Conv2d(3, 24, kernel_size=2, padding=0, bias=True), nn.GELU(),
                        Block(24, w[0]), Block(w[0], w[1]), Block(w[1], w[2]), nn.MaxPool2d(3),
                        nn.Flatten(), nn.Linear(w[2], 10, bias=False), Scale())
    net[0].weight.requires_grad = False
    return net


def init_whitening(conv, images, eps=5e-4):
    """Weights from the eigendecomposition of the uncentred covariance of all 2x2 patches."""
    patches = images.unfold(2, 2, 1).unfold(3, 2, 1).transpose(1, 3).reshape(-1, 3, 2, 2)
    flat = patches.reshape(len(patches), -1).double()
    cov = flat.T @ flat / len(flat)
    values, vectors = torch.linalg.eigh(cov)
    values, vectors = values.flip(0), vectors.T.flip(0)
    scaled = (vectors / torch.sqrt(values + eps).view(-1, 1)).reshape(12, 3, 2, 2).float()
    conv.weight.data[:] = torch.cat((scaled, -scaled))


class Loader:
    """Reflect-padded, translated batches with the alternating flip: each image gets a random
    flip once, then every odd epoch flips all of them. Drops the last partial batch."""

    def __init__(self, images, labels, batch_size, gen):
        self.labels, self.b, self.gen, self.epoch = labels, batch_size, gen, 0
        x = normalise(images)
        coin = torch.rand(len(x), generator=gen) < 0.5
        x = torch.where(coin.view(-1, 1, 1, 1), x.flip(-1), x)
        pad = HYP["translate"]
        self.padded = F.pad(x, (pad,) * 4, mode="reflect")

    def __len__(self):
        return len(self.labels) // self.b

    def __iter__(self):
        pad, n = HYP["translate"], len(self.labels)
        shifts = torch.randint(0, 2 * pad + 1, (n, 2), generator=self.gen)
        images = torch.empty(n, 3, 32, 32)
        for dy in range(2 * pad + 1):
            for dx in range(2 * pad + 1):
                mask = (shifts[:, 0] == dy) & (shifts[:, 1] == dx)
                images[mask] = self.padded[mask, :, dy:dy + 32, dx:dx + 32]
        if self.epoch % 2 == 1:
            images = images.flip(-1)
        self.epoch += 1
        order = torch.randperm(n, generator=self.gen)
        for i in range(len(self)):
            idx = order[i * self.b:(i + 1) * self.b]
            yield images[idx], self.labels[idx]


def triangle(step, total):
    warm = int(total * 0.23)
    if step < warm:
        return 0.2 + 0.8 * step / warm
    return 1.0 - 0.93 * (step - warm) / (total - warm)


def optimizer_for(net, batch_size):
    """The decoupled hyper-parameters translated to PyTorch's SGD, as the recipe does."""
    kilostep = 1024 * (1 + 1 / (1 - HYP["momentum"]))
    lr = HYP["lr"] / kilostep
    wd = HYP["weight_decay"] * batch_size / kilostep
    lr_bias = lr * HYP["bias_scaler"]
    named = [(k, p) for k, p in net.named_parameters() if p.requires_grad]
    norm = [p for k, p in named if "norm" in k]
    other = [p for k, p in named if "norm" not in k]
    groups = [dict(params=norm, lr=lr_bias, weight_decay=wd / lr_bias),
              dict(params=other, lr=lr, weight_decay=wd / lr)]
    return torch.optim.SGD(groups, momentum=HYP["momentum"], nesterov=True)


class Lookahead:
    def __init__(self, net):
        self.ema = {k: v.clone() for k, v in net.state_dict().items()}

    def update(self, net, decay):
        for ema, cur in zip(self.ema.values(), net.state_dict().values()):
            if cur.dtype.is_floating_point:
                ema.lerp_(cur, 1 - decay)
                cur.copy_(ema)


def evaluate(net, images, labels, tta):
    net.eval()
    x = normalise(images)
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), 1000):
            xb = x[i:i + 1000]
            mirror = lambda v: 0.5 * net(v) + 0.5 * net(v.flip(-1))  # noqa: E731
            logits = net(xb) if not tta else mirror(xb)
            if tta:
                p = F.pad(xb, (1,) * 4, mode="reflect")
                shifted = 0.5 * (mirror(p[:, :, 0:32, 0:32]) + mirror(p[:, :, 2:34, 2:34]))
                logits = 0.5 * logits + 0.5 * shifted
            correct += (logits.argmax(1) == labels[i:i + 1000]).sum().item()
    net.train()
    return correct / len(x)


def save_state(path, **state):
    """Written whole or not at all (tmp + rename): a run killed while saving resumes from the last."""
    torch.save(state, path + ".tmp")
    os.replace(path + ".tmp", path)


def train(args, data):
    train_x, train_y, test_x, test_y = data
    gen = torch.Generator().manual_seed(args.seed)
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    loader = Loader(train_x, train_y, args.batch_size, gen)
    total = math.ceil(len(loader) * args.epochs)
    net = make_net()
    opt = optimizer_for(net, args.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: triangle(s, total))
    alpha = 0.95 ** HYP["ema_every"] * (torch.arange(total + 1) / total) ** 3
    saved = torch.load(args.state) if args.state and os.path.exists(args.state) else None
    if saved is None:
        init_whitening(net[0], normalise(train_x[:5000]))
        step, first_epoch, earlier_s = 0, 0, 0.0
    else:  # continue after the last whole epoch of a stopped run
        net.load_state_dict(saved["net"])
        opt.load_state_dict(saved["opt"])
        sched.load_state_dict(saved["sched"])
        gen.set_state(saved["gen"])
        loader.epoch, step = saved["loader_epoch"], saved["step"]
        first_epoch, earlier_s = saved["epoch"], saved["train_s"]
    look = Lookahead(net)  # after the whitening (the original takes it just before: ~1e-6 apart)
    if saved is not None:
        look.ema = saved["ema"]
    loss_fn = nn.CrossEntropyLoss(label_smoothing=HYP["label_smoothing"], reduction="none")
    log = open(args.metrics, "a" if saved else "w") if args.metrics else None
    for epoch in range(first_epoch, math.ceil(args.epochs)):
        net[0].bias.requires_grad = epoch < HYP["whiten_bias_epochs"]
        for xb, yb in loader:
            with autocast(args.precision):
                loss = loss_fn(net(xb), yb).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if step % HYP["ema_every"] == 0:
                look.update(net, decay=alpha[step].item())
            if log:
                log.write(json.dumps(dict(step=step, loss=loss.item() / len(yb),
                                          s=earlier_s + time.perf_counter() - start)) + "\n")
            if step >= total:
                look.update(net, decay=1.0)
                break
        if args.state and step < total:
            if log:
                log.flush()
            save_state(args.state, net=net.state_dict(), opt=opt.state_dict(),
                       sched=sched.state_dict(), ema=look.ema, gen=gen.get_state(),
                       loader_epoch=loader.epoch, step=step, epoch=epoch + 1,
                       train_s=earlier_s + time.perf_counter() - start)
    seconds = earlier_s + time.perf_counter() - start
    return dict(seed=args.seed, steps=step, train_s=round(seconds, 1), resumed=saved is not None,
                acc=evaluate(net, test_x, test_y, False), tta_acc=evaluate(net, test_x, test_y, True))


def autocast(precision):
    """--precision bf16: PyTorch's CPU autocast (convolutions and matmuls in bf16 through oneDNN,
    their accumulation, the loss, BatchNorm and the weights in fp32)."""
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")


def bench(args, data):
    """--bench-steps N: the training step alone (the first epoch's batches, 2 warm-up steps, then N
    timed), for the step-time comparison with gq-bench; no evaluation."""
    train_x, train_y = data[0], data[1]
    gen = torch.Generator().manual_seed(args.seed)
    torch.manual_seed(args.seed)
    loader = Loader(train_x, train_y, args.batch_size, gen)
    net = make_net()
    init_whitening(net[0], normalise(train_x[:5000]))
    opt = optimizer_for(net, args.batch_size)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=HYP["label_smoothing"], reduction="none")
    times = []
    for i, (xb, yb) in enumerate(loader):
        if i == args.bench_steps + 2:
            break
        start = time.perf_counter()
        with autocast(args.precision):
            loss = loss_fn(net(xb), yb).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - start)
    timed = times[2:]
    return dict(precision=args.precision, batch=args.batch_size, steps=len(timed),
                ms_per_step=round(1000 * sum(timed) / len(timed), 1),
                best_ms=round(1000 * min(timed), 1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", default=os.environ.get("GQ_DATA_DIR", "../shared/data"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--epochs", type=float, default=9.9)
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--metrics", default="", help="JSONL of the loss per step")
    ap.add_argument("--state", default="",
                    help="save the run here after every epoch and continue from it when it exists")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                    help="bf16: CPU autocast around the forward pass and the loss")
    ap.add_argument("--bench-steps", type=int, default=0,
                    help="time this many training steps (after 2 warm-up steps) and stop")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = load_cifar10(args.data_dir)
    result = bench(args, data) if args.bench_steps else train(args, data)
    result.update(threads=torch.get_num_threads(), torch=torch.__version__)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
