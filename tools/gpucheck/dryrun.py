"""--dry-run (here, no GPU): an emulator bundle made from an emulator build (built here, or the one
--emu-bin names), then the run step on it: the emulator stands in for the GPU (smaller sizes, no
ncu), the same 8 files. --quick: tiny sizes and a few tests (tests/tools/test_gpu_check.sh)."""
import os
import shutil
import subprocess
import tempfile

from . import bundle as bundle_mod
from . import data
from .common import REPO, CheckFailed, UsageError, heading, jobs, must, say
from .runstep import run_step

QUICK_SIZES = data.SubsetSizes(cifar_train=500, cifar_test=100, mnist_train=1000, mnist_test=200,
                               reuters=False, xz_preset=1, test_from_train=True)


def emulator_bin(emu_bin: str) -> str:
    """The emulator build's bin/: --emu-bin's, or build-bundle-emu's built now."""
    if emu_bin:
        if not os.access(os.path.join(emu_bin, "gq-parity"), os.X_OK):
            raise UsageError(f"--emu-bin {emu_bin} has no gq-parity (expected an emulator build's bin/)")
        return os.path.abspath(emu_bin)
    build = os.path.join(REPO, bundle_mod.EMU_BUILD)
    heading(f"emulator build ({bundle_mod.EMU_BUILD}: {' '.join(bundle_mod.emu_ref_flags())})")
    must(["cmake", "-S", ".", "-B", build, "-G", "Ninja", *bundle_mod.emu_ref_flags(),
          "-DCMAKE_BUILD_TYPE=Release"], "configure of " + build, cwd=REPO)
    if subprocess.run(["cmake", "--build", build, "-j", str(jobs())], cwd=REPO).returncode:
        raise CheckFailed("the emulator build failed")
    return os.path.join(build, "bin")


def pack_payload(dry: str, emu_bin: str) -> None:
    """The emulator binaries packed as --prepare packs the GPU ones."""
    heading("payload (the emulator binaries, packed as --prepare packs the GPU ones)")
    with open(os.path.join(dry, "payload.tar.xz"), "wb") as f:
        tar = subprocess.Popen(["tar", "-C", os.path.dirname(emu_bin), "-cf", "-", os.path.basename(emu_bin),
                                "--transform", "s,^[^/]*,bin,"], stdout=subprocess.PIPE)
        xz_rc = subprocess.run(["xz", "-1", "-T2"], stdin=tar.stdout, stdout=f).returncode
    if tar.wait() or xz_rc:
        raise CheckFailed("packing the emulator binaries failed")
    say(f"payload.tar.xz: {os.path.getsize(os.path.join(dry, 'payload.tar.xz'))} bytes")


def dry_run(emu_bin: str, out: str, quick: bool, budget_s: float, only=()) -> int:
    emu_bin = emulator_bin(emu_bin)
    build = os.path.dirname(emu_bin)
    try:
        with open(os.path.join(build, "CMakeCache.txt")) as f:
            emulator = "GQ_BUILT_FOR_GPU:INTERNAL=OFF" in f.read()
    except OSError:
        emulator = False
    if not emulator:
        raise UsageError(f"{build} is not an emulator build (GQ_CUDA=OFF)")
    dry = tempfile.mkdtemp(prefix="gq-dry-bundle.")
    try:
        if quick:
            os.symlink(emu_bin, os.path.join(dry, "bin"))  # the run step uses bin/ as it is
            bundle_mod.bundle_common(dry, "emulator", build, os.path.join(emu_bin, "gq-parity"),
                                     QUICK_SIZES, parity_xz=0)
        else:
            pack_payload(dry, emu_bin)
            bundle_mod.bundle_common(dry, "emulator", build, os.path.join(emu_bin, "gq-parity"),
                                     data.SubsetSizes())
        say(f"emulator bundle in {dry}")
        return run_step(dry, out, quick, budget_s, only)
    finally:
        shutil.rmtree(dry, ignore_errors=True)
