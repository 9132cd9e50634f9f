"""The first n test images of MNIST or CIFAR-10 as uint8 [n, C, H, W], read from the official
files under the data root (not through gradqueue's readers): what tests/tools/test_export.sh and
test_predict.sh feed the other runtimes. Cached as .npy at `cache` when given (the CIFAR-10 archive
takes seconds to decompress)."""
import gzip
import os
import tarfile

import numpy as np


def first_test_images(dataset, data, n, cache=None):
    if cache and os.path.exists(cache):
        return np.load(cache)
    if dataset == "mnist":
        raw = gzip.open(os.path.join(data, "mnist/t10k-images-idx3-ubyte.gz")).read()
        assert raw[:4] == b"\x00\x00\x08\x03", "not an IDX image file"
        images = np.frombuffer(raw, np.uint8, n * 784, 16).reshape(n, 1, 28, 28)
    else:
        with tarfile.open(os.path.join(data, "cifar10/cifar-10-binary.tar.xz")) as t:
            member = next(m for m in t if m.name.endswith("/test_batch.bin"))
            raw = t.extractfile(member).read(n * 3073)  # label byte, then R, G and B planes
        images = np.frombuffer(raw, np.uint8).reshape(n, 3073)[:, 1:].reshape(n, 3, 32, 32)
    if cache:
        np.save(cache, images)
    return images
