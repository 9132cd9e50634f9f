#!/usr/bin/python3
"""tools/experiments/welch.py and the steps-to-target report's rules built on it (issue 28):
Student-t quantiles against the printed table, Welch intervals against Welch's t-test worked
by hand and the textbook example (Wikipedia, "Welch's t-test", example 1: t = -2.46, df = 25.0,
p = 0.021), a difference of differences, the moonshot rule's verdicts, the report's TTA accuracy and
compare.py's intervals. Run: python3 THIS."""
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools", "experiments"))
import welch  # noqa: E402

failures = []


def check(name, ok):
    print(("ok   " if ok else "FAIL ") + name)
    if not ok:
        failures.append(name)


def close(a, b, tol):
    return abs(a - b) <= tol


# Student's t, two-sided 95% (the 0.975 quantile), from the printed tables (3 decimals).
table = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 10: 2.228, 20: 2.086, 30: 2.042, 60: 2.000}
check("t quantiles match the table for df 1..60",
      all(close(welch.t_quantile(0.975, df), q, 5e-4) for df, q in table.items()))
check("t quantile is odd and t_cdf inverts it",
      close(welch.t_quantile(0.025, 7), -welch.t_quantile(0.975, 7), 1e-9)
      and close(welch.t_cdf(welch.t_quantile(0.9, 3.5), 3.5), 0.9, 1e-9))
check("t_cdf(0) = 1/2 and t at df -> infinity is the normal (1.960)",
      close(welch.t_cdf(0.0, 4), 0.5, 1e-12) and close(welch.t_quantile(0.975, 1e6), 1.95996, 1e-4))

# By hand: x = 1, 2, 3 (mean 2, s^2 1) and y = 4, 6, 8 (mean 6, s^2 4): d = -4, variances of the
# mean 1/3 and 4/3, se = sqrt(5/3), df = (5/3)^2 / ((1/3)^2 / 2 + (4/3)^2 / 2) = 50/17.
c = welch.diff([1, 2, 3], [4, 6, 8])
check("Welch by hand: d, se, df",
      close(c["d"], -4, 1e-12) and close(c["se"], math.sqrt(5 / 3), 1e-12) and close(c["df"], 50 / 17, 1e-12))
t = welch.t_quantile(0.975, 50 / 17)
check("Welch by hand: the interval is d ± t(0.975, 50/17) se, t = 3.2188",
      close(t, 3.21876, 1e-4) and close(c["lo"], -4 - t * math.sqrt(5 / 3), 1e-9)
      and close(c["hi"], -4 + t * math.sqrt(5 / 3), 1e-9))

a1 = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4]
a2 = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4]
c = welch.diff(a1, a2)
p = 2 * (1 - welch.t_cdf(abs(c["d"] / c["se"]), c["df"]))
check("Welch's textbook example: t = -2.46, df = 25.0, p = 0.021, interval excludes 0",
      close(c["d"] / c["se"], -2.46, 5e-3) and close(c["df"], 25.0, 0.05) and close(p, 0.021, 5e-4)
      and welch.sign(c) == -1)

# A difference of differences of four samples: the variances of the mean add, Welch-Satterthwaite
# over all four. Each sample has n = 3; s^2 = 1, 4, 1, 4 -> v = 1/3, 4/3, 1/3, 4/3, sum 10/3;
# df = (10/3)^2 / (2 * (1/9 + 16/9) / 2) = (100/9) / (17/9) = 100/17.
dd = welch.combo([(1, [1, 2, 3]), (-1, [4, 6, 8]), (-1, [1, 2, 3]), (1, [4, 6, 8])])
check("difference of differences: d 0, se sqrt(10/3), df 100/17, interval contains 0",
      close(dd["d"], 0, 1e-12) and close(dd["se"], math.sqrt(10 / 3), 1e-12)
      and close(dd["df"], 100 / 17, 1e-12) and welch.sign(dd) == 0)
# Two differences with the same noise: combined, it is sqrt(2) times each one's (the old rule's
# average of the two, sqrt((s1^2 + s2^2) / 2), left it at 1 times).
check("the noise of a difference of differences adds, not averages",
      close(dd["se"] / welch.diff([1, 2, 3], [4, 6, 8])["se"], math.sqrt(2), 1e-12))
# A constant term (the moonshot's ratio x S) adds no variance: a one-sample t interval.
k = welch.combo([(1, [130, 140, 150]), (-0.8, 192)])
check("a constant term: one-sample t (df n - 1)",
      close(k["d"], 140 - 153.6, 1e-9) and close(k["df"], 2, 1e-12)
      and close(k["hi"] - k["d"], 4.302653 * 10 / math.sqrt(3), 1e-4))
check("fewer than 2 values in a sample: no interval",
      welch.diff([1.0], [1.0, 2.0]) is None and welch.combo([(1, [3.0]), (-1, 2.0)]) is None)
