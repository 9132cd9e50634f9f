"""Finding the CUDA libraries (cuBLAS, cuDNN, NVRTC, ...) on the GPU machine: a toolkit's lib64,
or the folders of NVIDIA's Python wheels (site-packages/nvidia/<name>/lib), which is how a machine
with PyTorch but no toolkit has them. The search is a pure function of the folders it is given
(`find_lib_dirs`), so tests/tools covers it without a GPU (`gpu_check.py --find-libs ROOT...`)."""
import glob
import os
import subprocess
from typing import Iterable, List

from .common import run

# Where a toolkit keeps its shared libraries, relative to its root.
TOOLKIT_SUBDIRS = ("lib64", "targets/x86_64-linux/lib", "targets/sbsa-linux/lib")
# Interpreters whose site-packages may hold NVIDIA's wheels (PyTorch's venv on the lent machine).
WHEEL_PYTHONS = ("python3", "/opt/torch/.venv/bin/python3")


def _has_shared_libs(folder: str) -> bool:
    return bool(glob.glob(os.path.join(folder, "lib*.so*")))


def wheel_lib_dirs(root: str) -> List[str]:
    """The wheel library folders under `root`: a site-packages folder (root/nvidia/*/lib) or the
    `nvidia` package folder itself (root/*/lib)."""
    base = root if os.path.basename(os.path.normpath(root)) == "nvidia" else os.path.join(root, "nvidia")
    found = sorted(glob.glob(os.path.join(base, "*", "lib")))
    return [d for d in found if os.path.isdir(d) and _has_shared_libs(d)]


def toolkit_lib_dirs(root: str) -> List[str]:
    dirs = [os.path.join(root, sub) for sub in TOOLKIT_SUBDIRS]
    return [d for d in dirs if os.path.isdir(d) and _has_shared_libs(d)]


def find_lib_dirs(roots: Iterable[str]) -> List[str]:
    """Every folder of CUDA libraries under the given roots, in root order, each once: a
    toolkit's lib folders and the wheels' lib folders. Roots that do not exist are skipped."""
    seen, out = set(), []
    for root in roots:
        if not root or not os.path.isdir(root):
            continue
        for d in toolkit_lib_dirs(root) + wheel_lib_dirs(root):
            real = os.path.realpath(d)
            if real not in seen:
                seen.add(real)
                out.append(d)
    return out


def _python_site_dirs(python: str) -> List[str]:
    """site-packages folders of one interpreter (none when it is missing or fails)."""
    code = ("import site, sys; print('\\n'.join(site.getsitepackages() + [site.getusersitepackages()]"
            " + [p for p in sys.path if p.endswith('-packages')]))")
    res = run([python, "-c", code], 30)
    return [line for line in res.output.splitlines() if res.rc == 0 and line.strip()]


def default_roots() -> List[str]:
    """Where the run step looks: toolkits first (their libraries match the driver they came
    with), then the wheels of this machine's Python interpreters."""
    roots = [os.environ.get("CUDA_HOME", ""), os.environ.get("CUDA_PATH", ""), "/usr/local/cuda"]
    roots += sorted(glob.glob("/usr/local/cuda-1[3-9]*"), reverse=True)
    for py in WHEEL_PYTHONS:
        roots += _python_site_dirs(py)
    return [r for r in roots if r]


def ldd_not_found(binaries: Iterable[str], ld_path: str) -> List[str]:
    """ldd's complaints for the binaries under LD_LIBRARY_PATH=ld_path: a library not found
    ("libcudnn.so.9 => not found") or one too old ("version `GLIBCXX_3.4.32' not found"), each
    line prefixed with the binary's name."""
    env = dict(os.environ, LD_LIBRARY_PATH=ld_path)
    lines = []
    for b in binaries:
        try:
            out = subprocess.run(["ldd", b], env=env, capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.TimeoutExpired) as e:
            lines.append(f"{os.path.basename(b)}: ldd failed: {e}")
            continue
        lines += [f"{os.path.basename(b)}: {line.strip()}" for line in out.splitlines() if "not found" in line]
    return lines


def missing_sonames(not_found: Iterable[str]) -> List[str]:
    """The library names of ldd_not_found's "=> not found" lines (sorted, unique)."""
    return sorted({line.split()[1] for line in not_found if "=> not found" in line and len(line.split()) > 1})


def main_find_libs(roots: List[str]) -> int:
    """--find-libs ROOT...: prints the library folders found, one a line; exit 1 with a message
    naming the roots and what was looked for when there are none."""
    dirs = find_lib_dirs(roots or default_roots())
    if not dirs:
        looked = ", ".join(roots) if roots else "the default roots (CUDA_HOME, /usr/local/cuda*, site-packages)"
        print(f"gpu-check: no CUDA libraries found under {looked}: looked for "
              f"{', '.join(TOOLKIT_SUBDIRS)} and nvidia/*/lib holding lib*.so*")
        return 1
    print("\n".join(dirs))
    return 0
