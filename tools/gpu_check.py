#!/usr/bin/env python3
"""The GPU check, split so that the lent GPU machine runs it in ONE call and builds nothing.

  tools/gpu-check.sh --prepare [--bundle DIR]       here (no GPU needed; DIR default gpu-bundle)
  tools/gpu-check.sh --run BUNDLE [--out DIR] [--budget S] [--steps LIST]
                                                    there (DIR default $OUT, else gpu-check-out)
  tools/gpu-check.sh --dry-run [--out DIR] [--quick] [--emu-bin BIN_DIR] [--budget S] [--steps LIST]
                                                    here, the emulator standing in for the GPU
  tools/gpu-check.sh --find-libs ROOT...            the CUDA library folders under the ROOTs

(tools/gpu-check.sh runs this file, tools/gpu_check.py; standard library only, Python 3.9+.)

--prepare builds the GQ_CUDA=ON binaries for sm_90 (H100/H200) with GQ_PORTABLE=ON (static C++
  runtime, cudart and archive libraries; lib/ gets libbenchmark, lib/fallback/ this machine's
  libstdc++/libgcc_s for a device machine whose own are too old; cuBLAS/cuDNN stay the device
  machine's) and packs them as payload.tar.xz; computes the parity reference with the emulator
  build (GQ_EMU_GPU_DECISIONS=ON); packs a data subset (CIFAR-10 5000 + 1000 images, MNIST
  5000 + 1000, Reuters-21578); lists the tests (tests.tsv); writes manifest.txt. It checks here:
  ldd resolves every library; the GPU binaries stop with "no CUDA device"; tree + bundle stay
  under 60 MiB. DIR is one git-ignored folder at the repo root (the device call carries it).
--run needs the bundle, this tree, the NVIDIA driver and the CUDA libraries (a toolkit's lib64 or
  NVIDIA's Python wheels, site-packages/nvidia/*/lib, found at run time). Steps, most informative
  first, each under its own timeout drawn from the budget (S, default 360 s, or GQ_CHECK_BUDGET_S):
  smoke (libraries, nvidia-smi, gq-gpu-smoke: driver, runtime, cuBLAS, cuDNN versions, one GEMM,
  one convolution forward and backward, a graph with the fused k-means); data; the GPU test
  binaries (several at a time only in compute mode Default; a failing one's failing cases rerun
  with CUDA_LAUNCH_BLOCKING=1 GQ_SYNC_EVERY_LAUNCH=1); parity against the emulator; a short
  gq-train, plain and Grad Queue; the airbench94 recipe once (its time to the last epoch next to
  the published 3.83 s); gq-bench; the kernel benchmarks; Nsight Compute (with
  --clock-control none) on the top kernels of a Grad Queue step; the host suites last. It writes
  8 files into DIR, summary.md rewritten after every step: summary.md (read first),
  manifest.txt, tests.log, parity.txt, bench.txt, bench.json, train.log, ncu.txt. Exit 0 when
  nothing FAILED (a step cut short by the budget, a skip or ncu failing is reported, not a
  failure), 1 otherwise, 2 on bad arguments. --steps tests,parity,...: those steps only (smoke
  and data always run first); the steps: smoke, data, tests, parity, train, airbench94, step-benchmark,
  kernel-benchmarks, ncu, host-suites.
--dry-run builds the reference emulator (build-bundle-emu; --emu-bin uses an existing emulator
  build's bin/), makes an emulator bundle and runs --run on it: the emulator stands in for the GPU
  (smaller sizes, no ncu), the same 8 files. --quick: tiny sizes (tests/tools/test_gpu_check.sh).
--find-libs prints the CUDA library folders found under the ROOTs (toolkit lib64, wheels' lib/),
  one a line, or exits 1 with a message when there are none (no ROOT: the run step's own roots).
The device call (docs/PROFILING.md, "The GPU check"): the run tool with carry ["gpu-bundle"],
timeout_s 420, command `tools/gpu-check.sh --run gpu-bundle --out $OUT`.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpucheck.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], __doc__))
