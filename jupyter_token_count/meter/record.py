"""One metered call: what was predicted before it left, what the API reported after, and its one-line rendering."""

from __future__ import annotations

import html
import threading
from dataclasses import dataclass, field
from typing import Any

from ..formatting import WARN_FRACTION, edited_note, format_cost, format_likely, format_share, format_tokens


@dataclass
class CallRecord:
    """A Messages request seen on the wire. ``predicted_input_tokens`` is the whole input (what count_tokens
    says); compare it with ``input_tokens + cache_creation_input_tokens + cache_read_input_tokens``."""

    model: str
    kind: str = "message"  # "message" | "batch" (one record per request of a batch)
    execution_count: int | None = None
    stream: bool = False
    custom_id: str | None = None
    max_tokens: int | None = None
    # -- before sending
    predicted_input_tokens: int | None = None
    #: the prediction's range (``TokenCount.low/high``): the real count is within it nine times in ten
    predicted_low: int | None = None
    predicted_high: int | None = None
    exact: bool | None = None
    count_note: str | None = None  # why a prediction is an estimate, or why counting failed
    #: with context editing: the count before the edits (``predicted_input_tokens`` is after them)
    predicted_original_input_tokens: int | None = None
    predicted_cost_usd: float | None = None
    #: what the top of the range would cost (for strict budgets)
    predicted_cost_usd_high: float | None = None
    max_output_cost_usd: float | None = None
    context_window: int | None = None
    #: predicted cache split (≈: prefix sizes are estimated shares of the count)
    predicted_cache_write_5m: int = 0
    predicted_cache_write_1h: int = 0
    predicted_cache_read: int = 0
    # -- after the response
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cost_usd: float | None = None
    status: str = "counting"  # counting → sent → done | error | partial | submitted | blocked
    error: str | None = None
    batch_id: str | None = None
    #: False once the prediction is in (or could not be had)
    predicting: bool = True
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def actual_input_total(self) -> int | None:
        if self.input_tokens is None:
            return None
        return self.input_tokens + (self.cache_creation_input_tokens or 0) + (self.cache_read_input_tokens or 0)

    @property
    def context_fraction(self) -> float | None:
        n = self.predicted_input_tokens
        return None if n is None or not self.context_window else n / self.context_window

    def spent_tokens(self) -> int:
        """What this call counts towards a session's token budget: the actual input once known, else the prediction."""
        actual = self.actual_input_total
        return actual if actual is not None else (self.predicted_input_tokens or 0)

    def budgeted_tokens(self, strict: bool) -> int:
        """What a budget checks of this call before it is sent: the prediction, or strictly the top of its range."""
        n = self.predicted_input_tokens or 0
        return max(n, self.predicted_high or 0) if strict and not self.exact else n

    def budgeted_usd(self, strict: bool) -> float | None:
        if strict and not self.exact and self.predicted_cost_usd_high is not None:
            return self.predicted_cost_usd_high
        return self.predicted_cost_usd

    def spent_usd(self) -> float:
        if self.cost_usd is not None:
            return self.cost_usd
        return self.predicted_cost_usd or 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "execution_count": self.execution_count,
            "kind": self.kind,
            "custom_id": self.custom_id,
            "model": self.model,
            "stream": self.stream,
            "status": self.status,
            "predicted_input_tokens": self.predicted_input_tokens,
            "predicted_low": self.predicted_low,
            "predicted_high": self.predicted_high,
            "predicted_original_input_tokens": self.predicted_original_input_tokens,
            "exact": self.exact,
            "count_note": self.count_note,
            "predicted_cost_usd": self.predicted_cost_usd,
            "max_output_cost_usd": self.max_output_cost_usd,
            "context_fraction": self.context_fraction,
            "predicted_cache_write_tokens": self.predicted_cache_write_5m + self.predicted_cache_write_1h,
            "predicted_cache_read_tokens": self.predicted_cache_read,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cost_usd": self.cost_usd,
            "error": self.error,
        }


