"""From offline estimates and a few exact counts to the job's total and its 95 % interval.

The design is two strata. The heaviest requests are counted exactly, all of them (they weigh most in the total
and vary most). The rest are represented by a simple random sample counted exactly; every one of them has an
offline estimate ``x``, and the sample's exact counts ``y`` calibrate those: the regression estimator
``Ŷ = Σ (a + b·x)`` over the rest, with ``a`` and ``b`` the sample's least-squares line (the ratio estimator
``Ŷ = R·X`` when the sample is too small for a line). Its variance is the textbook one, from the sample's
residuals with the finite-population correction, and the interval uses Student's t.

Without exact counts, the interval comes from the estimator's own error figures: each request's offline range
(``low``/``high``, meant to hold the real count nine times in ten). Requests built from one template share
their estimator's error (the same frame, tool prompt and system prompt, the same kind of text), so their errors
add up rather than cancel: the job's range is the sum of the requests' ranges, widened from 90 % to 95 %. A sum
of independent errors (√n) would be far too narrow for such a job.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

#: the sample size from which the regression line is fitted (below it, the ratio estimator)
MIN_REGRESSION = 20
Z95 = NormalDist().inv_cdf(0.975)
Z90 = NormalDist().inv_cdf(0.95)


def t_quantile(p: float, df: int) -> float:
    """Student's t quantile (Cornish–Fisher expansion; exact for 1 and 2 degrees of freedom)."""
    if df <= 0:
        return math.inf
    if df == 1:
        return math.tan(math.pi * (p - 0.5))
    if df == 2:
        return (2 * p - 1) / math.sqrt(2 * p * (1 - p))
    z = NormalDist().inv_cdf(p)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


@dataclass(frozen=True)
class Calibration:
    #: "offline" (no exact counts), "regression", "ratio", or "census" (every request counted exactly)
    method: str
    #: the line mapping a not-counted request's offline estimate to its expected exact count
    intercept: float
    slope: float
    total: float
    low: float
    high: float
    #: exact counts used: the heaviest, and the random sample
    heavy: int
    sample: int

    def predict(self, offline: float) -> float:
        return self.intercept + self.slope * offline


def offline_range(total: float, low: float | None, high: float | None) -> tuple[float, float] | None:
    """The job's 95 % range from the sums of the requests' 90 % ranges (errors of one template add up)."""
    if low is None or high is None:
        return None
    widen = Z95 / Z90
    return max(0.0, total - (total - low) * widen), total + (high - total) * widen


def calibrate(
    rows: int,
    offline_total: float,
    heavy: Sequence[tuple[float, float]],
    sample: Sequence[tuple[float, float]],
    offline_low: float | None,
    offline_high: float | None,
) -> Calibration:
    """``heavy``: (offline, exact) of the heaviest requests (a stratum counted whole); ``sample``: the same for a
    simple random sample of the other requests. Counts that failed are simply left out of both."""
    y_heavy = sum(y for _, y in heavy)
    n_rest = rows - len(heavy)
    x_rest = offline_total - sum(x for x, _ in heavy)
    m = len(sample)
    if not heavy and not sample:
        band = offline_range(offline_total, offline_low, offline_high)
        low, high = band if band is not None else (offline_total, offline_total)
        return Calibration("offline", 0.0, 1.0, offline_total, low, high, 0, 0)
    if n_rest <= 0 or m >= n_rest:  # every request counted exactly
        total = y_heavy + sum(y for _, y in sample)
        return Calibration("census", 0.0, 1.0, total, total, total, len(heavy), m)
    if m < 2:
        # too few for a variance: scale the rest by what was seen, and keep the offline range's relative width
        ratio = (sum(y for _, y in sample) / sum(x for x, _ in sample)) if m and sample[0][0] else 1.0
        if not m and heavy and sum(x for x, _ in heavy):
            ratio = y_heavy / sum(x for x, _ in heavy)
        total = y_heavy + ratio * x_rest
        band = offline_range(x_rest, _part(offline_low, offline_total, x_rest), _part(offline_high, offline_total, x_rest))
        lo, hi = band if band is not None else (x_rest, x_rest)
        return Calibration("ratio", 0.0, ratio, total, y_heavy + ratio * lo, y_heavy + ratio * hi, len(heavy), m)
    xs = [x for x, _ in sample]
    ys = [y for _, y in sample]
    x_bar = sum(xs) / m
    y_bar = sum(ys) / m
    sxx = sum((x - x_bar) ** 2 for x in xs)
    if m >= MIN_REGRESSION and sxx > 0:
        method = "regression"
        slope = sum((x - x_bar) * (y - y_bar) for x, y in sample) / sxx
        intercept = y_bar - slope * x_bar
        df = m - 2
    else:
        method = "ratio"
        slope = y_bar / x_bar if x_bar else 1.0
        intercept = 0.0
        df = m - 1
    residuals = [y - intercept - slope * x for x, y in sample]
    s2 = sum(e * e for e in residuals) / df if df > 0 else math.inf
    fpc = 1.0 - m / n_rest
    variance = n_rest * n_rest * fpc * s2 / m
    total = y_heavy + intercept * n_rest + slope * x_rest
    half = t_quantile(0.975, df) * math.sqrt(variance)
    known = y_heavy + sum(ys)  # the counted requests alone are a floor
    return Calibration(method, intercept, slope, total, max(known, total - half), total + half, len(heavy), m)


def _part(end: float | None, whole: float, part: float) -> float | None:
    """A range end of the whole, scaled to a part of it."""
    if end is None or not whole:
        return None
    return end * part / whole
