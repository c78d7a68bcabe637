"""Statistics over runs: a mean with its 95% confidence interval, and paired comparisons of two rows.

Runs of one leaderboard cell (its splits × seeds) are treated as independent draws. The interval is
Student's t interval over runs, ``mean ± t(0.975, n−1) · s / √n`` with ``s`` the sample standard
deviation (the t quantile from scipy.special.stdtrit, what scipy.stats.t.ppf computes; scipy.stats
itself is imported only for the paired tests, as it takes most of a second); it needs n ≥ 2. A paired comparison takes the per-run differences
A − B of runs that share (data, split, seed) and reports their mean, the t interval of that mean, a
paired t-test (scipy.stats.ttest_rel) and a Wilcoxon signed-rank test (scipy.stats.wilcoxon, exact
for small n, zero differences dropped as Wilcoxon proposed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import stdtrit

CONFIDENCE = 0.95
EQUAL = 1e-12  # metric differences closer than this are rounding, not a difference

METHOD_NOTE = ("mean ± half-width of the 95% Student t confidence interval over runs (splits × seeds), "
               "n = number of runs; n = 1 has no interval, and a metric that lies in [0, 1] shows 'n too small' "
               "where its interval would reach past 0 or 1 (the CSV has the interval clipped to [0, 1])")
PROPORTION = (0.0, 1.0)


@dataclass(frozen=True)
class Estimate:
    """The mean of ``n`` runs and its confidence interval (NaN bounds when n < 2; ``clipped`` when the
    interval reached past the metric's bounds and was cut there)."""

    mean: float
    low: float
    high: float
    n: int
    clipped: bool = False

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def mean_ci(values, confidence: float = CONFIDENCE, bounds: tuple[float, float] | None = None) -> Estimate:
    """The mean of the finite ``values`` with Student's t interval; NaN values are not runs of this cell.

    ``bounds``: the range of the metric (``PROPORTION`` for rates, areas, accuracies); an interval reaching
    past it is clipped to it and marked ``clipped`` (too few runs for the t interval to be informative)."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    mean = float(x.mean())
    if n == 1:
        return Estimate(mean, math.nan, math.nan, 1)
    half = float(stdtrit(n - 1, (1 + confidence) / 2) * x.std(ddof=1) / math.sqrt(n))
    low, high = mean - half, mean + half
    if bounds is not None and (low < bounds[0] or high > bounds[1]):
        return Estimate(mean, max(low, bounds[0]), min(high, bounds[1]), n, clipped=True)
    return Estimate(mean, low, high, n)


def format_estimate(estimate: Estimate, digits: int = 4) -> str:
    """``0.9081 ± 0.0155 (n=5)``; a single run ``0.9081 (n=1)``; a clipped interval ``0.9398 (n=2, n too
    small)``; no run ``-``."""
    if estimate.n == 0:
        return "-"
    if estimate.n == 1:
        return f"{estimate.mean:.{digits}f} (n=1)"
    if estimate.clipped:
        return f"{estimate.mean:.{digits}f} (n={estimate.n}, n too small)"
    return f"{estimate.mean:.{digits}f} ± {estimate.half_width:.{digits}f} (n={estimate.n})"


@dataclass(frozen=True)
class PairedTest:
    """The comparison of two rows on one metric over their paired runs."""

    difference: Estimate  # of A − B
    t_pvalue: float  # paired t-test, two-sided; NaN where undefined (see ``note``)
    wilcoxon_pvalue: float  # Wilcoxon signed-rank, two-sided; NaN where undefined
    note: str  # why a test is missing, or ""


def paired_test(a, b, confidence: float = CONFIDENCE) -> PairedTest:
    """Compare paired runs ``a[i]`` and ``b[i]``; pairs where either value is missing are not used.

    * n < 2 pairs: the difference alone, no interval and no test.
    Differences within ``EQUAL`` of each other (float rounding of equal metrics) count as equal.

    * all differences zero: interval [0, 0] and both p-values 1 (no evidence of any difference).
    * equal non-zero differences: the t-test is undefined (zero variance); Wilcoxon is still reported.
    """
    from scipy import stats

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    keep = np.isfinite(a) & np.isfinite(b)
    d = a[keep] - b[keep]
    n = len(d)
    estimate = mean_ci(d, confidence)
    if n < 2:
        return PairedTest(estimate, math.nan, math.nan, f"n={n} pair{'s' if n != 1 else ''}: no test")
    if np.all(np.abs(d) <= EQUAL):
        return PairedTest(Estimate(0.0, 0.0, 0.0, n), 1.0, 1.0, "all differences are zero")
    wilcoxon = float(stats.wilcoxon(d).pvalue)
    if np.ptp(d) <= EQUAL:
        return PairedTest(Estimate(float(d[0]), float(d[0]), float(d[0]), n), math.nan, wilcoxon,
                          "all differences equal: no t-test (zero variance)")
    t_pvalue = float(stats.ttest_rel(a[keep], b[keep]).pvalue)
    return PairedTest(estimate, t_pvalue, wilcoxon, "")
