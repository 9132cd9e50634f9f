"""The test binaries of the bundle (tests.tsv, from ctest): the GPU suites in the third step, the
suites that re-check host behaviour (shell scripts, host-only and multi-process tests) last.
Binaries run several at a time only when the compute mode is Default. A GPU suite that fails is
rerun at once, only its failing cases (gtest filter), with every launch synchronised and checked
(CUDA_LAUNCH_BLOCKING=1, GQ_SYNC_EVERY_LAUNCH=1) so that the log names the kernel."""
import os
import re
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from .budget import MIN_START_S
from .common import REPO, Result, run
from .context import RunContext
from .settings import RERUN_EXTRA_S

SYNC_ENV = {"CUDA_LAUNCH_BLOCKING": "1", "GQ_SYNC_EVERY_LAUNCH": "1"}
_FAILED_CASE = re.compile(r"^\[  FAILED  \] ([A-Za-z_][\w/]*\.[\w/]+)", re.M)
_QUICK = {  # --quick: these only (the smoke test on the device, malformed-input host checks)
    "gq_test_gpu_smoke": "",
    "gq_test_schedule": "",
    "gq_test_datasets": "--gtest_filter=Cifar10Bad.*:MnistBad.*:IdxParse.*:FindDataset.*",
}


@dataclass
class Test:
    name: str
    labels: List[str]
    env: List[str]
    cmd: List[str]
    skip: str = ""                   # why it does not run ("" = it runs)
    result: Optional[Result] = None
    cut_short: bool = False          # its timeout was what the step had left, not its own
    rerun: str = ""                  # the rerun's outcome, for the table
    notes: List[str] = field(default_factory=list)

    @property
    def host(self) -> bool:
        """Re-checks host behaviour: a shell suite, a host-only or a multi-process test."""
        return self.cmd[0].endswith(".sh") or bool({"host", "distributed"} & set(self.labels))

    @property
    def gtest(self) -> bool:
        return os.path.basename(self.cmd[0]).startswith("gq_test_") and not self.cmd[0].endswith(".sh")


def read_tests(ctx: RunContext) -> List[Test]:
    tests = []
    with open(os.path.join(ctx.bundle, "tests.tsv")) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 4 or not parts[0]:
                continue
            name, labels, env, cmd = parts
            cmd = cmd.replace("@BIN@", ctx.bin).replace("@SRC@", REPO).split(" ")
            tests.append(Test(name, labels.split(","), [] if env == "-" else env.split(";"), cmd))
    return tests


def base_name(name: str) -> str:
    return re.sub(r"\.(forward|reverse)$", "", name)


def classify(ctx: RunContext, t: Test) -> None:
    """Sets t.skip, and the extra arguments some suites get on a bundle's data subset."""
    name = base_name(t.name)
    if name == "gq_test_datasets":
        t.cmd.append("--gtest_filter=-Cifar10Real.*:MnistReal.*")
        t.notes.append(f"{t.name}: Cifar10Real.*, MnistReal.* skipped: they check the full datasets "
                       "(sizes, checksums); the bundle packs subsets (they run in the emulator CI)")
    if name == "gq_test_gpu_check" and not ctx.gpu:
        t.skip = "dry run: it would nest another dry run"
    if name == "gq_test_experiments" and not _has_pyplot():
        t.skip = ("needs /usr/bin/python3 with numpy and matplotlib (tools/experiments' Python; "
                  "gq-train on the GPU is covered by gq_test_cli and the train step)")
    if not ctx.gpu and "reverse" in t.labels:
        t.skip = "dry run: the forward thread order only"
    if ctx.quick and not t.skip:
        if name not in _QUICK:
            t.skip = "--quick: only " + ", ".join(_QUICK)
        elif _QUICK[name]:
            t.cmd = [c for c in t.cmd if not c.startswith("--gtest_filter")] + [_QUICK[name]]
    if t.gtest:
        t.cmd.insert(1, "--gtest_brief=1")


_pyplot = []


def _has_pyplot() -> bool:
    if not _pyplot:
        _pyplot.append(run(["/usr/bin/python3", "-c", "import numpy, matplotlib"], 30).rc == 0)
    return _pyplot[0]


