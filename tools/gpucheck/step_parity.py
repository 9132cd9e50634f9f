"""Parity: gq-parity --write on this device, compared case by case with the emulator reference
that --prepare computed (parity-ref.bin.xz)."""
import os
import re
from typing import Tuple

from .common import manifest_value, run, xz_decompress
from .context import RunContext


def reference(ctx: RunContext) -> str:
    ref = os.path.join(ctx.bundle, "parity-ref.bin")
    if os.path.isfile(ref + ".xz"):
        xz_decompress(ref + ".xz", os.path.join(ctx.work, "parity-ref.bin"))
        ref = os.path.join(ctx.work, "parity-ref.bin")
    return ref


def parity(ctx: RunContext) -> Tuple[str, bool]:
    ref = reference(ctx)
    mine = os.path.join(ctx.work, "parity-run.bin")
    out = "parity.txt"
    ctx.report.write_file(out, "== gq-parity --write on this device ==\n")
    # The write gets most of the step; the compare (a file read) needs seconds.
    res = run([ctx.binary("gq-parity"), "--write", mine], ctx.budget.left() * 0.8,
              env=ctx.env, cwd=ctx.work, log=ctx.report.path(out))
    ctx.report.append(out, f"exit {res.rc}\n\n== gq-parity --compare (this device) (emulator reference from --prepare) ==\n")
    cmp = run([ctx.binary("gq-parity"), "--compare", mine, ref], ctx.budget.cap(30), env=ctx.env,
              cwd=ctx.work, log=ctx.report.path(out))
    ctx.report.append(out, f"exit {cmp.rc}\n")
    with open(ctx.report.path(out), errors="replace") as f:
        text = f.read()
    totals = re.findall(r"^parity: ([0-9]+ passed, [0-9]+ failed)", text, re.M)
    ok = bool(totals) and totals[-1].endswith(" 0 failed") and cmp.rc == 0
    if ok:
        result = totals[-1]
    else:
        why = totals[-1] if totals else next((x for x in text.splitlines() if "gq-parity: " in x), "")[:200]
        result = f"**FAILED** {why}" + (" (the write timed out)" if res.rc == 124 else "")
    mismatches = [x for x in text.splitlines() if re.search(r"^case|MISMATCH|MISSING", x)][:40]
    flags = manifest_value(os.path.join(ctx.bundle, "manifest.txt"), "emulator_reference")
    ctx.report.section("parity", "\n".join(
        ["## Parity (this device vs the emulator reference)", "", f"{result}. Reference: `{flags}`."]
        + (["", "```", *mismatches, "```"] if any("MISMATCH" in x or "MISSING" in x for x in mismatches) else [])
        + [""]))
    return result, not ok
