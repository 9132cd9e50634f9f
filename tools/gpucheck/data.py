"""The data subset the bundle carries (the device machine gets 64 MiB in all): --prepare packs
the first records of CIFAR-10 and MNIST (and Reuters-21578 whole); the run step unpacks them into
the readers' layout, tiling the CIFAR-10 records to the reader's fixed 10000-record files."""
import gzip
import lzma
import os
import shutil
import struct
import tarfile
from dataclasses import dataclass
from typing import Dict, List, Tuple

from .common import CheckFailed

CIFAR_RECORD = 3073
CIFAR_PER_FILE = 10000


@dataclass
class SubsetSizes:
    cifar_train: int = 5000
    cifar_test: int = 1000
    mnist_train: int = 5000
    mnist_test: int = 1000
    reuters: bool = True
    xz_preset: int = 9
    test_from_train: bool = False  # CIFAR-10 test images from data_batch_1 (quick: one member read)


def _cifar_parts(sizes: SubsetSizes) -> Dict[str, List[Tuple[str, int, int]]]:
    """Archive member -> [(split, records, first record)]."""
    if sizes.test_from_train:
        return {"data_batch_1.bin": [("train", sizes.cifar_train, 0),
                                     ("test", sizes.cifar_test, sizes.cifar_train)]}
    return {"data_batch_1.bin": [("train", sizes.cifar_train, 0)],
            "test_batch.bin": [("test", sizes.cifar_test, 0)]}


def _write_cifar_part(dst: str, member: str, data: bytes, part, preset: int) -> str:
    split, n, first = part
    records = data[first * CIFAR_RECORD:(first + n) * CIFAR_RECORD]
    if len(records) != n * CIFAR_RECORD:
        raise CheckFailed(f"pack-data: {member} has fewer than {first + n} records")
    with lzma.open(os.path.join(dst, "cifar10", f"{split}.bin.xz"), "wb", preset=preset) as f:
        f.write(records)
    per_class = [sum(1 for i in range(n) if records[i * CIFAR_RECORD] == c) for c in range(10)]
    which = f"first {n} records" if first == 0 else f"records {first}..{first + n - 1}"
    return (f"cifar10 {split}: {which} of {member} (per class {per_class}), "
            f"tiled x{CIFAR_PER_FILE // n} to the reader's 10000-record files")


def pack_cifar(src: str, dst: str, sizes: SubsetSizes) -> List[str]:
    for n in (sizes.cifar_train, sizes.cifar_test):
        if n <= 0 or CIFAR_PER_FILE % n:
            raise CheckFailed(f"pack-data: CIFAR-10 subset sizes must divide {CIFAR_PER_FILE} (got {n})")
    archive = os.path.join(src, "cifar10", "cifar-10-binary.tar.xz")
    want, lines, found = _cifar_parts(sizes), [], set()
    os.makedirs(os.path.join(dst, "cifar10"), exist_ok=True)
    with tarfile.open(archive, "r:xz") as tar:
        for member in tar:  # streaming, in archive order: stop once the members wanted are read
            base = os.path.basename(member.name)
            if base == "batches.meta.txt":
                with open(os.path.join(dst, "cifar10", base), "wb") as f:
                    f.write(tar.extractfile(member).read())
            if base not in want:
                continue
            count = sum(p[1] for p in want[base])
            data = tar.extractfile(member).read(count * CIFAR_RECORD)
            lines += [_write_cifar_part(dst, f"{archive}:{base}", data, p, sizes.xz_preset)
                      for p in want[base]]
            found.add(base)
            if found == set(want):
                break
    if found != set(want):
        raise CheckFailed(f"pack-data: {archive} lacks {sorted(set(want) - found)}")
    return lines


def _idx_prefix(raw: bytes, n: int) -> Tuple[bytes, int]:
    """The first n items of an IDX file as a valid IDX file, and the original count."""
    magic, count = struct.unpack(">II", raw[:8])
    ndims = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndims, raw[4:4 + 4 * ndims])
    item = 1
    for d in dims[1:]:
        item *= d
    header = 4 + 4 * ndims
    k = min(n, count)
    out = struct.pack(">I", magic) + struct.pack(">" + "I" * ndims, k, *dims[1:])
    return out + raw[header:header + k * item], count


def pack_mnist(src: str, dst: str, sizes: SubsetSizes) -> List[str]:
    mnist_src, mnist_dst = os.path.join(src, "mnist"), os.path.join(dst, "mnist")
    os.makedirs(mnist_dst, exist_ok=True)
    lines = []
    for prefix, n in (("train", sizes.mnist_train), ("t10k", sizes.mnist_test)):
        for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"):
            name = f"{prefix}-{kind}.gz"
            with gzip.open(os.path.join(mnist_src, name), "rb") as f:
                out, count = _idx_prefix(f.read(), n)
            with gzip.open(os.path.join(mnist_dst, name), "wb", compresslevel=9) as f:
                f.write(out)
        lines.append(f"mnist {prefix}: first {min(n, count)} of {count} images and labels (IDX, gz)")
    return lines


def pack_data(src: str, dst: str, sizes: SubsetSizes) -> List[str]:
    """Writes the subset into dst (README.txt names what it holds); returns those lines."""
    os.makedirs(dst, exist_ok=True)
    lines = pack_cifar(src, dst, sizes) + pack_mnist(src, dst, sizes)
    if sizes.reuters:
        os.makedirs(os.path.join(dst, "reuters21578"), exist_ok=True)
        shutil.copy(os.path.join(src, "reuters21578", "reuters21578.tar.xz"),
                    os.path.join(dst, "reuters21578", "reuters21578.tar.xz"))
        lines.append("reuters21578: the whole archive (copied)")
    with open(os.path.join(dst, "README.txt"), "w") as f:
        f.write("Data subset for tools/gpu-check.sh --run (made by --prepare):\n")
        f.write("".join(f"  {line}\n" for line in lines))
        f.write(f"cifar10_train_images: {sizes.cifar_train}\ncifar10_test_images: {sizes.cifar_test}\n")
    return lines


def unpack_data(src: str, dst: str) -> None:
    """The inverse of pack_data: CIFAR-10 batch files tiled from the packed records; raises
    CheckFailed naming the file that is not a packed subset."""
    cifar = os.path.join(dst, "cifar10", "cifar-10-batches-bin")
    os.makedirs(cifar, exist_ok=True)
    for split, names in (("train", [f"data_batch_{i}.bin" for i in range(1, 6)]),
                         ("test", ["test_batch.bin"])):
        path = os.path.join(src, "cifar10", f"{split}.bin.xz")
        with lzma.open(path) as f:
            records = f.read()
        n = len(records) // CIFAR_RECORD
        if not records or len(records) % CIFAR_RECORD or CIFAR_PER_FILE % n:
            raise CheckFailed(f"unpack-data: {path} holds {len(records)} bytes: not a divisor of "
                              f"{CIFAR_PER_FILE} records of {CIFAR_RECORD} bytes")
        for name in names:
            with open(os.path.join(cifar, name), "wb") as f:
                f.write(records * (CIFAR_PER_FILE // n))
    meta = os.path.join(src, "cifar10", "batches.meta.txt")
    if os.path.exists(meta):
        shutil.copy(meta, os.path.join(cifar, "batches.meta.txt"))
    for d in ("mnist", "reuters21578"):
        if os.path.isdir(os.path.join(src, d)):
            shutil.copytree(os.path.join(src, d), os.path.join(dst, d), dirs_exist_ok=True)
