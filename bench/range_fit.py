"""Fitting the offline estimate's range (``jupyter_token_count/backends/offline/ranges.py``) on
leave-one-source-out errors, and measuring how often it holds the real count.

The distance above the estimate is ``Σ coefficient × feature``; its coefficients are a linear quantile
regression (non-negative terms) of the underestimates ``real − estimate`` at the ``TAU`` quantile, the distance
below the same for the overestimates. Each record weighs by the inverse of its size, so small requests count
as much as large ones (coverage is per record). The errors are leave-one-source-out (every source's records
estimated with figures fitted on the other sources), so the range describes sources the figures never saw;
a feature that fewer than ``MIN_COUNTS`` records carry keeps the prior declared here.

Pure Python (the script must run where only the package's own dependencies are installed).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from jupyter_token_count.backends.offline.ranges import FEATURES, bounds, half_widths, kind, margin_group

#: each side misses at most this share of records (the quantile fitted): the range holds the real count about 9
#: times in 10. The fallback's errors vary more from one source to the next, so it aims higher.
TAU = 0.95
FALLBACK_TAU = 0.97
#: a feature (or figure) carried by fewer records than this is not fitted: it keeps its prior
MIN_COUNTS = 5
#: a kind of request with at least this many records gets coefficients of its own
GROUP_MIN = 30
#: the smallest size a record weighs by (a 10-token request is not worth 50 of a 500-token one)
MIN_WEIGHT_SIZE = 50
#: priors for features the real counts cannot measure, in tokens per unit of the feature, the same on both
#: sides. PDFs: the PDF rule's own stated accuracy (±30%: extraction and rendering differ from Anthropic's);
#: content with no rule (its JSON): ±25%; a model whose tokenizer family is guessed: ±35%, the largest ratio
#: between two families' counts of the same text.
PRIORS: dict[str, float] = {
    "pdf_ktokens": 300.0,
    "unruled_ktokens": 250.0,
    "unknown_model_ktokens": 350.0,
}
#: the fallback's priors: the same (its own text error is measured on every record)
FALLBACK_PRIORS: dict[str, float] = {**PRIORS}
#: the least a coefficient may be, whatever the fit says, for what the real counts hold too few cases of: a
#: figure measured by fewer than five counts may be missing or doubled (±100% of its tokens: where a held-out
#: source alone measured a figure, its requests were off by all of it), and a tool-use prompt resting on fewer
#: than five counts (or only on the docs) by a tenth (the docs' sizes were off by 4–10% where counts exist); a
#: request with thinking by a token either way (the API's count of the very same thinking request drifted by a
#: token between recordings, as the real counts' notes show); and any request by one token in 2,000 of its size
#: (the real counts reach a few thousand tokens: longer text is tokenized as well as ctok reconstructs it, which
#: no count checks)
FLOORS: dict[str, float] = {
    "few_count_ktokens": 1000.0,
    "few_count_prompt_ktokens": 100.0,
    "thinking": 1.0,
    "ktokens": 0.5,
}
#: each kind's range gets the margin that makes it hold the real count on this share of the kind's records in
#: the fit (a little above nine in ten, so that it still does on sources the fit has not seen); the fallback's
#: errors vary more from one source to the next, so its margin aims higher
KIND_TARGET = {"ctok": 0.92, "fallback": 0.95}


@dataclass
class Row:
    """One labelled record as the range sees it: the estimate (leave-one-source-out), the real count and the
    features of the estimate."""

    rec: dict[str, Any]
    est: int
    real: int
    feats: dict[str, float]
    slices: tuple[str, ...] = field(default=())

    @property
    def weight(self) -> float:
        return 1.0 / max(self.est, MIN_WEIGHT_SIZE)


def _weighted_quantile(pairs: list[tuple[float, float]], tau: float) -> float:
    """The smallest value whose cumulative weight reaches ``tau`` of the total."""
    pairs.sort()
    total = sum(w for _, w in pairs)
    acc = 0.0
    for value, w in pairs:
        acc += w
        if acc >= tau * total - 1e-12:
            return value
    return pairs[-1][0]


def quantile_fit(
    xs: Sequence[Sequence[float]],
    ys: Sequence[float],
    ws: Sequence[float],
    tau: float,
    fixed: dict[int, float],
    sweeps: int = 60,
    floors: dict[int, float] | None = None,
) -> list[float]:
    """Non-negative coefficients β minimising Σ wᵢ ρ_τ(yᵢ − xᵢ·β) (the pinball loss of the τ-quantile), by
    coordinate descent: along one coordinate the minimum is a weighted τ-quantile of the residuals divided by
    the feature. Coordinates in ``fixed`` keep their value. Deterministic."""
    k = len(xs[0]) if xs else 0
    floors = floors or {}
    beta = [fixed.get(j, floors.get(j, 0.0)) for j in range(k)]
    pred = [sum(x[j] * beta[j] for j in range(k)) for x in xs]
    free = [j for j in range(k) if j not in fixed]
    for _ in range(sweeps):
        moved = 0.0
        for j in free:
            pairs = []
            for x, y, w, p in zip(xs, ys, ws, pred, strict=True):
                if x[j] > 0:
                    resid = y - (p - x[j] * beta[j])
                    pairs.append((resid / x[j], w * x[j]))
            if not pairs:
                continue
            new = max(floors.get(j, 0.0), _weighted_quantile(pairs, tau))
            if new != beta[j]:
                delta = new - beta[j]
                pred = [p + x[j] * delta for x, p in zip(xs, pred, strict=True)]
                moved = max(moved, abs(delta))
                beta[j] = new
        if moved < 1e-9:
            break
    return beta


def _fit_sides(rows: Sequence[Row], fallback: dict[str, float], tau: float) -> dict[str, dict[str, float]]:
    """Both sides' coefficients on ``rows``; a feature fewer than ``MIN_COUNTS`` of them carry keeps
    ``fallback[side][feature]`` (the pooled fit's, or a prior)."""
    carried = {f: sum(1 for r in rows if r.feats.get(f, 0) > 0) for f in FEATURES}
    floors = {j: FLOORS[f] for j, f in enumerate(FEATURES) if f in FLOORS}
    xs = [[r.feats.get(f, 0.0) for f in FEATURES] for r in rows]
    ws = [r.weight for r in rows]
    out: dict[str, dict[str, float]] = {}
    for side, sign in (("below", -1), ("above", 1)):
        scarce = {
            j: max(fallback[side].get(f, 0.0), FLOORS.get(f, 0.0))
            for j, f in enumerate(FEATURES)
            if carried[f] < MIN_COUNTS
        }
        ys = [sign * (r.real - r.est) for r in rows]
        beta = quantile_fit(xs, ys, ws, tau, scarce, floors=floors)
        out[side] = {f: _round(b) for f, b in zip(FEATURES, beta, strict=True) if _round(b) > 0}
    return out


def fit_coefficients(
    rows: Sequence[Row], priors: dict[str, float], tau: float = TAU, target: float = KIND_TARGET["ctok"]
) -> dict[str, Any]:
    """The range's coefficients on ``rows``: ``{"below": {feature: c}, "above": {feature: c}, "by_kind": {group:
    {"below": …, "above": …}}, "pad": {group: tokens}}``. The pooled fit serves kinds with fewer than
    ``GROUP_MIN`` records; a kind with more has its own (its errors are its own: the fallback's text errs in
    proportion to the text, a tool-use prompt by a fixed amount)."""
    out: dict[str, Any] = _fit_sides(rows, {"below": priors, "above": priors}, tau)
    groups: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        groups[margin_group(kind(r.feats))].append(r)
    out["by_kind"] = {g: _fit_sides(rs, out, tau) for g, rs in sorted(groups.items()) if len(rs) >= GROUP_MIN}
    out["pad"] = kind_pads(rows, out, target)
    return out


def _needed(distance: int, base: float) -> float:
    """The tokens to add to ``base`` so that it (rounded, halves up) reaches ``distance``."""
    return max(0.0, distance - 0.5 - base) if distance > 0 else 0.0


def kind_pads(rows: Sequence[Row], coefficients: dict[str, Any], target: float) -> dict[str, float]:
    """Per kind of request, the tokens added to both distances that make its range hold the real count on
    ``target`` of its records (none for a kind with fewer than ``MIN_COUNTS`` records): a kind whose
    features leave it too narrow (its errors are a token here and there) gets its own margin."""
    plain = {k: v for k, v in coefficients.items() if k != "pad"}
    need: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        below, above = half_widths(r.feats, plain)
        need[margin_group(kind(r.feats))].append(max(_needed(r.est - r.real, below), _needed(r.real - r.est, above)))
    out = {}
    for k in sorted(need):
        values = sorted(need[k])
        if len(values) < MIN_COUNTS:
            continue
        pad = values[min(len(values) - 1, math.ceil(target * len(values)) - 1)]
        if pad > 0:
            out[k] = _round(pad + 0.5)  # the pad is rounded with the distance: half a token more reaches it
    return out


def _round(value: float) -> float:
    """Three significant digits, nothing below a hundredth: what is shipped (and compared by ``--check``) is
    not float noise."""
    if abs(value) < 0.01:
        return 0.0
    digits = 2 - math.floor(math.log10(abs(value)))
    return round(value, max(0, digits))


def interval(row: Row, coefficients: dict[str, dict[str, float]]) -> tuple[int, int]:
    return bounds(row.est, *half_widths(row.feats, coefficients))


# ---- measuring -----------------------------------------------------------------------------------------


@dataclass
class Coverage:
    n: int
    held: float  # share of records whose range holds the real count
    median_half_width: float  # in % of the estimate
    p90_half_width: float
    median_half_tokens: float


def coverage(rows: Sequence[Row], ranges: Sequence[tuple[int, int]]) -> Coverage:
    held = sum(1 for r, (lo, hi) in zip(rows, ranges, strict=True) if lo <= r.real <= hi)
    halves = [(hi - lo) / 2 for lo, hi in ranges]
    pct = sorted(100.0 * h / max(1, r.est) for r, h in zip(rows, halves, strict=True))
    p90 = pct[min(len(pct) - 1, math.ceil(0.9 * len(pct)) - 1)] if pct else float("nan")
    return Coverage(
        n=len(rows),
        held=100.0 * held / max(1, len(rows)),
        median_half_width=statistics.median(pct) if pct else float("nan"),
        p90_half_width=p90,
        median_half_tokens=statistics.median(halves) if halves else float("nan"),
    )


def by_slice(
    rows: Sequence[Row], ranges: Sequence[tuple[int, int]], order: Iterable[str] = ()
) -> list[tuple[str, Coverage]]:
    """Coverage of every slice the rows name, in ``order`` first, then alphabetically."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        for s in r.slices:
            groups[s].append(i)
    first = [s for s in order if s in groups]
    rest = sorted(s for s in groups if s not in first)
    return [(s, coverage([rows[i] for i in groups[s]], [ranges[i] for i in groups[s]])) for s in [*first, *rest]]


def nested(
    sources: Sequence[str], rows_for: Callable[[str], tuple[list[Row], list[Row]]], priors: dict[str, float]
) -> dict[str, list[tuple[Row, tuple[int, int]]]]:
    """Per held-out source: its rows with ranges fitted only on the other sources' (leave-one-source-out)
    errors. ``rows_for(source)`` gives (rows of the others, rows of the held-out source), each estimated
    without the held-out source."""
    out: dict[str, list[tuple[Row, tuple[int, int]]]] = {}
    for src in sources:
        train, held = rows_for(src)
        coefficients = fit_coefficients(train, priors)
        out[src] = [(r, interval(r, coefficients)) for r in held]
    return out
