"""A short training run, plain and Grad Queue, of paper-cnn on the CIFAR-10 subset: does a whole
training step work on this device, how long does a step take, does the test accuracy move. Then
the airbench94 recipe in fp32 and bf16 (issues 25, 26): their times to the last epoch next to the
published 3.83 s."""
import json
import math
import os
from typing import Tuple

from .common import run
from .context import RunContext

VARIANTS = (("plain", []), ("gradqueue", ["--gradqueue", "--gq-clusters", "4"]))


def train_report(metrics: str, batch: int) -> str:
    """Time per step (training steps only, the first logged interval excluded as warm-up) and
    the last test accuracy, from gq-train --metrics."""
    secs = steps = 0.0
    prev, acc = None, None
    try:
        with open(metrics) as f:
            records = [json.loads(line) for line in f if line.strip().startswith("{")]
    except (OSError, ValueError) as e:
        return f"no metrics ({e})"
    for r in records:
        if r.get("type") == "train":
            if prev is not None and r.get("images_per_s", 0) > 0:
                n = r["step"] - prev
                steps += n
                secs += n * batch / r["images_per_s"]
            prev = r["step"]
        elif r.get("type") == "eval":
            acc = r.get("test_accuracy")
    ms = 1e3 * secs / steps if steps else math.nan
    acc_text = f"{100 * acc:.2f}%" if acc is not None else "n/a"
    return f"{ms:.2f} ms/step over {int(steps)} steps after the first logged interval; test accuracy {acc_text}"


def clean_carriage_returns(path: str) -> None:
    """gq-train redraws its progress line with \\r: one line each in the log."""
    with open(path, errors="replace") as f:
        text = f.read()
    lines = [x for x in text.replace("\r", "\n").split("\n") if x.strip()]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def train(ctx: RunContext) -> Tuple[str, bool]:
    s = ctx.settings
    args = ["--model", "paper-cnn", "--dataset", "cifar10", "--train-subset", str(s.cifar_train),
            "--test-subset", str(s.cifar_test), *s.train_args]
    batch = int(s.train_args[s.train_args.index("--batch-size") + 1])
    log = ctx.report.path("train.log")
    ctx.report.write_file("train.log", "")
    lines, problems, failed = [], [], False
    for i, (variant, extra) in enumerate(VARIANTS):
        if ctx.budget.out_of_time():
            problems.append(f"{variant}:out-of-time")
            continue
        metrics = os.path.join(ctx.work, f"train-{variant}.jsonl")
        ctx.report.append("train.log", f"==== gq-train {variant} ====\n")
        share = ctx.budget.left() / (len(VARIANTS) - i)  # plain must leave Grad Queue its half
        res = run([ctx.binary("gq-train"), *args, *extra, "--metrics", metrics], share,
                  env=ctx.env, cwd=ctx.work, log=log)
        clean_carriage_returns(log)
        ctx.report.append("train.log", f"exit {res.rc}\n")
        if res.rc == 0:
            lines.append(f"- {variant}: {train_report(metrics, batch)}")
        elif res.rc == 124:
            lines.append(f"- {variant}: timeout after {res.seconds:.0f} s: {train_report(metrics, batch)}")
            problems.append(f"{variant}:timeout")
        else:
            lines.append(f"- {variant}: **FAILED** (exit {res.rc}; train.log)")
            problems.append(f"{variant}:**FAILED**-exit-{res.rc}")
            failed = True
        ctx.report.section("train", "\n".join([f"## Training (paper-cnn, CIFAR-10 subset: {' '.join(args[4:])})",
                                               "", *lines, ""]))
    return (" ".join(problems) or "ok"), failed


def recipe_report(metrics: str) -> str:
    """Steps done, seconds to the last of them (per-epoch evaluations included) and the last
    test accuracy, plain and with TTA, from gq-train --metrics."""
    try:
        with open(metrics) as f:
            records = [json.loads(line) for line in f if line.strip().startswith("{")]
    except (OSError, ValueError) as e:
        return f"no metrics ({e})"
    trained = [r for r in records if r.get("type") == "train"]
    evals = [r for r in records if r.get("type") == "eval"]
    if not trained:
        return "no training step logged"
    last = trained[-1]
    text = f"{last['step']} steps, {last.get('elapsed_s', math.nan):.2f} s to the last of them"
    if evals:
        e = evals[-1]
        tta = e.get("test_accuracy_tta")
        text += f"; test accuracy {100 * e['test_accuracy']:.2f}%"
        text += f" ({100 * tta:.2f}% with TTA)" if tta is not None else ""
    return text


def recipe_run(ctx: RunContext, precision: str) -> Tuple[str, str, bool]:
    """One run of the recipe in `precision`: (its line for the report, status, failed)."""
    metrics = os.path.join(ctx.work, f"airbench94-{precision}.jsonl")
    log = ctx.report.path("train.log")
    ctx.report.append("train.log", f"==== gq-train --recipe airbench94 --precision {precision} ====\n")
    args = ["--recipe", "airbench94", "--dataset", "cifar10", "--precision", precision,
            *ctx.settings.recipe_args,
            "--test-subset", str(ctx.settings.cifar_test)]  # the rest are the same images, tiled
    res = run([ctx.binary("gq-train"), *args, "--metrics", metrics], ctx.budget.left(),
              env=ctx.env, cwd=ctx.work, log=log)
    clean_carriage_returns(log)
    ctx.report.append("train.log", f"exit {res.rc}\n")
    status, failed = ("ok", False) if res.rc == 0 else \
        ("timeout", False) if res.rc == 124 else (f"**FAILED**-exit-{res.rc}", True)
    return f"- {precision}: {status}: {recipe_report(metrics)} (gq-train {' '.join(args)})", status, failed


def airbench94(ctx: RunContext) -> Tuple[str, bool]:
    """The airbench94 recipe in fp32, then in bf16 (--precision), on the bundle's CIFAR-10 subset
    (tiled to the reader's files: as many steps as on the whole set, so the time is comparable; the
    accuracy is not)."""
    runs = [recipe_run(ctx, precision) for precision in ("fp32", "bf16")]
    ctx.report.section("airbench94", "\n".join([
        "## airbench94 recipe", "", *[line for line, _, _ in runs],
        "- published: 3.83 s to the last epoch on an A100 in fp16, 94.01% mean test accuracy; the "
        "bundle's CIFAR-10 is a 5000-image subset tiled to the reader's files (the same steps, "
        "not the same accuracy)", ""]))
    statuses = [status for _, status, _ in runs]
    return " ".join(f"{p}:{st}" for p, st in zip(("fp32", "bf16"), statuses)) \
        if any(st != "ok" for st in statuses) else "ok", any(failed for _, _, failed in runs)
