"""--prepare (here, no GPU needed): builds the GQ_CUDA=ON binaries for sm_90 with GQ_PORTABLE=ON
(cmake/GqPortable.cmake), strips and packs them with the shared libraries they need that are
neither glibc nor NVIDIA's (lib/; the C++ runtime in lib/fallback/ for a device machine whose own
is too old), adds the emulator parity reference, the data subset, tests.tsv and manifest.txt, and
checks: ldd resolves everything, the binaries stop with "no CUDA device" here, tree + bundle stay
under 60 MiB of the 64 MiB the device machine receives."""
import glob
import os
import shutil
import subprocess
import tempfile
import time
from typing import List

from . import bundle as bundle_mod
from . import data, elf
from .common import REPO, CheckFailed, UsageError, heading, jobs, mib, must, run, say

GPU_BUILD = "build-bundle-cuda"
CUDA_ARCH = 90   # the H100 and H200 (sm_90)
LIMIT_MIB = 60   # tree + bundle, of the 64 MiB the device machine receives
NO_DEVICE_PROBES = {  # binary -> arguments: each must stop with "no CUDA device" without a GPU
    "gq-gpu-smoke": [],
    "gq-parity": ["--write", "/dev/null"],
    "gq-bench-kernels": [],
    "gq-train": ["--dataset", "mnist", "--model", "mnist-cnn", "--data-dir", "@DATA@",
                 "--train-subset", "64", "--test-subset", "64", "--batch-size", "32", "--max-steps", "1"],
}


def check_bundle_name(name: str) -> str:
    name = name.rstrip("/")
    if not name or name.startswith(".") or "/" in name:
        raise UsageError(f"--bundle must be a folder name at the repo root (got '{name}')")
    ignored = subprocess.run(["git", "check-ignore", "-q", f"{name}/manifest.txt"], cwd=REPO).returncode
    if ignored != 0:
        raise UsageError(f"'{name}' is not git-ignored: the device machine receives it only as a "
                         "carried ignored path (add it to .gitignore)")
    return name


def find_nvcc() -> str:
    nvcc = os.environ.get("CUDACXX") or shutil.which("nvcc") or "/usr/local/cuda/bin/nvcc"
    if not os.access(nvcc, os.X_OK):
        raise CheckFailed("nvcc not found (PATH, CUDACXX, /usr/local/cuda/bin)")
    return nvcc


def nvcc_release(nvcc: str) -> str:
    out = subprocess.run([nvcc, "--version"], capture_output=True, text=True).stdout
    return out.strip().splitlines()[-2] if out.strip() else "?"


def build_all(nvcc: str) -> None:
    heading(f"GPU build ({GPU_BUILD}: GQ_CUDA=ON GQ_PORTABLE=ON sm_{CUDA_ARCH}, {nvcc_release(nvcc)})")
    must(["cmake", "-S", ".", "-B", GPU_BUILD, "-G", "Ninja", "-DGQ_CUDA=ON", "-DGQ_PORTABLE=ON",
          f"-DCMAKE_CUDA_ARCHITECTURES={CUDA_ARCH}", f"-DCMAKE_CUDA_COMPILER={nvcc}",
          "-DCMAKE_BUILD_TYPE=Release"], "configure of " + GPU_BUILD, cwd=REPO)
    if subprocess.run(["cmake", "--build", GPU_BUILD, "-j", str(jobs())], cwd=REPO).returncode:
        raise CheckFailed("the GPU build failed")
    emu = bundle_mod.EMU_BUILD
    heading(f"reference emulator build ({emu}: {' '.join(bundle_mod.emu_ref_flags())})")
    must(["cmake", "-S", ".", "-B", emu, "-G", "Ninja", *bundle_mod.emu_ref_flags(),
          "-DCMAKE_BUILD_TYPE=Release"], "configure of " + emu, cwd=REPO)
    if subprocess.run(["cmake", "--build", emu, "-j", str(jobs()), "--target", "gq-parity"],
                      cwd=REPO).returncode:
        raise CheckFailed("the emulator gq-parity build failed")