def test_env(ctx: RunContext, t: Test, extra=None) -> dict:
    env = dict(ctx.env)
    env.update(e.split("=", 1) for e in t.env if "=" in e)
    env.update(extra or {})
    return env


def run_test(ctx: RunContext, t: Test, cmd: List[str], log: str, extra_env=None) -> Result:
    """One test binary under min(its own timeout, what the step has left), in its own folder."""
    left = ctx.budget.left()
    if left < MIN_START_S:
        t.skip = "out of time (the step's share of the budget was spent)"
        return Result(0, 0.0, "")
    timeout = min(ctx.settings.test_timeout, left)
    t.cut_short = timeout < ctx.settings.test_timeout
    cwd = os.path.join(ctx.work, "tests", t.name + ".cwd")
    os.makedirs(cwd, exist_ok=True)
    return run(cmd, timeout, env=test_env(ctx, t, extra_env), cwd=cwd, log=log)


def outcome(t: Test) -> Tuple[str, bool]:
    """(what the table says, failed)."""
    rc = t.result.rc
    if rc == 0:
        return "pass", False
    if rc == 124 and t.cut_short:
        return "cut short (the step's time ran out)", False
    return f"**FAIL** ({exit_text(rc)})", True


def exit_text(rc: int) -> str:
    if rc < 0:  # ended by a signal: name it (SIGSEGV says more than -11)
        try:
            return f"signal {signal.Signals(-rc).name}"
        except ValueError:
            return f"signal {-rc}"
    return f"exit {rc}{': timeout' if rc == 124 else ''}"


def log_detail(text: str, failed: bool) -> str:
    keep = re.compile(r"^\[  (PASSED|FAILED|SKIPPED) +\]|tests? (passed|failed)|^[0-9]+ passed")
    lines = [x for x in text.splitlines() if keep.search(x) and not re.match(r"^\[  (FAILED|SKIPPED) +\] [A-Za-z]", x)]
    detail = " ".join(lines[-3:])
    if failed:
        detail += " " + " ".join(x for x in text.splitlines() if re.match(r"^\[  FAILED  \] [A-Za-z]|^FAIL", x))[:300]
    return detail.replace("|", "/")[:400]


def append_log(ctx: RunContext, title: str, log: str) -> None:
    try:
        with open(log, errors="replace") as f:
            text = f.read(300000)
    except OSError as e:
        text = f"(no log: {e})"
    ctx.report.append("tests.log", f"==== {title} ====\n{text}\n")


def rerun_failure(ctx: RunContext, t: Test) -> None:
    """Reruns a failing GPU suite's failing cases (all of it if it named none: a crash or a
    hang) with every launch synchronised, so its log names the kernel; the output goes to
    tests.log."""
    if t.result.rc == 127:
        t.rerun = "no rerun: the binary could not be started"
        return
    with open(os.path.join(ctx.work, "tests", t.name + ".log"), errors="replace") as f:
        cases = list(dict.fromkeys(_FAILED_CASE.findall(f.read())))
    cmd = [c for c in t.cmd if c != "--gtest_brief=1"]
    if cases:
        cmd = [c for c in cmd if not c.startswith("--gtest_filter")] + ["--gtest_filter=" + ":".join(cases)]
    ctx.budget.extend_step(RERUN_EXTRA_S)
    timeout = min(60.0, ctx.budget.left())
    if timeout < MIN_START_S:
        t.rerun = "no rerun: out of time"
        return
    log = os.path.join(ctx.work, "tests", t.name + ".rerun.log")
    cwd = os.path.join(ctx.work, "tests", t.name + ".cwd")
    res = run(cmd, timeout, env=test_env(ctx, t, SYNC_ENV), cwd=cwd, log=log)
    what = f"{len(cases)} failing case(s)" if cases else "the whole suite (no case was named: a crash or a hang?)"
    append_log(ctx, f"rerun of {t.name}: {what}, {' '.join(f'{k}={v}' for k, v in SYNC_ENV.items())} "
                    f"{' '.join(cmd[1:])}: {exit_text(res.rc)}, {res.seconds:.0f} s", log)
    t.rerun = (f"rerun of {what} with synchronised launches: "
               + ("passed: the failure did not repeat" if res.rc == 0 else
                  f"failed again ({exit_text(res.rc)}{stopped_in(log)}; tests.log)"))