check("ci_text", welch.ci_text({"d": 0.0123, "lo": -0.001, "hi": 0.0256}, 100) == "+1.23 [-0.10, +2.56]")

# The report's rules (target_report): verdicts from intervals, censoring, the control.
import target_report as tr  # noqa: E402

check("interval verdicts", tr.ci_verdict({"lo": 0.1, "hi": 1}) == "better"
      and tr.ci_verdict({"lo": -1, "hi": -0.1}) == "worse" and tr.ci_verdict({"lo": -1, "hi": 1}) == "includes 0")
check("moonshot rule: below the bound yes, above no, straddling cannot decide; a censored seed blocks yes",
      tr.rule_verdict({"lo": -3, "hi": -1}, 0) == "yes" and tr.rule_verdict({"lo": 1, "hi": 3}, 0) == "no"
      and tr.rule_verdict({"lo": -1, "hi": 1}, 0) == "cannot decide"
      and tr.rule_verdict({"lo": -3, "hi": -1}, 1) == "cannot decide" and tr.rule_verdict({"lo": 1, "hi": 3}, 1) == "no")
check("moonshot answer: a yes counts only where no control meets the rule",
      tr.outcome("yes", ["no"]) == "yes" and tr.outcome("yes", ["no", "yes"]).startswith("no")
      and tr.outcome("yes", []).startswith("cannot decide") and tr.outcome("yes", ["cannot decide"]).startswith("cannot decide")
      and tr.outcome("no", ["yes"]) == "no")
run = {"diverged": False, "steps": 20, "evals": [{"step": 10, "test_accuracy": 0.5}, {"step": 20, "test_accuracy": 0.9}],
       "train": [{"step": 10, "images_per_s": 100.0}, {"step": 20, "images_per_s": 50.0}]}
low = dict(run, evals=[{"step": 10, "test_accuracy": 0.5}, {"step": 20, "test_accuracy": 0.6}])
steps, secs, cens = tr.to_bar({"runs": [run, low], "diverged": []}, 0.85, 10, None)
check("to_bar: a seed that never reaches the bar counts at its last step + 1, its whole time",
      steps == [20, 21] and cens == 1 and close(secs[0], 3.0, 1e-12) and close(secs[1], 3.0, 1e-12))
check("train_s_until cuts an interval pro rata",
      close(tr.train_s_until(run, 10, 15), 1.0 + 5 * 10 / 50.0, 1e-12))

# [report] accuracy = "tta": the report reads the TTA accuracy, leaving out evaluations without it.
runs = {"c": {"evals": [{"step": 1, "test_accuracy": 0.5},
                        {"step": 2, "test_accuracy": 0.6, "test_accuracy_tta": 0.7}],
              "acc": 0.6, "diverged": False}, "unfinished": None}
tta = tr.with_tta_accuracy({"report": {"accuracy": "tta"}}, runs)
check("accuracy = tta: TTA accuracies only, the final one as acc",
      tta["c"]["evals"] == [{"step": 2, "test_accuracy": 0.7, "test_accuracy_tta": 0.7}]
      and tta["c"]["acc"] == 0.7 and tta["unfinished"] is None)
check("accuracy unset: the plain accuracies", tr.with_tta_accuracy({}, runs) is runs)

# compare.py (the intervals docs/PERF.md quotes): A = {90, 92, 94}, B = {89, 90, 91}, paired by
# order: Welch against welch.diff; paired differences {1, 2, 3}:
# mean 2, sd 1, se 1/sqrt(3), t(0.975, 2) 4.303 -> [-0.48, +4.48].
import subprocess  # noqa: E402
import tempfile  # noqa: E402
with tempfile.TemporaryDirectory() as tmp:
    def metrics(name, acc):
        path = os.path.join(tmp, name)
        with open(path, "w") as f:
            f.write('{"type": "train", "step": 1}\n{"type": "eval", "step": 2, "test_accuracy": %r}\n' % acc)
        return path
    a = [metrics(f"a{i}", v) for i, v in enumerate((0.90, 0.92, 0.94))]
    b = [metrics(f"b{i}", v) for i, v in enumerate((0.89, 0.90, 0.91))]
    out = subprocess.run([sys.executable, os.path.join(HERE, "..", "..", "tools", "experiments", "compare.py"),
                          "--a", *a, "--b", *b], capture_output=True, text=True).stdout
    want = welch.ci_text(welch.diff([90, 92, 94], [89, 90, 91]))
    check("compare.py: Welch interval of the last eval records", f"Welch 95%: {want}" in out)
    check("compare.py: paired by order, 2 ± 4.303/sqrt(3)", "paired 95%: +2.00 [-0.48, +4.48]" in out)

print(f"{len(failures)} failed" if failures else "all passed")
sys.exit(1 if failures else 0)
