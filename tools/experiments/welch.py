"""Welch confidence intervals for the reports (issue 28): a linear combination of the means of
independent samples (a difference of two arms, a difference of differences, an arm against a
multiple of another), its standard error, the Welch–Satterthwaite degrees of freedom and the
two-sided interval from Student's t. Pure Python (no scipy): the t quantile comes from the
regularized incomplete beta function by bisection. tests/tools/test_welch.py checks it against
textbook values.
"""
import math


def _betacf(a, b, x):
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        for num in (m * (b - m) * x / ((qam + m2) * (a + m2)),
                    -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def betainc(a, b, x):
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    lbt = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(lbt) * _betacf(a, b, x) / a
    return 1.0 - math.exp(lbt) * _betacf(b, a, 1.0 - x) / b


def t_cdf(t, df):
    """P(T <= t) for Student's t with df (> 0, not necessarily whole) degrees of freedom."""
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p, df):
    """The p quantile of Student's t (0 < p < 1), by bisection on t_cdf."""
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        lo, hi = hi, hi * 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


def combo(terms, level=0.95):
    """The Welch interval of sum(c * mean(x)) over terms [(c, x), ...]: x a sample (a list of
    independent values, at least 2) or a constant (a number, no variance). Returns {d, se, df, lo,
    hi, t}, or None where a sample has fewer than 2 values. The degrees of freedom are Welch–
    Satterthwaite's, (sum v_i)^2 / sum v_i^2 / (n_i - 1) with v_i = c_i^2 s_i^2 / n_i; where every
    variance is 0 the interval is the point d."""
    d, var, den = 0.0, 0.0, 0.0
    for c, xs in terms:
        if isinstance(xs, (int, float)):
            d += c * xs
            continue
        n = len(xs)
        if n < 2:
            return None
        m = sum(xs) / n
        d += c * m
        v = c * c * (sum((x - m) ** 2 for x in xs) / (n - 1)) / n
        var += v
        den += v * v / (n - 1)
    if var <= 0.0:
        return {"d": d, "se": 0.0, "df": math.inf, "lo": d, "hi": d, "t": math.inf}
    df = var * var / den
    t = t_quantile(0.5 + level / 2.0, df)
    se = math.sqrt(var)
    return {"d": d, "se": se, "df": df, "lo": d - t * se, "hi": d + t * se, "t": t}


def diff(xs, ys, level=0.95):
    """Welch's interval for mean(xs) - mean(ys) (None unless both have >= 2 values)."""
    return combo([(1.0, list(xs)), (-1.0, list(ys))], level)


def sign(ci):
    """+1 where the interval lies above 0, -1 below, 0 where it contains 0 (None: no interval)."""
    if ci is None:
        return None
    return 1 if ci["lo"] > 0 else -1 if ci["hi"] < 0 else 0


def ci_text(ci, scale=1.0, digits=2):
    """'+1.23 [−0.45, +2.91]' (the difference and its 95% interval)."""
    if ci is None:
        return "—"
    f = f"{{:+.{digits}f}}"
    return (f.format(scale * ci["d"]) + " [" + f.format(scale * ci["lo"]) + ", "
            + f.format(scale * ci["hi"]) + "]")
