"""What --prepare and the dry run put in every bundle besides the binaries: the emulator's parity
reference, the data subset, the tests list (tests.tsv) and manifest.txt."""
import json
import os
import platform
import socket
import subprocess
import time
from typing import List

from . import data
from .common import REPO, CheckFailed, heading, must, run, say

# The emulator build that computes the parity reference (and stands in for the GPU in a dry run).
# With GQ_EMU_GPU_DECISIONS=ON it takes the GPU's launch shapes and branches, so parity compares
# the same code paths on both devices.
EMU_BUILD = "build-bundle-emu"


def emu_ref_flags() -> List[str]:
    if os.environ.get("GQ_EMU_REF_FLAGS"):
        return os.environ["GQ_EMU_REF_FLAGS"].split()
    with open(os.path.join(REPO, "CMakeLists.txt")) as f:
        gpu_decisions = "GQ_EMU_GPU_DECISIONS" in f.read()
    return ["-DGQ_CUDA=OFF"] + (["-DGQ_EMU_GPU_DECISIONS=ON"] if gpu_decisions else [])


def data_source() -> str:
    return os.environ.get("GQ_DATA_DIR") or os.path.join(REPO, "..", "shared", "data")


def tests_list(ctest_json: dict, bin_dir: str, src_dir: str) -> List[str]:
    """`ctest --show-only=json-v1` -> one tab-separated line per test: name, labels, environment
    (without GQ_DATA_DIR, which the run step sets), command; bin_dir and src_dir become @BIN@ and
    @SRC@ so the run step can put its own paths there."""
    bin_dir, src_dir = os.path.abspath(bin_dir), os.path.abspath(src_dir)

    def rel(s: str) -> str:
        return s.replace(bin_dir, "@BIN@").replace(src_dir, "@SRC@")

    lines = []
    for t in ctest_json.get("tests", []):
        props = {p["name"]: p["value"] for p in t.get("properties", [])}
        labels = ",".join(props.get("LABELS", [])) or "-"
        env = [e for e in props.get("ENVIRONMENT", []) if not e.startswith("GQ_DATA_DIR=")]
        cmd = [rel(c) for c in t.get("command", [])]
        if not cmd:  # ctest names no command while the executable is not built yet
            base = t["name"]
            for suffix in (".forward", ".reverse"):
                base = base[: -len(suffix)] if base.endswith(suffix) else base
            cmd = ["@BIN@/" + base]
        lines.append("\t".join([t["name"], labels, ";".join(env) or "-", " ".join(cmd)]))
    return lines


def write_parity_reference(bundle: str, ref_bin: str, xz_preset: int) -> str:
    """Runs the reference gq-parity --write into the bundle; returns the device it named."""
    heading(f"parity reference ({ref_bin})")
    start = time.monotonic()
    out = os.path.join(bundle, "parity-ref.bin")
    res = run([ref_bin, "--write", out], 3600)
    if res.rc != 0:
        raise CheckFailed("the reference gq-parity --write failed:\n" + res.output[-3000:])
    if xz_preset > 0:
        must(["xz", f"-{xz_preset}", "-T2", out], "compressing the parity reference")
    device = next((line[8:] for line in res.output.splitlines() if line.startswith("device: ")), "?")
    cases = sum(line.startswith("ran ") for line in res.output.splitlines())
    say(f"{cases} cases in {time.monotonic() - start:.0f} s on: {device}")
    return device


def write_tests_list(bundle: str, build: str) -> None:
    heading("tests list")
    text = must(["ctest", "--test-dir", build, "--show-only=json-v1"], f"ctest --show-only in {build}")
    lines = tests_list(json.loads(text), os.path.join(build, "bin"), REPO)
    with open(os.path.join(bundle, "tests.tsv"), "w") as f:
        f.write("".join(line + "\n" for line in lines))
    say(f"{len(lines)} tests")


def git_text() -> str:
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                          text=True).stdout.strip()
    dirty = subprocess.run(["git", "diff", "--quiet", "HEAD"], cwd=REPO).returncode != 0
    return head + (" + uncommitted changes" if dirty else "")


def os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.platform()


def bundle_common(bundle: str, kind: str, build: str, ref_bin: str,
                  sizes: data.SubsetSizes, parity_xz: int = 6) -> None:
    """Parity reference, data subset, tests list and the manifest's first lines."""
    src = data_source()
    if not (os.path.isfile(os.path.join(src, "cifar10", "cifar-10-binary.tar.xz"))
            and os.path.isdir(os.path.join(src, "mnist"))):
        raise CheckFailed(f"no datasets at {src} (set GQ_DATA_DIR): need "
                          "cifar10/cifar-10-binary.tar.xz and mnist/")
    ref_device = write_parity_reference(bundle, ref_bin, parity_xz)
    heading("data subset")
    say("\n".join(data.pack_data(src, os.path.join(bundle, "data"), sizes)))
    write_tests_list(bundle, build)
    lines = [f"device: {kind}",
             f"created: {time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())} on {socket.gethostname()} ({os_name()})",
             f"git: {git_text()}",
             f"emulator_reference: {' '.join(emu_ref_flags())} ({ref_device})",
             f"data_cifar_train: {sizes.cifar_train}",
             f"data_cifar_test: {sizes.cifar_test}"]
    with open(os.path.join(bundle, "manifest.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
