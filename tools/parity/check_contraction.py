#!/usr/bin/env python3
"""Checks that the kernels of gq-parity's exact (zero-tolerance) cases compile to the same machine
code whether or not the compilers may contract a*b+c into a fused multiply-add.

nvcc contracts by default (--fmad=true) and g++ does for C++ (-ffp-contract=fast), but the two
need not pick the same expressions (`a*b + c*d`: which product is fused?). A kernel whose code is
identical with contraction on and off has no implicit FMA on that compiler: every FMA in it is an
explicit fmaf, which both devices round the same way. So each file holding an exact case's kernels
is compiled four times (nvcc -cubin --fmad=true/false for sm_90; g++ -ffp-contract=fast/off with
-ffunction-sections, in the emulator's own shapes and in the GPU's) and each function's code is
compared byte for byte. Other functions of those files are listed where they differ, for the
record; --also FILE... lists the functions of more files that differ (docs/KERNELS.md, "Parity
and fused multiply-add").

Usage: tools/parity/check_contraction.py [--nvcc PATH] [--no-nvcc] [--only TEXT] [--also FILE...]
Exit status 1 if an exact case's kernel differs; a compiler error stops it with the command.
"""
import argparse
import concurrent.futures
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Per file, its exact cases and a pattern matching their kernels' mangled names (lambdas and
# templates instantiated inside a kernel carry its name too). Keep in step with tools/parity.
EXACT = {
    "kernels/elementwise.cu": [("elementwise", r"Axpy|AddScaled|Multiply")],
    "kernels/transpose.cu": [("transpose", r"transpose_kernel")],
    "kernels/kmeans.cu": [
        ("kmeans x3", r"seed_kernel|assign_kernel|sort_kernel|update_kernel|finalize_kernel|"
                      r"fused_kernel")],
    "kernels/activation.cu": [("relu", r"4Relu"), ("gelu", r"4Gelu")],
    "kernels/pool.cu": [("max/avg pool x2", r"maxpool_|[0-9]avgpool_"),
                        ("global avg pool", r"global_avgpool")],
    "kernels/bias.cu": [("bias add", r"bias_add_kernel")],
    "kernels/dropout.cu": [("dropout", r"dropout_kernel")],
    "kernels/augment.cu": [("augment", r"gather_augment_kernel")],
    "kernels/optim.cu": [("sgd", r"sgd_kernel")],
}

DEFS = ["-DGQ_WITH_MPI=0", "-DNDEBUG", "-I" + ROOT]
GXX = ["-x", "c++", "-std=c++20", "-O3", "-march=x86-64-v3", "-fno-trapping-math",
       "-ffunction-sections", "-c", "-DGQ_WITH_CUDA=0"]
NVCC = ["-std=c++20", "-O3", "-arch=sm_90", "-cubin", "--extended-lambda",
        "--expt-relaxed-constexpr", "-DGQ_WITH_CUDA=1", "-DGQ_EMU_GPU_DECISIONS=0"]


def code_sections(path):
    """{function name: code bytes} of an ELF64 object with one .text.NAME section per function."""
    data = open(path, "rb").read()
    shoff, = struct.unpack_from("<Q", data, 0x28)
    entsize, count, names_index = struct.unpack_from("<HHH", data, 0x3A)
    headers = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * entsize) for i in range(count)]
    names_at = headers[names_index][4]
    out = {}
    for name_off, _type, _flags, _addr, offset, size, *_ in headers:
        name = data[names_at + name_off:data.index(b"\0", names_at + name_off)].decode()
        if name.startswith(".text.") and size:
            # nvcc names the anonymous namespace after a hash of the command line (and, in a
            # file with explicit instantiations, a numbered suffix): drop it.
            name = re.sub(r"_GLOBAL__N__[0-9a-f]{8}_\d+_\w+?_cu_[0-9a-f]{8}(_\d+)?", "(anon)",
                          name[6:])
            out[name] = data[offset:offset + size]
    return out


def builds(nvcc):
    """(label, compiler, flags, contraction on, contraction off) of each build to compare."""
    out = [(f"g++ gpu-decisions={d}", "g++", GXX + DEFS + [f"-DGQ_EMU_GPU_DECISIONS={d}"],
            "-ffp-contract=fast", "-ffp-contract=off") for d in ("0", "1")]
    if nvcc:
        out.append(("nvcc sm_90", nvcc, NVCC + DEFS, "--fmad=true", "--fmad=false"))
    return out


def compile_both(source, build, tmp):
    """`source` built with contraction on and off: the two objects' code sections."""
    label, tool, flags, on, off = build
    objects = []
    for flag in (on, off):
        obj = os.path.join(tmp, re.sub(r"\W", "_", f"{source}{label}{flag}") + ".o")
        cmd = [tool, *flags, flag, os.path.join(ROOT, source), "-o", obj]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(f"check_contraction: {' '.join(cmd)} failed:\n{result.stderr}")
        objects.append(code_sections(obj))
    return objects


def report(source, cases, label, objects):
    """Prints each case's verdict and the functions worth naming; True if an exact one differs."""
    on, off = objects
    differs = {name for name in set(on) | set(off) if on.get(name) != off.get(name)}
    failed = False
    for case, pattern in cases:
        kernels = sorted(n for n in set(on) | set(off) if re.search(pattern, n))
        bad = [n for n in kernels if n in differs]
        failed |= bool(bad) or not kernels
        verdict = "CONTRACTED" if bad else "no kernel found" if not kernels else "no implicit FMA"
        print(f"{case} ({source}, {len(kernels)} functions): {verdict} [{label}]")
        for name in bad:
            print(f"  DIFF exact  {name}")
    exact = "|".join(pattern for _, pattern in cases) or r"(?!)"
    for name in sorted(n for n in differs if not re.search(exact, n)):
        print(f"  DIFF        {label:<18} {source}: {name}")
    return failed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nvcc", default=shutil.which("nvcc") or "/usr/local/cuda/bin/nvcc")
    parser.add_argument("--no-nvcc", action="store_true", help="check g++ only")
    parser.add_argument("--only", help="check only the kernel files whose path has this")
    parser.add_argument("--also", nargs="*", default=[], help="more files to list differences of")
    parser.add_argument("-j", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    nvcc = None if args.no_nvcc or not os.access(args.nvcc, os.X_OK) else args.nvcc
    if nvcc is None:
        print("check_contraction: nvcc not checked" + ("" if args.no_nvcc else " (not found)"))
    files = {f: c for f, c in EXACT.items() if not args.only or args.only in f}
    files.update({f: [] for f in args.also})
    jobs = [(source, build) for source in files for build in builds(nvcc)]
    with tempfile.TemporaryDirectory() as tmp, \
            concurrent.futures.ThreadPoolExecutor(max_workers=args.j) as pool:
        results = list(pool.map(lambda job: compile_both(*job, tmp), jobs))
    failed = False
    for (source, build), objects in zip(jobs, results):
        failed |= report(source, files[source], build[0], objects)
    print("check_contraction: " + ("FAILED: an exact case's kernel changes with contraction"
                                   if failed else "every exact case's kernels are contraction-free"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
