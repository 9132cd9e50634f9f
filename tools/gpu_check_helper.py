#!/usr/bin/env python3
"""Helpers of tools/gpu-check.sh (standard library only; Python 3.8+).

Prepare side (the build machine):
  pack-data SRC DST [--cifar-train N] [--cifar-test N] [--mnist-train N] [--mnist-test N]
            [--no-reuters] [--xz-preset P] [--test-from-train]
      DST/cifar10/{train,test}.bin.xz: the first N records of data_batch_1.bin / test_batch.bin
      of SRC/cifar10/cifar-10-binary.tar.xz (the run side tiles them to the reader's fixed
      10000-record files); DST/mnist/*.gz: the first N images and labels as valid IDX files;
      DST/reuters21578/: a copy of the archive (the Reuters tests need all of it; 4.9 MB).
  tests-list CTEST_JSON BIN_DIR SRC_DIR
      `ctest --show-only=json-v1` -> one line per test: name, labels, environment (without
      GQ_DATA_DIR), command; BIN_DIR and SRC_DIR become @BIN@ and @SRC@.
Run side (the GPU machine, or here in a dry run):
  unpack-data BUNDLE_DATA DST
      the inverse of pack-data: CIFAR-10 batch files tiled from the packed records.
  bench-report OUT_JSON NAME=FILE...
      merges Google Benchmark JSON files into OUT_JSON and prints a table (the step variants
      with images/s and x_plain, the kernels with GB/s and pct_of_roofline where reported).
  train-report METRICS_JSONL BATCH
      time per step (training steps only, the first logged interval excluded as warm-up) and
      the last test accuracy.
  ncu-top CSV N
      from `ncu --csv --page raw --metrics gpu__time_duration.sum`: a per-kernel table on stdout
      and the N most expensive kernel names, one per line, on fd 3.
"""
import argparse
import gzip
import json
import lzma
import os
import shutil
import struct
import sys
import tarfile

import ncu_table  # tools/ncu_table.py: reading ncu CSV exports

CIFAR_RECORD = 3073
CIFAR_PER_FILE = 10000


# ---------------------------------------------------------------------------------------------
# pack-data / unpack-data


def pack_data(args):
    src, dst = args.src, args.dst
    os.makedirs(dst, exist_ok=True)
    lines = []
    archive = os.path.join(src, "cifar10", "cifar-10-binary.tar.xz")
    want = {"data_batch_1.bin": ("train", args.cifar_train), "test_batch.bin": ("test", args.cifar_test)}
    if args.test_from_train:  # only the first member is read: no need to unpack the whole archive
        want = {"data_batch_1.bin": ("train", args.cifar_train)}
    for n in (args.cifar_train, args.cifar_test):
        if n <= 0 or CIFAR_PER_FILE % n:
            sys.exit(f"pack-data: CIFAR-10 subset sizes must divide {CIFAR_PER_FILE} (got {n})")
    os.makedirs(os.path.join(dst, "cifar10"), exist_ok=True)
    found = set()
    with tarfile.open(archive, "r:xz") as tar:
        for member in tar:  # streaming: members in archive order
            base = os.path.basename(member.name)
            if base == "batches.meta.txt":
                data = tar.extractfile(member).read()
                with open(os.path.join(dst, "cifar10", base), "wb") as f:
                    f.write(data)
            if base not in want:
                continue
            split, n = want[base]
            parts = [(split, n, 0)]
            if args.test_from_train:
                parts.append(("test", args.cifar_test, n))
            data = tar.extractfile(member).read(sum(p[1] for p in parts) * CIFAR_RECORD)
            for split, n, first in parts:
                part = data[first * CIFAR_RECORD:(first + n) * CIFAR_RECORD]
                if len(part) != n * CIFAR_RECORD:
                    sys.exit(f"pack-data: {archive}:{member.name} has fewer than {first + n} records")
                with lzma.open(os.path.join(dst, "cifar10", f"{split}.bin.xz"), "wb",
                               preset=args.xz_preset) as f:
                    f.write(part)
                labels = [part[i * CIFAR_RECORD] for i in range(n)]
                per_class = [labels.count(c) for c in range(10)]
                which = f"first {n} records" if first == 0 else f"records {first}..{first + n - 1}"
                lines.append(f"cifar10 {split}: {which} of {base} (per class {per_class}), "
                             f"tiled x{CIFAR_PER_FILE // n} to the reader's 10000-record files")
            found.add(base)
            if found == set(want):
                break
    if found != set(want):
        sys.exit(f"pack-data: {archive} lacks {sorted(set(want) - found)}")

    mnist_src, mnist_dst = os.path.join(src, "mnist"), os.path.join(dst, "mnist")
    os.makedirs(mnist_dst, exist_ok=True)
    for prefix, n in (("train", args.mnist_train), ("t10k", args.mnist_test)):
        for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"):
            name = f"{prefix}-{kind}.gz"
            with gzip.open(os.path.join(mnist_src, name), "rb") as f:
                raw = f.read()
            magic, count = struct.unpack(">II", raw[:8])
            ndims = magic & 0xFF
            dims = struct.unpack(">" + "I" * ndims, raw[4:4 + 4 * ndims])
            item = 1
            for d in dims[1:]:
                item *= d
            header = 4 + 4 * ndims
            k = min(n, count)
            out = struct.pack(">I", magic) + struct.pack(">" + "I" * ndims, k, *dims[1:])
            out += raw[header:header + k * item]
            with gzip.open(os.path.join(mnist_dst, name), "wb", compresslevel=9) as f:
                f.write(out)
        lines.append(f"mnist {prefix}: first {min(n, count)} of {count} images and labels (IDX, gz)")

    if not args.no_reuters:
        os.makedirs(os.path.join(dst, "reuters21578"), exist_ok=True)
        shutil.copy(os.path.join(src, "reuters21578", "reuters21578.tar.xz"),
                    os.path.join(dst, "reuters21578", "reuters21578.tar.xz"))
        lines.append("reuters21578: the whole archive (copied)")
    with open(os.path.join(dst, "README.txt"), "w") as f:
        f.write("Data subset for tools/gpu-check.sh --run (made by --prepare):\n")
        f.write("".join(f"  {line}\n" for line in lines))
        f.write(f"cifar10_train_images: {args.cifar_train}\ncifar10_test_images: {args.cifar_test}\n")
    print("\n".join(lines))


