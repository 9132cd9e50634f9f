#!/usr/bin/env python3
"""Seed corpora for the fuzz targets, cut from the real data files (GQ_DATA_DIR): small pieces
of real inputs, so the fuzzers start from what the parsers really see (the image seeds are tiny
PNGs written here). Usage:
    make_corpus.py DATA_DIR OUT_DIR      (writes OUT_DIR/<target>/seed-*)
Not committed: the inputs come from the datasets, and the script rebuilds them in a second."""
import bz2
import gzip
import io
import json
import lzma
import os
import struct
import sys
import tarfile
import zlib


def write(out, target, name, data):
    os.makedirs(os.path.join(out, target), exist_ok=True)
    with open(os.path.join(out, target, "seed-" + name), "wb") as f:
        f.write(data)


def cifar_members(data_dir):
    """batches.meta.txt and data_batch_1.bin from the real archive (its first members: the
    stream stops there, without decoding the rest)."""
    path = os.path.join(data_dir, "cifar10", "cifar-10-binary.tar.xz")
    found = {}
    with tarfile.open(path, "r|xz") as tar:
        for m in tar:
            base = os.path.basename(m.name)
            if base in ("batches.meta.txt", "data_batch_1.bin"):
                found[base] = tar.extractfile(m).read()
            if len(found) == 2:
                break
    return found["batches.meta.txt"], found["data_batch_1.bin"]


def reuters_file(data_dir):
    with tarfile.open(os.path.join(data_dir, "reuters21578", "reuters21578.tar.xz"), "r|xz") as tar:
        for m in tar:
            if os.path.basename(m.name) == "reut2-000.sgm":
                return tar.extractfile(m).read()
    raise SystemExit("reut2-000.sgm not in the Reuters archive")


def first_documents(sgm, n):
    end = 0
    for _ in range(n):
        end = sgm.index(b"</REUTERS>", end) + len(b"</REUTERS>")
    return sgm[:end] + b"\n"


def idx_head(raw, items, item_bytes):
    """The first `items` items of a real IDX file, its count patched to match."""
    ndims = raw[3]
    header = bytearray(raw[:4 + 4 * ndims])
    header[4:8] = struct.pack(">I", items)
    return bytes(header) + raw[len(header):len(header) + items * item_bytes]


def tar_bytes(members, mode):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode, format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def checkpoint_body(header, sections):
    """A checkpoint as tools/train/checkpoint.cpp writes it, without the closing checksum (the
    fuzz target appends it)."""
    h = json.dumps(header, separators=(",", ":")).encode()
    out = b"GQCKPT01" + struct.pack("<Q", len(h)) + h + struct.pack("<Q", len(sections))
    for name, values in sorted(sections.items()):
        out += struct.pack("<I", len(name)) + name.encode() + struct.pack("<Q", len(values))
        out += struct.pack("<%df" % len(values), *values)
    return out


def fnv1a(data, h=0xcbf29ce484222325):
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def decoded_cache(records):
    """A decoded-dataset cache file (datasets/decoded_cache.h) of CIFAR-10 records: 1 + 3072 bytes
    each, split into a train and a test part; each split's digest as Dataset::digest computes it."""
    header, body = {}, b""
    for split, part in (("train", records[:-1]), ("test", records[-1:])):
        images = b"".join(r[1:] for r in part)
        labels = struct.pack("<%di" % len(part), *[r[0] for r in part])
        digest = fnv1a(labels, fnv1a(images, fnv1a(struct.pack("<6i", len(part), 3, 32, 32, 0, 10))))
        header[split] = {"name": "cifar10", "split": split, "n": len(part), "channels": 3,
                         "height": 32, "width": 32, "num_classes": 10,
                         "class_names": ["c%d" % i for i in range(10)], "digest": "%016x" % digest}
        body += images + labels
    text = json.dumps(header).encode()
    return b"GQDATA01" + struct.pack("<Q", len(text)) + text + body


