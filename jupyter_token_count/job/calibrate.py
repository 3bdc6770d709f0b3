"""From offline estimates and a few exact counts to the job's total and its 95 % interval.

The offline estimator's error is mostly shared by requests of one kind: a tool-use prompt figure, an image rule,
a tokenizer's frame are the same for every request that has them. So the job is split into strata by kind of
request (tokenizer family; tools, images, documents, thinking: ``scan.kind_of``), plus the heaviest requests,
which are counted exactly, all of them (they weigh most in the total and vary most). In each stratum a simple
random sample is counted exactly (the sample shared out in proportion to the strata's offline tokens, at least
``MIN_PER_STRATUM`` each), and the stratum's total is the regression estimator ``Σ (a + b·x)`` over its requests'
offline estimates ``x``, with ``a`` and ``b`` the sample's least-squares line (the ratio estimator ``R·X`` below
``MIN_REGRESSION`` sampled requests). Each stratum's variance is the jackknife's (it holds up where the textbook
residual formula is too small: few requests, uneven sizes, residuals growing with size), with the
finite-population correction; the interval uses Student's t with Satterthwaite's degrees of freedom.

Without exact counts, the interval comes from the estimator's own error figures: each request's offline range
(``low``/``high``, meant to hold the real count nine times in ten). Requests built from one template share their
estimator's error (the same frame, tool prompt and system prompt, the same kind of text), so their errors add up
rather than cancel: the job's range is the sum of the requests' ranges, widened from 90 % to 95 %. A sum of
independent errors (√n) would be far too narrow for such a job.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist

#: sampled requests in a stratum from which its regression line is fitted (below, the ratio estimator)
MIN_REGRESSION = 10
#: every stratum gets at least this many sampled requests (or all it has)
MIN_PER_STRATUM = 10
Z95 = NormalDist().inv_cdf(0.975)
Z90 = NormalDist().inv_cdf(0.95)


def t_quantile(p: float, df: float) -> float:
    """Student's t quantile (Cornish–Fisher expansion; exact for 1 and 2 degrees of freedom)."""
    if df < 1:
        df = 1
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


def offline_range(total: float, low: float | None, high: float | None) -> tuple[float, float] | None:
    """A 95 % range from the sums of the requests' 90 % ranges (errors of one kind of request add up)."""
    if low is None or high is None:
        return None
    widen = Z95 / Z90
    return max(0.0, total - (total - low) * widen), total + (high - total) * widen


@dataclass(frozen=True)
class Stratum:
    """The requests of one kind that were not counted among the heaviest."""

    name: str
    rows: int
    offline: float
    #: (offline, exact) of its random sample (the counts that failed are left out)
    sample: Sequence[tuple[float, float]] = ()
    #: Σ of its requests' offline range ends (None: no error figures)
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class Line:
    """How a stratum's requests that were not counted are predicted: ``intercept + slope × offline``."""

    #: "regression", "ratio", "census" (all counted) or "offline" (none counted: the estimate as it is)
    estimator: str
    intercept: float = 0.0
    slope: float = 1.0
    rows: int = 0
    sampled: int = 0


@dataclass(frozen=True)
class Calibration:
    #: "offline" (no exact counts), "calibrated", or "census" (every request counted exactly)
    method: str
    total: float
    low: float
    high: float
    lines: dict[str, Line] = field(default_factory=dict)
    heavy: int = 0
    sample: int = 0

    def predict(self, offline: float, stratum: str) -> float:
        line = self.lines.get(stratum)
        return offline if line is None else line.intercept + line.slope * offline


def _sums(sample: Sequence[tuple[float, float]]) -> tuple[float, float, float, float, float]:
    n = float(len(sample))
    return (
        n,
        sum(x for x, _ in sample),
        sum(y for _, y in sample),
        sum(x * x for x, _ in sample),
        sum(x * y for x, y in sample),
    )


def _line(s: tuple[float, float, float, float, float], regression: bool) -> tuple[float, float] | None:
    """(intercept, slope) of the sample's sums, or None when it has no line (no spread, nothing offline)."""
    n, sx, sy, sxx, sxy = s
    if n <= 0:
        return None
    if regression:
        d = sxx - sx * sx / n
        if d <= 1e-9 * max(sxx, 1.0):
            return None
        slope = (sxy - sx * sy / n) / d
        return sy / n - slope * sx / n, slope
    return (0.0, sy / sx) if sx > 0 else None