def _sum(values: list[float | None]) -> float | None:
    return None if any(v is None for v in values) else sum(v for v in values if v is not None)


# The line's parts, one small function each; '' leaves a part out.


def _head(recs: list[CallRecord], batch: bool) -> str:
    r0 = recs[0]
    return r0.model + (f" · batch of {len(recs)}" if batch else "") + (" · stream" if r0.stream else "")


def _not_counted(recs: list[CallRecord]) -> str:
    return "counting…" if any(r.predicting for r in recs) else "input not counted"


def _predicted_range(recs: list[CallRecord], total: int, exact: bool) -> str:
    low, high = _sum([r.predicted_low for r in recs]), _sum([r.predicted_high for r in recs])
    return format_likely(total, None if low is None else int(low), None if high is None else int(high), exact)


def _edited(recs: list[CallRecord], exact: bool) -> str:
    originals = [r.predicted_original_input_tokens for r in recs if r.predicted_original_input_tokens is not None]
    return edited_note(sum(originals), exact) if originals else ""


def _predicted_in(recs: list[CallRecord], batch: bool) -> str:
    """``in ≈1,234, likely 1,228–1,241 (≈$0.0037)``: the predicted input, its range, context editing and cost."""
    total = sum(r.predicted_input_tokens or 0 for r in recs)
    exact = all(r.exact for r in recs)
    likely = _predicted_range(recs, total, exact)
    edited = _edited(recs, exact)
    cost = format_cost(_sum([r.predicted_cost_usd for r in recs]), exact) + (" at batch price" if batch else "")
    return f"in {format_tokens(total, exact)}{f', {likely}' if likely else ''}{' ' + edited if edited else ''} ({cost})"


def _window_share(r0: CallRecord) -> str:
    frac = r0.context_fraction
    if frac is None:
        return ""
    if frac > 1:
        return f"OVER the {format_tokens(r0.context_window or 0, True)}-token window"
    return f"{format_share(frac)} of window"


def _cache(written: int, read: int, exact: bool) -> str:
    """``cache 1,024 written + 2,048 read``, or '' without cache traffic."""
    pieces = [f"{format_tokens(n, exact)} {what}" for n, what in ((written, "written"), (read, "read")) if n]
    return "cache " + " + ".join(pieces) if pieces else ""


def _predicted_cache(recs: list[CallRecord]) -> str:
    # prefix sizes are estimated shares of the count: always ≈
    written = sum(r.predicted_cache_write_5m + r.predicted_cache_write_1h for r in recs)
    return _cache(written, sum(r.predicted_cache_read for r in recs), exact=False)


def _output_cap(recs: list[CallRecord]) -> str:
    out = _sum([r.max_output_cost_usd for r in recs])
    return "" if out is None else f"≤{format_cost(out)} out"


def _prediction(recs: list[CallRecord], batch: bool) -> list[str]:
    """What was predicted before sending; a batch shows its figures once every request is counted."""
    preds = [r.predicted_input_tokens for r in recs]
    if all(p is None for p in preds):
        return [_not_counted(recs)]
    if any(p is None for p in preds):
        return []
    return [
        _predicted_in(recs, batch),
        "" if batch else _window_share(recs[0]),
        _predicted_cache(recs),
        _output_cap(recs),
    ]


def _batch_results(recs: list[CallRecord], settled: int) -> str:
    done = [r for r in recs if r.input_tokens is not None]
    failed = settled - len(done)
    return (
        f"→ results {len(done)}/{len(recs)}: "
        f"actual in {format_tokens(sum(r.actual_input_total or 0 for r in done), True)}, "
        f"out {format_tokens(sum(r.output_tokens or 0 for r in done), True)}, "
        f"{format_cost(_sum([r.cost_usd for r in recs if r.input_tokens is not None]))} at batch price"
        + (f", {failed} failed" if failed else "")
    )


