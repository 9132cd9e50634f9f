"""The first steps of the run: the binaries unpacked, the CUDA libraries found and put on
LD_LIBRARY_PATH, nvidia-smi, then gq-gpu-smoke (versions of the driver, CUDA runtime, cuBLAS and
cuDNN, then one GEMM, one convolution forward and backward, and a captured graph with a cuDNN call
and the cooperative k-means launch, each against a host reference); and the data subset."""
import glob
import os
import platform
import shutil
import subprocess
from typing import List, Tuple

from . import data, libs
from .common import CheckFailed, run
from .context import RunContext

SMOKE = "gq-gpu-smoke"


def unpack_payload(ctx: RunContext) -> str:
    """bin/ and lib/ from payload.tar.xz (a --quick dry run's bundle has a plain bin/ instead).
    Returns "" or what went wrong."""
    ctx.bin, ctx.lib = os.path.join(ctx.bundle, "bin"), os.path.join(ctx.bundle, "lib")
    payload = os.path.join(ctx.bundle, "payload.tar.xz")
    if not os.path.isfile(payload):
        return "" if os.path.isdir(ctx.bin) else f"{ctx.bundle} has neither payload.tar.xz nor bin/"
    dest = os.path.join(ctx.work, "payload")
    os.makedirs(dest)
    cmd = f"xz -dc -T0 '{payload}' | tar -x -C '{dest}'" if shutil.which("xz") else None
    if cmd:
        res = run(["bash", "-o", "pipefail", "-c", cmd], ctx.budget.cap(60))
        problem = "" if res.rc == 0 else f"unpacking {payload} failed (exit {res.rc}): {res.output[-300:]}"
    else:  # no xz on this machine: Python's lzma (slower, same result)
        import tarfile
        with tarfile.open(payload, "r:xz") as tar:
            tar.extractall(dest)
        problem = ""
    ctx.bin, ctx.lib = os.path.join(dest, "bin"), os.path.join(dest, "lib")
    return problem


def binaries(ctx: RunContext) -> List[str]:
    return sorted(f for f in glob.glob(os.path.join(ctx.bin, "*")) if os.path.isfile(f) and os.access(f, os.X_OK))


def find_libraries(ctx: RunContext) -> Tuple[List[str], List[str]]:
    """Sets LD_LIBRARY_PATH for every later command: the CUDA library folders found (GPU), the
    payload's lib/, and lib/fallback/ only when without it ldd reports something missing or too
    old. Returns (the folders searched and found, as manifest lines; ldd's complaints left)."""
    notes, dirs = [], []
    if ctx.gpu:
        roots = libs.default_roots()
        dirs = libs.find_lib_dirs(roots)
        notes += [f"library roots searched: {' '.join(roots) or 'none'}",
                  f"CUDA library folders found: {' '.join(dirs) or 'NONE'}"]
    path = dirs + [ctx.lib]
    if os.path.isdir(os.path.join(ctx.lib, "fallback")) and libs.ldd_not_found(binaries(ctx), ":".join(path)):
        path.append(os.path.join(ctx.lib, "fallback"))
        notes.append("lib/fallback/ used: without it ldd reports missing libraries or versions")
    old = os.environ.get("LD_LIBRARY_PATH", "")
    ctx.env["LD_LIBRARY_PATH"] = ":".join(path + ([old] if old else []))
    notes.append(f"LD_LIBRARY_PATH={ctx.env['LD_LIBRARY_PATH']}")
    return notes, libs.ldd_not_found(binaries(ctx), ctx.env["LD_LIBRARY_PATH"])


def nvidia_smi(ctx: RunContext) -> Tuple[str, str]:
    """(one line naming the GPU, the compute mode) from nvidia-smi; the full output to the
    manifest."""
    if not ctx.gpu:
        return "none (emulator)", "Default"
    if not shutil.which("nvidia-smi"):
        return "nvidia-smi not found", ""
    query = run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version,clocks.max.sm,"
                 "clocks.max.mem,compute_mode", "--format=csv,noheader"], ctx.budget.cap(30))
    full = run(["nvidia-smi"], ctx.budget.cap(30))
    ctx.report.append("manifest.txt", f"\n## nvidia-smi\n{full.output}")
    first = query.output.strip().splitlines()[:1]
    mode = first[0].split(",")[-1].strip() if query.rc == 0 and first else ""
    return "; ".join(query.output.strip().splitlines()[:2]), mode


