"""Statistics for the benchmark scripts: paired differences, multiplicity corrections, correlations.

Pure functions on plain sequences of floats, built on :mod:`scipy.stats`. Bad input (lengths that
differ, too few points, NaN or infinity, p-values outside [0, 1], an unknown method) raises
:class:`ValueError` naming the problem.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class PairedDifference:
    """The difference ``a - b`` of two paired samples; see :func:`paired_difference`.

    ``n`` pairs; ``mean`` and ``std`` (``ddof=1``) of the differences ``a_i - b_i``; ``ci_low`` and
    ``ci_high``, the t interval of the mean (``n - 1`` degrees of freedom) at ``confidence``; ``t``
    and ``p``, the paired t statistic ``mean / (std / sqrt(n))`` and its two-sided p-value;
    ``wins``, ``losses`` and ``ties``, the pairs with ``a_i >``, ``<`` and ``== b_i``.
    """

    n: int
    mean: float
    std: float
    ci_low: float
    ci_high: float
    t: float
    p: float
    wins: int
    losses: int
    ties: int
    confidence: float


def _pair(a: Sequence[float], b: Sequence[float], names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """``a`` and ``b`` as float arrays, checked flat, finite and of one length."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    for array, name in zip((x, y), names):
        if array.ndim != 1:
            raise ValueError(f"{name} must be a flat sequence of numbers, got shape {array.shape}")
        if not np.isfinite(array).all():
            raise ValueError(f"{name} contains NaN or infinity")
    if len(x) != len(y):
        raise ValueError(f"{names[0]} and {names[1]} differ in length ({len(x)} vs {len(y)})")
    return x, y


def _p_values(p_values: Sequence[float]) -> np.ndarray:
    p = np.asarray(p_values, dtype=float).reshape(-1)
    if np.isnan(p).any():
        raise ValueError("p-values contain NaN")
    outside = p[(p < 0) | (p > 1)]
    if outside.size:
        raise ValueError(f"p-values must lie in [0, 1], got {outside[0]}")
    return p