def unpack_data(args):
    src, dst = args.src, args.dst
    cifar = os.path.join(dst, "cifar10", "cifar-10-batches-bin")
    os.makedirs(cifar, exist_ok=True)
    for split, names in (("train", [f"data_batch_{i}.bin" for i in range(1, 6)]),
                         ("test", ["test_batch.bin"])):
        with lzma.open(os.path.join(src, "cifar10", f"{split}.bin.xz")) as f:
            records = f.read()
        if not records or len(records) % CIFAR_RECORD or CIFAR_PER_FILE % (len(records) // CIFAR_RECORD):
            sys.exit(f"unpack-data: {split}.bin.xz holds {len(records)} bytes: not a divisor of "
                     f"{CIFAR_PER_FILE} records of {CIFAR_RECORD} bytes")
        tiled = records * (CIFAR_PER_FILE // (len(records) // CIFAR_RECORD))
        for name in names:
            with open(os.path.join(cifar, name), "wb") as f:
                f.write(tiled)
    meta = os.path.join(src, "cifar10", "batches.meta.txt")
    if os.path.exists(meta):
        shutil.copy(meta, os.path.join(cifar, "batches.meta.txt"))
    for d in ("mnist", "reuters21578"):
        if os.path.isdir(os.path.join(src, d)):
            shutil.copytree(os.path.join(src, d), os.path.join(dst, d), dirs_exist_ok=True)


# ---------------------------------------------------------------------------------------------
# tests-list


def tests_list(args):
    with open(args.ctest_json) as f:
        info = json.load(f)
    bin_dir, src_dir = os.path.abspath(args.bin_dir), os.path.abspath(args.src_dir)

    def rel(s):
        return s.replace(bin_dir, "@BIN@").replace(src_dir, "@SRC@")

    for t in info.get("tests", []):
        props = {p["name"]: p["value"] for p in t.get("properties", [])}
        labels = ",".join(props.get("LABELS", [])) or "-"
        env = [e for e in props.get("ENVIRONMENT", []) if not e.startswith("GQ_DATA_DIR=")]
        cmd = [rel(c) for c in t.get("command", [])]
        if not cmd:  # ctest names no command while the executable is not built yet
            base = t["name"]
            for suffix in (".forward", ".reverse"):
                base = base[: -len(suffix)] if base.endswith(suffix) else base
            cmd = ["@BIN@/" + base]
        print("\t".join([t["name"], labels, ";".join(env) or "-", " ".join(cmd)]))


# ---------------------------------------------------------------------------------------------
# bench-report / train-report / ncu-top


def bench_report(args):
    merged = []
    for item in args.files:
        name, _, path = item.partition("=")
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            merged.append({"binary": name, "error": str(e)})
            continue
        data["binary"] = name
        merged.append(data)
    with open(args.out_json, "w") as f:
        json.dump(merged, f, indent=1)
    for data in merged:
        if "error" in data:
            print(f"{data['binary']}: no results ({data['error']})")
            continue
        rows = [b for b in data.get("benchmarks", []) if b.get("run_type", "iteration") == "iteration"]
        print(f"\n{data['binary']} ({len(rows)} benchmarks)")
        for b in rows:
            t = b.get("real_time", 0.0)
            unit = b.get("time_unit", "ns")
            extra = []
            if "images_per_s" in b:
                extra.append(f"{b['images_per_s']:,.0f} img/s")
            if "x_plain" in b:
                extra.append(f"x_plain {b['x_plain']:.2f}")
            if "bytes_per_second" in b:
                extra.append(f"{b['bytes_per_second'] / 1e9:,.1f} GB/s")
            if "pct_of_roofline" in b:
                extra.append(f"{b['pct_of_roofline']:.1f}% of roofline")
            if "items_per_second" in b:
                extra.append(f"{b['items_per_second']:,.3g} items/s")
            for k, v in b.items():
                if k.startswith(("flops", "tflops", "gflops", "pct_")) and k != "pct_of_roofline":
                    extra.append(f"{k} {v:,.3g}")
            label = f" [{b['label']}]" if b.get("label") else ""
            print(f"  {b['name']:<58} {t:>11.4g} {unit:<2}{label}  {'  '.join(extra)}")


def train_report(args):
    batch = args.batch
    secs = steps = 0.0
    prev = None
    acc = None
    with open(args.metrics) as f:
        for line in f:
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if r.get("type") == "train":
                if prev is not None and r.get("images_per_s", 0) > 0:
                    n = r["step"] - prev
                    steps += n
                    secs += n * batch / r["images_per_s"]
                prev = r["step"]
            elif r.get("type") == "eval":
                acc = r.get("test_accuracy")
    ms = 1e3 * secs / steps if steps else float("nan")
    acc_text = f"{100 * acc:.2f}%" if acc is not None else "n/a"
    print(f"{ms:.2f} ms/step over {int(steps)} steps after the first logged interval; "
          f"test accuracy {acc_text}")


def ncu_top(args):
    rows = ncu_table.read_rows(args.csv)
    stats = ncu_table.kernel_stats(rows)
    total = sum(s["ns"] for s in stats.values()) or 1.0
    ranked = sorted(stats.items(), key=lambda kv: -kv[1]["ns"])
    print(f"{len(rows)} kernel launches, {total / 1e3:.1f} us of kernel time in all")
    print(f"{'kernel':<70} {'calls':>6} {'total us':>10} {'%':>5}")
    for name, s in ranked[:25]:
        print(f"{name[:70]:<70} {s['n']:>6} {s['ns'] / 1e3:>10.1f} {100 * s['ns'] / total:>5.1f}")
    with os.fdopen(3, "w") as top:
        for name, _ in ranked[:args.n]:
            top.write(name + "\n")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("pack-data")
    a.add_argument("src")
    a.add_argument("dst")
    a.add_argument("--cifar-train", type=int, default=5000)
    a.add_argument("--cifar-test", type=int, default=1000)
    a.add_argument("--mnist-train", type=int, default=5000)
    a.add_argument("--mnist-test", type=int, default=1000)
    a.add_argument("--no-reuters", action="store_true")
    a.add_argument("--xz-preset", type=int, default=9)
    a.add_argument("--test-from-train", action="store_true",
                   help="CIFAR-10 test images from data_batch_1 after the train ones (quick, for tests)")
    a.set_defaults(fn=pack_data)
    a = sub.add_parser("unpack-data")
    a.add_argument("src")
    a.add_argument("dst")
    a.set_defaults(fn=unpack_data)
    a = sub.add_parser("tests-list")
    a.add_argument("ctest_json")
    a.add_argument("bin_dir")
    a.add_argument("src_dir")
    a.set_defaults(fn=tests_list)
    a = sub.add_parser("bench-report")
    a.add_argument("out_json")
    a.add_argument("files", nargs="*")
    a.set_defaults(fn=bench_report)
    a = sub.add_parser("train-report")
    a.add_argument("metrics")
    a.add_argument("batch", type=int)
    a.set_defaults(fn=train_report)
    a = sub.add_parser("ncu-top")
    a.add_argument("csv")
    a.add_argument("n", type=int)
    a.set_defaults(fn=ncu_top)
    args = p.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