def run_smoke(ctx: RunContext) -> Tuple[List[str], int]:
    """gq-gpu-smoke's lines and exit status (a missing binary or a timeout reported as a line)."""
    path = ctx.binary(SMOKE)
    if not os.path.isfile(path):
        return [f"{SMOKE}: FAILED bin/{SMOKE} is not in the bundle (built before the smoke tool?)"], 1
    res = run([path], ctx.budget.cap(60), env=ctx.env, cwd=ctx.work)
    lines = res.output.splitlines()
    if res.rc == 124:
        lines.append(f"{SMOKE}: FAILED timeout after {res.seconds:.0f} s")
    elif res.rc != 0 and not any(": FAILED" in x for x in lines):
        lines.append(f"{SMOKE}: FAILED exit {res.rc}")
    return lines, res.rc


def versions_text(value: dict) -> str:
    """"NVIDIA H200, driver 13.0, runtime 13.0, cuBLAS 13.1.0, cuDNN 9.13.0" from the smoke's
    lines (cuBLAS and cuDNN name themselves; the emulator's say "emulator: ...")."""
    parts = [value.get("device", "").split(" (")[0]]
    parts += [f"{label} {value[key]}" for key, label in (("driver", "driver"), ("cuda runtime", "runtime")) if key in value]
    parts += [value[key].split(" (")[0] for key in ("cublas", "cudnn") if key in value]
    return ", ".join(p for p in parts if p)


def smoke_result(lines: List[str], rc: int, missing: List[str]) -> Tuple[str, bool]:
    value = {x.split(": ", 1)[0]: x.split(": ", 1)[1] for x in lines if ": " in x}
    versions = versions_text(value)
    failed = [x for x in lines if ": FAILED" in x]
    if missing:
        failed.insert(0, f"{len(missing)} ldd problems: {' '.join(libs.missing_sonames(missing)) or missing[0]}")
    if failed or rc != 0:
        return f"**FAILED**: {'; '.join(x[:160] for x in failed[:3])}" + (f" ({versions})" if versions else ""), True
    return f"ok: {value.get('smoke', 'checks OK')}; {versions}; compute mode {value.get('compute mode', '?')}", False


def write_environment(ctx: RunContext) -> None:
    with open(os.path.join(ctx.bundle, "manifest.txt")) as f:
        bundle_manifest = f.read()
    libc = subprocess.run(["ldd", "--version"], capture_output=True, text=True).stdout.splitlines()[:1]
    ctx.report.write_file("manifest.txt", "## bundle manifest (from --prepare)\n" + bundle_manifest +
                          f"\n## run environment\nhost: {platform.node()}; kernel {platform.release()}; "
                          f"{os.cpu_count()} cores\n{' '.join(libc)}\n")


def smoke(ctx: RunContext) -> Tuple[str, bool]:
    write_environment(ctx)
    problem = unpack_payload(ctx)
    if problem:
        ctx.report.section("smoke", f"## Smoke and versions\n\n**{problem}**\n")
        return f"**FAILED**: {problem}", True
    notes, missing = find_libraries(ctx)
    gpu_line, smi_mode = nvidia_smi(ctx)
    lines, rc = run_smoke(ctx)
    mode = next((x.split(": ", 1)[1] for x in lines if x.startswith("compute mode: ")), smi_mode)
    ctx.compute_mode = mode or "unknown"
    ctx.report.append("manifest.txt", "\n" + "\n".join(notes + ["", "## ldd: what is missing"] +
                                                        (missing or ["nothing"]) + ["", f"## {SMOKE}"] + lines) + "\n")
    parallel = ctx.settings.test_parallel if ctx.compute_mode == "Default" else 1
    ctx.report.section("smoke", "\n".join([
        "## Smoke and versions", "", "```", *lines, "```", "",
        f"- GPU (nvidia-smi): {gpu_line}",
        f"- compute mode: {ctx.compute_mode}: test binaries run {parallel} at a time",
        f"- libraries: `{ctx.env['LD_LIBRARY_PATH']}`; {len(missing)} ldd problems"
        + (": " + "; ".join(missing[:5]) if missing else ""), ""]))
    return smoke_result(lines, rc, missing)


def unpack_data(ctx: RunContext) -> Tuple[str, bool]:
    """The data subset into $GQ_DATA_DIR, in the readers' layout."""
    ctx.env["GQ_DATA_DIR"] = os.path.join(ctx.work, "data")
    src = os.path.join(ctx.bundle, "data")
    try:
        data.unpack_data(src, ctx.env["GQ_DATA_DIR"])
    except (CheckFailed, OSError, EOFError) as e:
        ctx.report.section("data", f"## Data\n\n**unpack FAILED**: {e}\n")
        return f"**FAILED**: {e}", True
    with open(os.path.join(src, "README.txt")) as f:
        readme = [f"- {line.strip()}" for line in f if line.startswith("  ")]
    ctx.report.section("data", "\n".join(["## Data", "", "Subset unpacked to $GQ_DATA_DIR:", *readme, ""]))
    return "ok", False