def _versus_predicted(recs: list[CallRecord], actual_in: int) -> str:
    if any(r.predicted_input_tokens is None for r in recs):
        return ""
    predicted = sum(r.predicted_input_tokens or 0 for r in recs)
    return "" if predicted == actual_in else f" ({actual_in - predicted:+,} vs predicted)"


def _actual(recs: list[CallRecord]) -> str:
    """``→ actual in 1,230 (-4 vs predicted), out 56, $0.0042 (cache 1,024 read)``: the response's usage."""
    actual_in = sum(r.actual_input_total or 0 for r in recs)
    out_tokens = sum(r.output_tokens or 0 for r in recs)
    cache = _cache(
        sum(r.cache_creation_input_tokens or 0 for r in recs), sum(r.cache_read_input_tokens or 0 for r in recs), True
    )
    return (
        f"→ actual in {format_tokens(actual_in, True)}{_versus_predicted(recs, actual_in)}, "
        f"out {format_tokens(out_tokens, True)}, {format_cost(_sum([r.cost_usd for r in recs]))}"
        + (f" ({cache})" if cache else "")
        + (" (stream ended early)" if recs[0].status == "partial" else "")
    )


def _submitted(r0: CallRecord) -> str:
    return f"batch {r0.batch_id or ''} submitted; usage comes with its results".replace("  ", " ")


def _outcome(recs: list[CallRecord], batch: bool) -> str:
    """What happened after the prediction: the batch's results, a block, an error, the usage, or the wait."""
    r0 = recs[0]
    settled = sum(1 for r in recs if r.status in ("done", "error"))
    if batch and settled and r0.batch_id:  # the batch's results were fetched
        return _batch_results(recs, settled)
    by_status = {"blocked": "NOT SENT (budget)", "error": f"failed: {r0.error}"}
    if r0.status in by_status:
        return by_status[r0.status]
    if r0.status == "submitted":
        return _submitted(r0)
    if all(r.input_tokens is not None for r in recs):
        return _actual(recs)
    return "waiting for the response…" if r0.status == "sent" else ""


def _warns(recs: list[CallRecord], batch: bool) -> bool:
    frac = recs[0].context_fraction
    counted = all(r.predicted_input_tokens is not None for r in recs)
    return not batch and counted and frac is not None and frac >= WARN_FRACTION


class CallLine:
    """The one line shown in the calling cell for a call (or a whole batch); re-rendered on every change."""

    def __init__(self, records: list[CallRecord], batch: bool = False) -> None:
        self.records = records
        self.batch = batch

    def _parts(self) -> tuple[str, list[str], str | None, bool]:
        recs, batch = self.records, self.batch
        parts = [p for p in (*_prediction(recs, batch), _outcome(recs, batch)) if p]
        note = next((r.count_note for r in recs if r.count_note), None)
        return _head(recs, batch), parts, note, _warns(recs, batch)

    def text(self) -> str:
        head, parts, note, _ = self._parts()
        line = "Claude call: " + " · ".join([head, *parts])
        return line + (f"  ({note})" if note else "")

    def __repr__(self) -> str:
        return self.text()

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.text())

    def _repr_html_(self) -> str:
        head, parts, note, warn = self._parts()
        esc = html.escape
        colour = "var(--jp-warn-color0,#e65100)" if warn else "var(--jp-ui-font-color1,inherit)"
        body = " · ".join(esc(p) for p in parts)
        extra = f' <span style="color:var(--jp-ui-font-color2,#777)">({esc(note)})</span>' if note else ""
        return (
            '<div class="jupyter-token-count-call" style="font-family:var(--jp-code-font-family,monospace);'
            f'font-size:0.85em;color:{colour};line-height:1.4">'
            f'<span style="font-weight:600">⚡ {esc(head)}</span> · {body}{extra}</div>'
        )
