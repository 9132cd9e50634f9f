"""What every part of the GPU check shares: the repo root, the two ways to stop (a usage error:
exit 2; a failed check: exit 1), running a command under a timeout, and small file helpers."""
import lzma
import os
import shutil
import signal
import subprocess
import sys
import time
from typing import NamedTuple, Optional

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROG = "gpu-check"


class UsageError(Exception):
    """Bad arguments or a bundle that is not one: exit 2."""


class CheckFailed(Exception):
    """--prepare or the dry run's build could not do its job: exit 1."""


def say(text: str) -> None:
    print(text, flush=True)


def heading(title: str) -> None:
    say(f"\n==== {title} ====")


class Result(NamedTuple):
    rc: int          # the command's exit status; 124 when its timeout ended it, 127 not startable
    seconds: float
    output: str      # captured stdout + stderr ("" when they went to a log file)


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM to the command's process group, SIGKILL 5 s later (what `timeout -k 5` does)."""
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run(cmd, timeout: float, *, env=None, cwd=None, log: Optional[str] = None,
        stdin=subprocess.DEVNULL) -> Result:
    """Runs cmd (a list) in its own process group under `timeout` seconds. Output goes to the file
    `log` (appended to as it is written, so a run killed from outside leaves what it printed) or
    is captured. Never raises for the command's own failures."""
    start = time.monotonic()
    sink = open(log, "ab") if log else subprocess.PIPE
    try:
        proc = subprocess.Popen([str(c) for c in cmd], stdout=sink, stderr=subprocess.STDOUT,
                                stdin=stdin, env=env, cwd=cwd, start_new_session=True)
    except OSError as e:
        if log:
            sink.write(f"{PROG}: cannot run {cmd[0]}: {e}\n".encode())
            sink.close()
        return Result(127, time.monotonic() - start, f"cannot run {cmd[0]}: {e}")
    try:
        out, _ = proc.communicate(timeout=max(timeout, 1))
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        _stop_group(proc)
        out, _ = proc.communicate()
        rc = 124
    finally:
        if log:
            sink.close()
    text = out.decode(errors="replace") if out else ""
    return Result(rc, time.monotonic() - start, text)


def must(cmd, what: str, timeout: float = 7200, **kw) -> str:
    """Runs a build-side command that has to work; CheckFailed naming `what` otherwise."""
    res = run(cmd, timeout, **kw)
    if res.rc != 0:
        tail = "\n".join(res.output.splitlines()[-30:])
        raise CheckFailed(f"{what} failed (exit {res.rc}): {' '.join(map(str, cmd))}\n{tail}")
    return res.output


def xz_decompress(src: str, dst: str) -> None:
    with lzma.open(src) as fin, open(dst, "wb") as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)


def mib(n: float) -> str:
    return f"{n / 1048576:.1f} MiB"


def manifest_value(path: str, key: str) -> str:
    """The value of the first `key: value` line of a manifest file ("" if none)."""
    try:
        with open(path, errors="replace") as f:
            for line in f:
                if line.startswith(key + ": "):
                    return line[len(key) + 2:].rstrip("\n")
    except OSError:
        pass
    return ""


def jobs() -> int:
    return int(os.environ.get("GQ_JOBS") or os.cpu_count() or 2)


def python3() -> str:
    return sys.executable or "python3"