def stopped_in(log: str) -> str:
    """"; stopped in Suite.Case" when the log's last started case never finished (a crash)."""
    with open(log, errors="replace") as f:
        text = f.read()
    started = re.findall(r"^\[ RUN      \] (\S+)", text, re.M)
    finished = set(re.findall(r"^\[ +(?:OK|FAILED) +\] (\S+)", text, re.M))
    return f"; stopped in {started[-1]}" if started and started[-1] not in finished else ""


def section(ctx: RunContext, title: str, tests: List[Test], parallel: int) -> Tuple[str, str, int]:
    """The step's section, rendered from whatever has finished so far; (text, row, failures)."""
    rows, counts = [], {"pass": 0, "fail": 0, "cut": 0, "skip": 0, "ran": 0}
    for t in tests:
        if t.skip:
            counts["skip"] += 1
            rows.append(f"| {t.name} | skipped | | {t.skip} |")
            continue
        if t.result is None:
            rows.append(f"| {t.name} | not finished | | |")
            continue
        what, failed = outcome(t)
        counts["ran"] += 1
        counts["fail" if failed else "cut" if what.startswith("cut") else "pass"] += 1
        with open(os.path.join(ctx.work, "tests", t.name + ".log"), errors="replace") as f:
            detail = log_detail(f.read(), failed)
        rows.append(f"| {t.name} | {what} | {t.result.seconds:.0f} | {detail} {t.rerun} |")
    notes = [f"- {n}" for t in tests for n in t.notes]
    text = "\n".join([f"## {title}", "",
                      f"{counts['ran']} test binaries run ({parallel} at a time, each under timeout "
                      f"{ctx.settings.test_timeout:.0f} s), {counts['skip']} skipped.", "",
                      "| test | result | seconds | detail |", "|---|---|---|---|", *rows, "", *notes, ""])
    result = (f"{counts['pass']} passed" if not counts["fail"] else f"**{counts['fail']} FAILED**, {counts['pass']} passed")
    return text, result + f", {counts['cut']} cut short, {counts['skip']} skipped", counts["fail"]


def run_group(ctx: RunContext, tests: List[Test], key: str, title: str, rerun: bool) -> Tuple[str, bool]:
    parallel = ctx.settings.test_parallel if ctx.compute_mode == "Default" else 1
    os.makedirs(os.path.join(ctx.work, "tests"), exist_ok=True)
    lock = threading.Lock()

    def one(t: Test) -> None:
        log = os.path.join(ctx.work, "tests", t.name + ".log")
        result = run_test(ctx, t, t.cmd, log)
        if t.skip:
            return
        t.result = result
        with lock:  # the partial results, as each binary finishes
            append_log(ctx, f"{t.name}: exit {result.rc}, {result.seconds:.0f} s", log)
            ctx.report.section(key, section(ctx, title, tests, parallel)[0])

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        list(pool.map(one, [t for t in tests if not t.skip]))
    if rerun:
        for t in tests:
            if t.result is not None and outcome(t)[1] and t.gtest:
                rerun_failure(ctx, t)
    text, result, failed = section(ctx, title, tests, parallel)
    ctx.report.section(key, text)
    return result, failed > 0


def _tests(ctx: RunContext, host: bool) -> List[Test]:
    tests = [t for t in read_tests(ctx) if t.host == host]
    for t in tests:
        classify(ctx, t)
    return tests


def gpu_tests(ctx: RunContext) -> Tuple[str, bool]:
    ctx.report.write_file("tests.log", "")
    return run_group(ctx, _tests(ctx, host=False), "tests", "Tests (GPU suites)", rerun=True)


def host_suites(ctx: RunContext) -> Tuple[str, bool]:
    """Last: the shell suites and host-only tests re-check behaviour the emulator CI checks too;
    they run in whatever the budget has left."""
    return run_group(ctx, _tests(ctx, host=True), "host suites", "Host suites (shell, host-only, multi-process)", rerun=False)
