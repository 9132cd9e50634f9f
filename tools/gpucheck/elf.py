"""What --prepare reads from ELF files: the GLIBC_/GLIBCXX_ versions they need (objdump -T), their
NEEDED libraries and RUNPATH (objdump -p), and where ldd resolves each library."""
import os
import re
import subprocess
from typing import Dict, Iterable, List, Tuple

_VERSION = re.compile(r"\((GLIBC|GLIBCXX)_([0-9.]+)\)")


def _version_key(v: str) -> Tuple[int, ...]:
    return tuple(int(x) for x in v.split(".") if x.isdigit())


def glibc_needs(files: Iterable[str]) -> Dict[str, str]:
    """The highest GLIBC and GLIBCXX symbol version the files import, e.g. {"GLIBC": "2.34"}."""
    best: Dict[str, str] = {}
    for f in files:
        out = subprocess.run(["objdump", "-T", f], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if "*UND*" not in line:
                continue
            for name, version in _VERSION.findall(line):
                if name not in best or _version_key(version) > _version_key(best[name]):
                    best[name] = version
    return best


def needs_text(files: Iterable[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(glibc_needs(files).items())) or "none"


def dynamic_section(path: str) -> Tuple[List[str], str]:
    """NEEDED libraries and RUNPATH of one ELF file."""
    out = subprocess.run(["objdump", "-p", path], capture_output=True, text=True).stdout
    needed = [line.split()[1] for line in out.splitlines() if line.split()[:1] == ["NEEDED"]]
    runpath = next((line.split()[1] for line in out.splitlines() if line.split()[:1] == ["RUNPATH"]), "")
    return needed, runpath


def ldd(path: str, ld_path: str) -> List[Tuple[str, str]]:
    """(soname, resolved path or "not found") per library ldd lists, under LD_LIBRARY_PATH."""
    env = dict(os.environ, LD_LIBRARY_PATH=ld_path)
    out = subprocess.run(["ldd", path], env=env, capture_output=True, text=True).stdout
    pairs = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] == "=>":
            pairs.append((parts[0], "not found" if "not found" in line else parts[2]))
    return pairs


GLIBC_LIBS = re.compile(r"^(libc|libm|libdl|librt|libpthread|libresolv)\.so|^ld-linux")
NVIDIA_LIBS = re.compile(r"^(libcuda\.so|libcublas|libcudnn|libnvrtc|libnvJitLink|libcudart|libnvToolsExt)")
CXX_RUNTIME_LIBS = re.compile(r"^(libstdc\+\+|libgcc_s|libz)\.so")