def stage_binaries(stage: str, cuda_lib: str) -> None:
    """bin/: the GPU build's binaries, stripped. lib/: every shared library they need that is
    neither glibc nor NVIDIA's (libbenchmark); lib/fallback/: this machine's C++ runtime, used
    only where the device machine's own is missing or too old."""
    os.makedirs(os.path.join(stage, "lib", "fallback"))
    os.makedirs(os.path.join(stage, "bin"))
    for f in sorted(glob.glob(os.path.join(REPO, GPU_BUILD, "bin", "*"))):
        if os.path.isfile(f) and os.access(f, os.X_OK):
            dst = os.path.join(stage, "bin", os.path.basename(f))
            shutil.copy2(f, dst)
            must(["strip", "--strip-unneeded", dst], "strip " + dst)
    for f in glob.glob(os.path.join(stage, "bin", "*")):
        for so, path in elf.ldd(f, cuda_lib):
            if path == "not found" or elf.GLIBC_LIBS.search(so) or elf.NVIDIA_LIBS.search(so):
                continue
            sub = "lib/fallback" if elf.CXX_RUNTIME_LIBS.search(so) else "lib"
            shutil.copy(os.path.realpath(path), os.path.join(stage, sub, so))
    say(f"bin/: {len(os.listdir(os.path.join(stage, 'bin')))} binaries; lib/: {' '.join(lib_files(stage))}")


def lib_files(stage: str) -> List[str]:
    root = os.path.join(stage, "lib")
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


def elf_manifest(stage: str, nvcc: str) -> List[str]:
    bins = sorted(glob.glob(os.path.join(stage, "bin", "*")))
    libs = sorted(glob.glob(os.path.join(stage, "lib", "*.so*")))
    fallback = sorted(glob.glob(os.path.join(stage, "lib", "fallback", "*")))
    lines = [f"built: GQ_CUDA=ON GQ_PORTABLE=ON CMAKE_CUDA_ARCHITECTURES={CUDA_ARCH}, {nvcc_release(nvcc)}",
             "runtime: cudart static; needs libcublas.so.13, libcublasLt.so.13, libcudnn.so.9 "
             "(+ its engine libraries) on LD_LIBRARY_PATH",
             f"glibc needs (max over bin/ and lib/, objdump -T): {elf.needs_text(bins + libs)}",
             f"glibc needs of lib/fallback/ (used only when the device machine's own are missing "
             f"or too old): {elf.needs_text(fallback)}",
             "glibc needs per file:"]
    lines += [f"  {os.path.relpath(f, stage)}: {elf.needs_text([f])}" for f in bins + libs + fallback]
    lines.append("NEEDED (dynamic) per binary:")
    for f in bins:
        needed, runpath = elf.dynamic_section(f)
        lines.append(f"  {os.path.basename(f)}: {' '.join(needed)} [RUNPATH {runpath}]")
    lines.append(f"lib/ (copied: neither glibc nor NVIDIA): {' '.join(lib_files(stage))}")
    return lines


def check_ldd(stage: str, cuda_lib: str) -> None:
    """Every library must resolve to the toolkit's lib64, the bundle's lib/ or glibc."""
    lib = os.path.join(stage, "lib")
    ld_path = f"{cuda_lib}:{lib}:{lib}/fallback"
    bad = []
    for f in sorted(glob.glob(os.path.join(stage, "bin", "*"))):
        for so, path in elf.ldd(f, ld_path):
            inside = path.startswith((lib + "/", cuda_lib + "/")) or elf.GLIBC_LIBS.search(so)
            if path == "not found" or not inside:
                bad.append(f"{os.path.basename(f)}: {so} => {path} (outside the toolkit, the bundle and glibc)")
    if bad:
        raise CheckFailed("ldd found libraries outside the toolkit, the bundle and glibc:\n" + "\n".join(bad))
    say(f"ldd: every binary resolves every library in {cuda_lib}, the bundle's lib/ (+ lib/fallback/) or glibc")


