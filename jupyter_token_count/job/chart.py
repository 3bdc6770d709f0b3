"""The histogram of tokens per request: bins chosen once, drawn as Vega-Lite (JupyterLab renders it natively)
and as a plain SVG (everywhere else: GitHub, VS Code without a Vega renderer, HTML exports)."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable
from typing import Any

VEGALITE_MIME = "application/vnd.vegalite.v5+json"
SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
#: about this many bars
BARS = 24
#: a spread of sizes wider than this (largest / smallest) is drawn on a log axis
LOG_SPREAD = 50.0
BAR_COLOUR = "#4c78a8"
WINDOW_COLOUR = "#e45756"


def _nice(step: float) -> float:
    """The nearest 1, 2 or 5 × 10^k at or above ``step``."""
    if step <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(step))
    for m in (1, 2, 5, 10):
        if m * power >= step:
            return m * power
    return 10 * power


def histogram(points: Iterable[tuple[float, int]]) -> list[dict[str, Any]]:
    """Bins of ``(tokens, requests)`` points: ``[{"start", "end", "requests"}]``, contiguous, empty ones left out."""
    pts = [(t, n) for t, n in points if n > 0]
    if not pts:
        return []
    lo = min(t for t, _ in pts)
    hi = max(t for t, _ in pts)
    if lo > 0 and hi / lo >= LOG_SPREAD:
        # decades cut in 1-2-5 steps: readable edges on a log axis
        edges = []
        k = math.floor(math.log10(lo))
        while True:
            for m in (1, 2, 5):
                edges.append(m * 10.0**k)
            k += 1
            if edges[-1] > hi:
                break
        edges = [e for e in edges if e <= hi] + [next(e for e in edges if e > hi)]
        first = max(i for i, e in enumerate(edges) if e <= lo)
        edges = edges[first:]
    else:
        step = _nice(max(hi - lo, 1.0) / BARS)
        start = math.floor(lo / step) * step
        count = max(1, math.floor((hi - start) / step) + 1)
        edges = [start + i * step for i in range(count + 1)]
    counts = [0] * (len(edges) - 1)
    for t, n in pts:
        i = _bin(edges, t)
        counts[i] += n
    return [{"start": _num(edges[i]), "end": _num(edges[i + 1]), "requests": c} for i, c in enumerate(counts) if c]


def _bin(edges: list[float], t: float) -> int:
    lo, hi = 0, len(edges) - 2
    while lo < hi:  # the last edge at or below t
        mid = (lo + hi + 1) // 2
        if edges[mid] <= t:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _num(x: float) -> int | float:
    return int(x) if float(x).is_integer() else round(x, 6)


def is_log(bins: list[dict[str, Any]]) -> bool:
    if len(bins) < 2 or bins[0]["start"] <= 0:
        return False
    widths = [b["end"] - b["start"] for b in bins]
    return max(widths) / min(widths) > 3


def vegalite(bins: list[dict[str, Any]], *, exact: bool, window: int | None = None) -> dict[str, Any]:
    """A Vega-Lite v5 bar chart of the bins; a rule marks the context window when the bars come near it."""
    approx = "" if exact else "≈ "
    log = is_log(bins)
    x: dict[str, Any] = {
        "field": "start",
        "type": "quantitative",
        "title": f"{approx}input tokens per request",
        "scale": {"type": "log"} if log else {"zero": False},
        # compact labels (1.2k, 35k, 1.5M), and a plain 0
        "axis": {"format": "~s", "labelExpr": "datum.value == 0 ? '0' : datum.label"},
    }
    if not log:
        x["bin"] = {"binned": True}  # pre-binned: bars from start to end, standing on zero
    bars: dict[str, Any] = {
        "x": x,
        "x2": {"field": "end"},
        "y": {"field": "requests", "type": "quantitative", "title": "requests"},
    }
    if log:  # a log axis cannot be "binned": the bars' base is given instead
        bars["y2"] = {"datum": 0}
    layers: list[dict[str, Any]] = [
        {
            "mark": {"type": "bar", "color": BAR_COLOUR, "tooltip": True},
            "encoding": {
                **bars,
                "tooltip": [
                    {"field": "start", "title": "from", "format": ","},
                    {"field": "end", "title": "to", "format": ","},
                    {"field": "requests", "title": "requests", "format": ","},
                ],
            },
        }
    ]
    if window and bins and bins[-1]["end"] >= 0.5 * window:
        layers.append(
            {
                "data": {"values": [{"window": window}]},
                "mark": {"type": "rule", "color": WINDOW_COLOUR, "strokeDash": [4, 3]},
                "encoding": {"x": {"field": "window", "type": "quantitative"}},
            }
        )
    return {
        "$schema": SCHEMA,
        "description": "Input tokens per request of a job (histogram)",
        "width": 480,
        "height": 150,
        "data": {"values": bins},
        "layer": layers,
    }


def svg(bins: list[dict[str, Any]], *, exact: bool, width: int = 520, height: int = 170) -> str:
    """The same histogram as an SVG document (no script, no external resources)."""
    esc = html.escape
    left, right, top, bottom = 46, 12, 10, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    fg = "fill:var(--jp-ui-font-color2,#666)"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" font-family="sans-serif" font-size="10">',
        f"<title>{'' if exact else '≈ '}input tokens per request</title>",
    ]
    if not bins:
        out.append(f'<text x="{left}" y="{top + 20}" style="{fg}">no requests</text></svg>')
        return "".join(out)
    log = is_log(bins)
    x0, x1 = bins[0]["start"], bins[-1]["end"]

    def sx(v: float) -> float:
        if log:
            return left + plot_w * (math.log(v) - math.log(x0)) / (math.log(x1) - math.log(x0))
        return left + plot_w * (v - x0) / ((x1 - x0) or 1)

    top_count = max(b["requests"] for b in bins)
    for b in bins:
        h = plot_h * b["requests"] / top_count
        xa, xb = sx(b["start"]), sx(b["end"])
        out.append(
            f'<rect x="{xa:.1f}" y="{top + plot_h - h:.1f}" width="{max(xb - xa - 1, 1):.1f}" height="{h:.1f}" '
            f'style="fill:var(--jp-brand-color1,{BAR_COLOUR})"><title>{esc(_fmt(b["start"]))}–'
            f"{esc(_fmt(b['end']))} tokens: {b['requests']:,} requests</title></rect>"
        )
    axis_y = top + plot_h
    out.append(
        f'<line x1="{left}" y1="{axis_y}" x2="{left + plot_w}" y2="{axis_y}" '
        'style="stroke:var(--jp-border-color1,#999)"/>'
    )
    ticks = [x0, x1] if log else [x0, (x0 + x1) / 2, x1]
    if log:
        ticks = sorted({x0, x1, *(b["start"] for b in bins[:: max(1, len(bins) // 4)])})
    for t in ticks:
        anchor = "start" if t == x0 else "end" if t == x1 else "middle"
        out.append(f'<text x="{sx(t):.1f}" y="{axis_y + 13}" text-anchor="{anchor}" style="{fg}">{_fmt(t)}</text>')
    out.append(f'<text x="{left - 4}" y="{top + 8}" text-anchor="end" style="{fg}">{top_count:,}</text>')
    out.append(f'<text x="{left - 4}" y="{axis_y}" text-anchor="end" style="{fg}">0</text>')
    label = f"{'' if exact else '≈ '}input tokens per request{' (log scale)' if log else ''}"
    out.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 4}" text-anchor="middle" style="{fg}">{esc(label)}</text>'
    )
    out.append("</svg>")
    return "".join(out)


def _fmt(v: float) -> str:
    """Compact token figures for axis labels: 950, 1.2k, 35k, 1.5M."""
    for div, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            s = f"{v / div:.1f}".rstrip("0").rstrip(".")
            return s + suffix
    return f"{v:,.0f}"