def png(width, height, depth, colour_type, rows, extra=()):
    """A PNG written chunk by chunk: `rows` are the filtered scanlines; `extra` chunks (type, data)
    go before IDAT (PLTE, tRNS)."""
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + b"".join(chunk(k, d) for k, d in extra)
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def image_seeds(out):
    """Tiny PNGs of each colour type and depth the decoder converts (the JPEG seeds, which Python
    cannot write, are regression inputs: tests/fuzz/regressions/fuzz_image)."""
    write(out, "fuzz_image", "grey-4x2.png", png(4, 2, 8, 0, bytes([0, 1, 2, 3, 4, 0, 5, 6, 7, 8])))
    write(out, "fuzz_image", "rgb-2x2.png", png(2, 2, 8, 2, bytes([0] + list(range(6)) + [1] + list(range(6)))))
    write(out, "fuzz_image", "rgba16-1x2.png",
          png(1, 2, 16, 6, bytes([0] + list(range(8)) + [2] + list(range(8, 16)))))
    write(out, "fuzz_image", "palette-trns-3x1.png",
          png(3, 1, 8, 3, bytes([0, 0, 1, 2]), [(b"PLTE", bytes(range(9))), (b"tRNS", b"\x00\x80")]))
    write(out, "fuzz_image", "grey2-8x1.png", png(8, 1, 2, 0, bytes([0, 0x1b, 0xe4])))


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    data_dir, out = sys.argv[1], sys.argv[2]
    image_seeds(out)
    meta, batch = cifar_members(data_dir)
    sgm = reuters_file(data_dir)

    write(out, "fuzz_cifar10", "meta", b"\x01" + meta)
    write(out, "fuzz_cifar10", "batch-2-records", b"\x00" + batch[:2 * 3073])
    write(out, "fuzz_cifar10", "batch-cut", b"\x00" + batch[:3073 + 100])

    with gzip.open(os.path.join(data_dir, "mnist", "t10k-labels-idx1-ubyte.gz")) as f:
        labels = f.read()
    with gzip.open(os.path.join(data_dir, "mnist", "t10k-images-idx3-ubyte.gz")) as f:
        images = f.read(16 + 3 * 784)
    with open(os.path.join(data_dir, "mnist", "t10k-labels-idx1-ubyte.gz"), "rb") as f:
        write(out, "fuzz_idx", "labels-real.gz", f.read())  # a whole real file
    write(out, "fuzz_idx", "labels-16", idx_head(labels, 16, 1))
    write(out, "fuzz_idx", "images-2", idx_head(images, 2, 784))
    write(out, "fuzz_idx", "images-2.gz", gzip.compress(idx_head(images, 2, 784), mtime=0))

    members = [("cifar-10-batches-bin/batches.meta.txt", meta),
               ("reuters21578/reut2-000.sgm", first_documents(sgm, 1))]
    write(out, "fuzz_archive", "plain.tar", tar_bytes(members, "w"))
    write(out, "fuzz_archive", "members.tar.gz", tar_bytes(members, "w:gz"))
    write(out, "fuzz_archive", "members.tar.xz", tar_bytes(members, "w:xz"))
    write(out, "fuzz_archive", "members.tar.bz2", tar_bytes(members, "w:bz2"))

    for n in (1, 2, 3):
        write(out, "fuzz_reuters", "docs-%d" % n, first_documents(sgm, n))

    header = {"format": 2, "model": "mnist-cnn", "dataset": "mnist", "batch_size": 32,
              "optimizer": "nesterov", "gradqueue": False, "seed": 7, "step": 5, "train_n": 640,
              "train_subset": 640, "num_classes": 10, "params": 4, "loss_steps": 0,
              "settings": {"model": "mnist-cnn", "lr": 0.05, "seed": 7}}
    sections = {"params": [0.5, -1.0, 2.0, 0.0], "momentum": [0.0] * 4, "loss_sum": [1.5, 2.25]}
    write(out, "fuzz_checkpoint", "plain", checkpoint_body(header, sections))
    # With Grad Queue's ring (qmin 2, qmax 3, p 4; RingState: 6 ints, 2 doubles): a seed that
    # reaches the ring's checks, which the fuzzer then forges field by field.
    as_floats = lambda fmt, *v: list(struct.unpack("<%df" % (struct.calcsize(fmt) // 4),  # noqa: E731
                                                   struct.pack(fmt, *v)))
    ring = dict(sections, **{"gq.slots": [0.25] * 12, "gq.sum": as_floats("<4d", 0.5, 0, 0, 1),
                             "gq.sumsq": as_floats("<4d", 0.25, 0, 0, 1),
                             "gq.state": as_floats("<6i2d", 2, 2, 2, 2, 3, 1, 1.5, 1.75),
                             "gq.skips": as_floats("<2i", 0, 1)})
    ring_header = dict(header, gradqueue=True, settings=dict(header["settings"], **{
        "gradqueue": True, "gq-qmin": 2, "gq-qmax": 3}))
    write(out, "fuzz_checkpoint", "gradqueue", checkpoint_body(ring_header, ring))
    # Format 3, with the named tensors and model state gq-export writes out.
    named = dict(header, format=3, tensors=[["fc.weight", [1, 3]], ["fc.bias", [1]]],
                 tensor_offsets=[1, 0],
                 model_state=[["bn.running_mean", [2]], ["bn.running_var", [2]]],
                 input={"shape": [1, 2, 2], "mean": [0.5], "std": [0.25], "classes": ["a", "b"]})
    write(out, "fuzz_checkpoint", "named", checkpoint_body(named, dict(
        sections, **{"bn.running_mean": [0.0, 0.5], "bn.running_var": [1.0, 2.0]})))
    header.update(format=1, gradqueue=True)
    del header["settings"], header["loss_steps"]
    write(out, "fuzz_checkpoint", "format1", checkpoint_body(header, {"params": [1.0] * 4}))

    records = [batch[i * 3073:(i + 1) * 3073] for i in range(3)]
    write(out, "fuzz_decoded_cache", "three-records", decoded_cache(records))
    write(out, "fuzz_config", "test-cli",
          b'model = "mnist-cnn"\ndataset = "mnist"\ntrain-subset = 256\ntest-subset = 64\n'
          b'batch-size = 32\nmax-steps = 3\n')
    write(out, "fuzz_config", "gradqueue",
          b"# Grad Queue on CIFAR-10\ngradqueue = true\ngq-clusters = 4\ngq-rho = 1.25\n"
          b"lr = 0.05   # peak\nschedule = 'cosine'\nno-augment = false\nseed = 18446744073709551615\n"
          b'metrics = "runs/a \\"b\\".jsonl"\r\n')


if __name__ == "__main__":
    main()