def _stratum(st: Stratum) -> tuple[Line, float, float, float, float]:
    """(line, estimated total, jackknife variance, its degrees of freedom, half-width not from sampling)."""
    m = len(st.sample)
    if st.rows <= 0:  # all its requests were among the heaviest, counted
        return Line("census"), 0.0, 0.0, 0.0, 0.0
    if m == 0:
        band = offline_range(st.offline, st.low, st.high)
        spread = 0.0 if band is None else max(st.offline - band[0], band[1] - st.offline)
        return Line("offline", rows=st.rows), st.offline, 0.0, 0.0, spread
    if m >= st.rows:
        return Line("census", rows=st.rows, sampled=m), sum(y for _, y in st.sample), 0.0, 0.0, 0.0
    full = _sums(st.sample)
    regression = m >= MIN_REGRESSION
    fitted = _line(full, regression)
    if fitted is None and regression:
        regression, fitted = False, _line(full, False)
    if fitted is None:  # nothing to scale by: the estimate as it is
        return Line("offline", rows=st.rows, sampled=m), st.offline, 0.0, 0.0, 0.0
    a, b = fitted
    total = a * st.rows + b * st.offline
    if m < 2:  # no variance from one request: the offline range, scaled like the estimate
        band = offline_range(st.offline, st.low, st.high)
        spread = 0.0 if band is None else b * max(st.offline - band[0], band[1] - st.offline)
        return Line("ratio", a, b, st.rows, m), total, 0.0, 0.0, spread
    # the jackknife: the estimate again without each sampled request in turn
    leave = []
    for x, y in st.sample:
        part = _line((full[0] - 1, full[1] - x, full[2] - y, full[3] - x * x, full[4] - x * y), regression)
        if part is None:
            part = (a, b)
        leave.append(part[0] * st.rows + part[1] * st.offline)
    mean = sum(leave) / m
    fpc = 1.0 - m / st.rows
    variance = fpc * (m - 1) / m * sum((v - mean) ** 2 for v in leave)
    df = m - (2 if regression else 1)
    return Line("regression" if regression else "ratio", a, b, st.rows, m), total, variance, float(df), 0.0


def calibrate(strata: Sequence[Stratum], heavy: Sequence[tuple[float, float]] = ()) -> Calibration:
    """The job's total and 95 % interval from its strata and its heaviest requests counted exactly (``heavy``:
    (offline, exact) pairs; those that failed to count belong to their stratum's ``rows`` instead)."""
    lines: dict[str, Line] = {}
    total = sum(y for _, y in heavy)
    known = total  # what was counted exactly is a floor
    variance = 0.0
    satterthwaite = 0.0
    spread = 0.0
    sampled = 0
    for st in strata:
        line, est, var, df, other = _stratum(st)
        lines[st.name] = line
        total += est
        variance += var
        if var > 0 and df > 0:
            satterthwaite += var * var / df
        spread += other
        sampled += line.sampled
        known += sum(y for _, y in st.sample)
    if not heavy and not sampled:
        band = offline_range(total, _sum(s.low for s in strata), _sum(s.high for s in strata))
        low, high = band if band is not None else (total, total)
        return Calibration("offline", total, low, high, lines)
    if all(line.estimator == "census" for line in lines.values()):
        return Calibration("census", total, total, total, lines, len(heavy), sampled)
    df = variance * variance / satterthwaite if satterthwaite > 0 else 1.0
    half = (t_quantile(0.975, df) * math.sqrt(variance) if variance > 0 else 0.0) + spread
    total = max(total, known)
    return Calibration("calibrated", total, max(known, total - half), total + half, lines, len(heavy), sampled)


def _sum(values: Iterable[float | None]) -> float | None:
    total = 0.0
    for v in values:
        if v is None:
            return None
        total += v
    return total


def allocate(sample: int, strata: dict[str, tuple[int, float]]) -> dict[str, int]:
    """Share ``sample`` out over strata {name: (rows, offline tokens)} in proportion to their offline tokens, at
    least ``MIN_PER_STRATUM`` each (or all its rows); more than ``sample`` only when the minimums need it."""
    out = {n: min(rows, MIN_PER_STRATUM) if sample > 0 else 0 for n, (rows, _) in strata.items()}
    weight = {n: max(tokens, 1.0) for n, (rows, tokens) in strata.items() if rows > 0}
    total = sum(weight.values())
    for _ in range(max(0, sample - sum(out.values()))):
        # one more to the stratum furthest below its proportional share
        open_ = [n for n in weight if out[n] < strata[n][0]]
        if not open_:
            break
        best = max(open_, key=lambda n: (sample * weight[n] / total - out[n], n))
        out[best] += 1
    return out