def check_no_device(stage: str, cuda_lib: str) -> None:
    """Without a GPU here, the binaries must stop with a clear "no CUDA device" error."""
    if run(["nvidia-smi", "-L"], 30).rc == 0:
        say("a GPU is visible here: the 'no CUDA device' check is skipped")
        return
    env = dict(os.environ, LD_LIBRARY_PATH=f"{cuda_lib}:{stage}/lib")
    for name, args in NO_DEVICE_PROBES.items():
        args = [a.replace("@DATA@", bundle_mod.data_source()) for a in args]
        res = run([os.path.join(stage, "bin", name), *args], 120, env=env, cwd="/tmp")
        line = next((x for x in res.output.splitlines() if "no CUDA device" in x), "")
        say(f"no GPU here: bin/{name} -> exit {res.rc}: {line[:200]}")
        if res.rc == 0 or not line:
            raise CheckFailed(f"{name} without a GPU: expected a 'no CUDA device' error and a "
                              f"non-zero exit; got exit {res.rc}:\n{res.output[-1500:]}")


def tree_bytes() -> int:
    """Bytes of what the device machine receives besides the bundle: tracked + untracked files
    that git does not ignore."""
    out = subprocess.run("git ls-files -z; git ls-files -z --others --exclude-standard", shell=True,
                         cwd=REPO, capture_output=True).stdout
    total = 0
    for rel in filter(None, out.decode(errors="replace").split("\0")):
        path = os.path.join(REPO, rel)
        if os.path.islink(path) or os.path.isfile(path):
            total += os.lstat(path).st_size
        elif os.path.isdir(path):
            total += sum(os.lstat(os.path.join(d, f)).st_size for d, _, fs in os.walk(path) for f in fs)
    return total


def folder_bytes(folder: str) -> int:
    return sum(os.lstat(os.path.join(d, f)).st_size for d, _, fs in os.walk(folder) for f in fs)


def pack_and_size(bundle: str, stage: str) -> List[str]:
    heading("pack")
    payload = os.path.join(bundle, "payload.tar.xz")
    tar = subprocess.Popen(["tar", "-C", stage, "-cf", "-", "bin", "lib"], stdout=subprocess.PIPE)
    with open(payload, "wb") as f:
        xz_rc = subprocess.run(["xz", "-9", "-T2"], stdin=tar.stdout, stdout=f).returncode
    if tar.wait() or xz_rc:
        raise CheckFailed("packing payload.tar.xz failed")
    tree, bund = tree_bytes(), folder_bytes(bundle)
    lines = [f"sizes: tree (tracked + untracked-not-ignored) {mib(tree)}, bundle {mib(bund)}, "
             f"total {mib(tree + bund)} (limit {LIMIT_MIB} MiB of the 64 MiB the device machine receives)",
             "bundle contents (bytes):"]
    for d, _, fs in sorted(os.walk(bundle)):
        lines += [f"  {os.lstat(os.path.join(d, f)).st_size:10d}  ./{os.path.relpath(os.path.join(d, f), bundle)}"
                  for f in sorted(fs)]
    say("\n".join(lines))
    if tree + bund > LIMIT_MIB * 1048576:
        raise CheckFailed(f"tree + bundle = {mib(tree + bund)}: over the {LIMIT_MIB} MiB limit")
    return lines


def prepare(bundle_name: str) -> int:
    name = check_bundle_name(bundle_name)
    bundle = os.path.join(REPO, name)
    nvcc = find_nvcc()
    start = time.monotonic()
    build_all(nvcc)
    heading(f"bundle {name}/")
    shutil.rmtree(bundle, ignore_errors=True)
    os.makedirs(bundle)
    cuda_lib = os.path.dirname(os.path.realpath(os.path.join(os.path.dirname(nvcc), "..", "lib64", "libcudart.so")))
    with tempfile.TemporaryDirectory(prefix="gq-stage.") as stage:
        stage_binaries(stage, cuda_lib)
        bundle_mod.bundle_common(bundle, "gpu", os.path.join(REPO, GPU_BUILD),
                                 os.path.join(REPO, bundle_mod.EMU_BUILD, "bin", "gq-parity"),
                                 data.SubsetSizes())
        extra = elf_manifest(stage, nvcc)
        heading("checks")
        check_ldd(stage, cuda_lib)
        check_no_device(stage, cuda_lib)
        extra += pack_and_size(bundle, stage)
    with open(os.path.join(bundle, "manifest.txt"), "a") as f:
        f.write("\n".join(extra) + "\n")
    say(f"\nprepared {name}/ in {time.monotonic() - start:.0f} s. On the GPU machine (the run tool: "
        f"carry [\"{name}\"], timeout_s 420):\n  tools/gpu-check.sh --run {name} --out $OUT")
    return 0