def paired_difference(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> PairedDifference:
    """The mean of ``a_i - b_i``, its t interval, the paired t-test and the win / loss / tie counts.

    When every difference is identical (``std`` 0), ``t`` is ``+inf`` or ``-inf`` and ``p`` 0.0, or
    ``t`` is ``nan`` and ``p`` 1.0 when they are all 0; the interval is the point ``mean``.
    Differences equal only up to floating-point rounding have a tiny ``std`` and a huge ``t``.

    Args:
        a: first sample, e.g. the AUROC of method A per seed.
        b: second sample, paired with ``a`` by index.
        confidence: confidence level of the interval, in (0, 1).

    Returns:
        The :class:`PairedDifference` of ``a - b``.

    Examples:
        >>> d = paired_difference([0.80, 0.75, 0.90], [0.70, 0.72, 0.85])
        >>> d.n, round(d.mean, 4), d.wins, d.losses, d.ties
        (3, 0.06, 3, 0, 0)
        >>> round(d.ci_low, 4), round(d.ci_high, 4), round(d.p, 4)
        (-0.0296, 0.1496, 0.1022)
        >>> paired_difference([1.0, 2.0], [0.0, 1.0]).p
        0.0
    """
    x, y = _pair(a, b, ("a", "b"))
    if len(x) < 2:
        raise ValueError(f"need at least 2 pairs, got {len(x)}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    d = x - y
    n, mean, std = len(d), float(d.mean()), float(d.std(ddof=1))
    half = float(stats.t.ppf((1 + confidence) / 2, n - 1)) * std / math.sqrt(n)
    if std == 0:
        t, p = (math.nan, 1.0) if mean == 0 else (math.copysign(math.inf, mean), 0.0)
    else:
        result = stats.ttest_rel(x, y)
        t, p = float(result.statistic), float(result.pvalue)
    return PairedDifference(n=n, mean=mean, std=std, ci_low=mean - half, ci_high=mean + half, t=t, p=p,
                            wins=int((d > 0).sum()), losses=int((d < 0).sum()), ties=int((d == 0).sum()),
                            confidence=confidence)


def summary_difference(mean: float, std: float, n: int, confidence: float = 0.95) -> dict[str, Any]:
    """The paired t interval and test of a difference known only by its mean, std (``ddof=1``) and ``n``.

    For published tables that kept the summary of the per-seed differences but not the values:
    the same interval and two-sided p-value as :func:`paired_difference` would give on the values.

    Args:
        mean: mean of the paired differences.
        std: their standard deviation (``ddof=1``), >= 0.
        n: the number of pairs, >= 2.
        confidence: confidence level of the interval, in (0, 1).

    Returns:
        ``{"n", "mean", "std", "ci_low", "ci_high", "t", "p", "confidence"}``.

    Examples:
        >>> d = summary_difference(0.06, 0.0360555, 3)   # the differences 0.10, 0.03, 0.05
        >>> round(d["p"], 4), round(d["ci_low"], 4)
        (0.1022, -0.0296)
    """
    if n < 2:
        raise ValueError(f"need at least 2 pairs, got {n}")
    if not (math.isfinite(mean) and math.isfinite(std)) or std < 0:
        raise ValueError(f"mean and std must be finite and std >= 0; got {mean}, {std}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    half = float(stats.t.ppf((1 + confidence) / 2, n - 1)) * std / math.sqrt(n)
    if std == 0:
        t, p = (math.nan, 1.0) if mean == 0 else (math.copysign(math.inf, mean), 0.0)
    else:
        t = mean / (std / math.sqrt(n))
        p = float(2 * stats.t.sf(abs(t), n - 1))
    return {"n": n, "mean": mean, "std": std, "ci_low": mean - half, "ci_high": mean + half, "t": t, "p": p,
            "confidence": confidence}


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1), in the input order.

    The ``k``-th smallest of ``m`` p-values times ``m - k + 1``, as a running maximum from the smallest.

    Args:
        p_values: raw p-values of one family of tests, each in [0, 1].

    Returns:
        The adjusted p-values, in the order given.

    Examples:
        >>> [round(p, 6) for p in holm([0.01, 0.04, 0.03, 0.005])]
        [0.03, 0.06, 0.06, 0.02]
    """
    p = _p_values(p_values)
    order = np.argsort(p, kind="stable")
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(np.maximum.accumulate(p[order] * np.arange(len(p), 0, -1)), 1.0)
    return adjusted.tolist()


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted q-values (step-up, monotone, capped at 1), in the input order.

    The ``k``-th smallest of ``m`` p-values times ``m / k``, as a running minimum from the largest.

    Args:
        p_values: raw p-values of one family of tests, each in [0, 1].

    Returns:
        The q-values, in the order given.

    Examples:
        >>> [round(q, 6) for q in benjamini_hochberg([0.01, 0.04, 0.03, 0.005])]
        [0.02, 0.04, 0.04, 0.02]
    """
    p = _p_values(p_values)
    return stats.false_discovery_control(p, method="bh").tolist() if p.size else []


def compare(pairs: Mapping[str, tuple[Sequence[float], Sequence[float]]],
            confidence: float = 0.95) -> list[dict[str, Any]]:
    """The paired difference of each named contrast, Holm-corrected over the whole family given.

    Args:
        pairs: contrast name to its ``(a, b)`` samples (see :func:`paired_difference`); every
            contrast given is a member of the family.
        confidence: confidence level of the intervals, in (0, 1).

    Returns:
        One dict per contrast, in the order given: ``name``, the :class:`PairedDifference` fields
        and ``p_holm``.

    Examples:
        >>> rows = compare({"A - B": ([0.80, 0.75, 0.90], [0.70, 0.72, 0.85]),
        ...                 "A - C": ([0.80, 0.75, 0.90], [0.81, 0.74, 0.90])})
        >>> [(r["name"], round(r["p"], 4), round(r["p_holm"], 4)) for r in rows]
        [('A - B', 0.1022, 0.2045), ('A - C', 1.0, 1.0)]
    """
    if not pairs:
        raise ValueError("no contrasts given")
    rows = []
    for name, (a, b) in pairs.items():
        try:
            rows.append({"name": name, **asdict(paired_difference(a, b, confidence))})
        except ValueError as error:
            raise ValueError(f"contrast {name!r}: {error}") from None
    for row, p_holm in zip(rows, holm([row["p"] for row in rows])):
        row["p_holm"] = p_holm
    return rows


def verdict(row: Mapping[str, Any], alpha: float = 0.05, better: str = "better", worse: str = "worse") -> str:
    """The reading of one :func:`compare` row at level ``alpha``, on its Holm-adjusted p-value.

    Args:
        row: a row of :func:`compare` (``n``, ``mean`` and ``p_holm`` are read).
        alpha: significance level of the family.
        better: the reading when ``p_holm < alpha`` and ``mean > 0``.
        worse: the reading when ``p_holm < alpha`` and ``mean < 0``.

    Returns:
        ``better``, ``worse``, or ``"not shown at n = {n}"``.

    Examples:
        >>> verdict({"n": 8, "mean": -0.02, "p_holm": 0.01}, worse="DIA is worse")
        'DIA is worse'
        >>> verdict({"n": 8, "mean": 0.02, "p_holm": 0.2})
        'not shown at n = 8'
    """
    if row["p_holm"] < alpha and row["mean"] > 0:
        return better
    if row["p_holm"] < alpha and row["mean"] < 0:
        return worse
    return f"not shown at n = {row['n']}"


def _undefined(x: np.ndarray, y: np.ndarray) -> str | None:
    """Why the correlation of ``x`` and ``y`` is undefined, or None when it is defined."""
    if len(x) < 3:
        return f"fewer than 3 points ({len(x)})"
    return next((f"{name} is constant" for name, v in (("x", x), ("y", y)) if np.ptp(v) == 0), None)


def correlation(x: Sequence[float], y: Sequence[float], method: str = "pearson") -> tuple[float, float]:
    """Pearson's or Spearman's correlation coefficient of ``x`` and ``y``, with its two-sided p-value.

    Args:
        x: first variable.
        y: second variable, paired with ``x`` by index.
        method: ``"pearson"`` (:func:`scipy.stats.pearsonr`) or ``"spearman"`` (:func:`scipy.stats.spearmanr`).

    Returns:
        ``(coefficient, p)``.

    Examples:
        >>> round(correlation([1, 2, 3, 4], [1, 3, 2, 4], method="spearman")[0], 6)
        0.8
    """
    if method not in ("pearson", "spearman"):
        raise ValueError(f"unknown method {method!r}; use 'pearson' or 'spearman'")
    xs, ys = _pair(x, y, ("x", "y"))
    if (reason := _undefined(xs, ys)) is not None:
        raise ValueError(f"correlation undefined: {reason}")
    result = (stats.pearsonr if method == "pearson" else stats.spearmanr)(xs, ys)
    return float(result.statistic), float(result.pvalue)


def stratified_correlation(x: Sequence[float], y: Sequence[float], strata: Sequence[Hashable],
                           method: str = "pearson") -> dict[str, Any]:
    """The correlation of ``x`` and ``y`` pooled and within each stratum.

    Args:
        x: first variable.
        y: second variable, paired with ``x`` by index.
        strata: the stratum label of each point.
        method: ``"pearson"`` or ``"spearman"``.

    Returns:
        ``{"method", "coefficient", "p", "n", "strata"}``: the pooled correlation and, per stratum
        in order of first appearance, ``{"coefficient", "p", "n", "note"}``. A stratum with fewer
        than 3 points or a constant variable has ``nan`` coefficient and p, and the reason in
        ``note`` (None otherwise).

    Examples:
        >>> r = stratified_correlation([1, 2, 3, 4, 5], [2, 1, 4, 3, 5], ["a", "a", "a", "b", "b"])
        >>> round(r["coefficient"], 2), r["strata"]["a"]["n"], r["strata"]["b"]["note"]
        (0.8, 3, 'fewer than 3 points (2)')
    """
    coefficient, p = correlation(x, y, method)
    xs, ys = _pair(x, y, ("x", "y"))
    if len(strata) != len(xs):
        raise ValueError(f"x and strata differ in length ({len(xs)} vs {len(strata)})")
    per_stratum = {}
    for label in dict.fromkeys(strata):
        mask = np.array([s == label for s in strata])
        reason = _undefined(xs[mask], ys[mask])
        r, q = (math.nan, math.nan) if reason else correlation(xs[mask], ys[mask], method)
        per_stratum[label] = {"coefficient": r, "p": q, "n": int(mask.sum()), "note": reason}
    return {"method": method, "coefficient": coefficient, "p": p, "n": len(xs), "strata": per_stratum}


def _p_text(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:#.3g}"


def format_contrasts(rows: Sequence[Mapping[str, Any]], digits: int = 3) -> str:
    """A Markdown table of :func:`compare`'s rows, read by :func:`verdict` at its defaults.

    Differences are signed, with ``digits`` decimals; p-values have 3 significant digits
    (``<0.001`` below 0.001); ties, when any, follow the wins / losses; the interval's column is
    named after the first row's confidence.

    Args:
        rows: rows of :func:`compare`.
        digits: decimals of the mean difference and the interval.

    Returns:
        The table: header, separator and one line per row, no trailing newline.

    Examples:
        >>> print(format_contrasts(compare({"A - B": ([0.80, 0.75, 0.90], [0.70, 0.72, 0.85])})))
        | contrast | n | mean difference | 95 % CI | p | p (Holm) | wins / losses | reading |
        | --- | --- | --- | --- | --- | --- | --- | --- |
        | A - B | 3 | +0.060 | [-0.030, +0.150] | 0.102 | 0.102 | 3 / 0 | not shown at n = 3 |
    """
    level = f"{rows[0]['confidence'] * 100:g}" if rows else "95"
    lines = [f"| contrast | n | mean difference | {level} % CI | p | p (Holm) | wins / losses | reading |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        name = str(r["name"]).replace("|", "\\|")
        record = f"{r['wins']} / {r['losses']}" + (f" ({r['ties']} tied)" if r["ties"] else "")
        lines.append(f"| {name} | {r['n']} | {r['mean']:+.{digits}f} | [{r['ci_low']:+.{digits}f}, "
                     f"{r['ci_high']:+.{digits}f}] | {_p_text(r['p'])} | {_p_text(r['p_holm'])} | {record} | "
                     f"{verdict(r)} |")
    return "\n".join(lines)
