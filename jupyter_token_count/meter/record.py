"""One metered call: what was predicted before it left, what the API reported after, and its one-line rendering."""

from __future__ import annotations

import html
import threading
from dataclasses import dataclass, field
from typing import Any

from ..formatting import WARN_FRACTION, edited_note, format_cost, format_likely, format_tokens


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


class CallLine:
    """The one line shown in the calling cell for a call (or a whole batch); re-rendered on every change."""

    def __init__(self, records: list[CallRecord], batch: bool = False) -> None:
        self.records = records
        self.batch = batch

    def _parts(self) -> tuple[str, list[str], str | None, bool]:
        recs = self.records
        r0 = recs[0]
        head = f"{r0.model}" + (f" · batch of {len(recs)}" if self.batch else "") + (" · stream" if r0.stream else "")
        parts: list[str] = []
        warn = False
        preds = [r.predicted_input_tokens for r in recs]
        if all(p is None for p in preds):
            parts.append("counting…" if any(r.predicting for r in recs) else "input not counted")
        elif all(p is not None for p in preds):  # (a batch shows its figures once every request is counted)
            total = sum(p for p in preds if p is not None)
            exact = all(r.exact for r in recs)
            cost = _sum([r.predicted_cost_usd for r in recs])
            low, high = _sum([r.predicted_low for r in recs]), _sum([r.predicted_high for r in recs])
            likely = format_likely(total, None if low is None else int(low), None if high is None else int(high), exact)
            originals = [r.predicted_original_input_tokens for r in recs]
            edited = (
                edited_note(sum(o for o in originals if o is not None), exact)
                if any(o is not None for o in originals)
                else ""
            )
            parts.append(
                f"in {format_tokens(total, exact)}{f', {likely}' if likely else ''}{' ' + edited if edited else ''} "
                f"({'' if exact else '≈'}{format_cost(cost)}{' at batch price' if self.batch else ''})"
            )
            frac = r0.context_fraction
            if frac is not None and not self.batch:
                if frac > 1:
                    parts.append(f"OVER the {r0.context_window:,}-token window")
                else:
                    parts.append("<0.1% of window" if 0 < frac < 0.001 else f"{frac:.1%} of window")
                warn = frac >= WARN_FRACTION
            writes = sum(r.predicted_cache_write_5m + r.predicted_cache_write_1h for r in recs)
            reads = sum(r.predicted_cache_read for r in recs)
            cache = [f"≈{writes:,} written" if writes else "", f"≈{reads:,} read" if reads else ""]
            if writes or reads:
                parts.append("cache " + " + ".join(c for c in cache if c))
            out = _sum([r.max_output_cost_usd for r in recs])
            if out is not None:
                parts.append(f"≤{format_cost(out)} out")
        note = next((r.count_note for r in recs if r.count_note), None)
        # after the response
        done = [r for r in recs if r.input_tokens is not None]
        settled = [r for r in recs if r.status in ("done", "error")]
        if self.batch and settled and r0.batch_id:  # the batch's results were fetched
            cost = _sum([r.cost_usd for r in done])
            failed = len(settled) - len(done)
            parts.append(
                f"→ results {len(done)}/{len(recs)}: actual in {sum(r.actual_input_total or 0 for r in done):,}, "
                f"out {sum(r.output_tokens or 0 for r in done):,}, {format_cost(cost)} at batch price"
                + (f", {failed} failed" if failed else "")
            )
        elif r0.status == "blocked":
            parts.append("NOT SENT (budget)")
        elif r0.status == "submitted":
            parts.append(f"batch {r0.batch_id or ''} submitted; usage comes with its results".replace("  ", " "))
        elif r0.status == "error":
            parts.append(f"failed: {r0.error}")
        elif done and len(done) == len(recs):
            actual_in = sum(r.actual_input_total or 0 for r in done)
            out_tokens = sum(r.output_tokens or 0 for r in done)
            cost = _sum([r.cost_usd for r in done])
            actual = f"→ actual in {actual_in:,}"
            predicted = sum(r.predicted_input_tokens or 0 for r in done)
            if all(r.predicted_input_tokens is not None for r in done) and predicted != actual_in:
                actual += f" ({actual_in - predicted:+,} vs predicted)"
            actual += f", out {out_tokens:,}, {format_cost(cost)}"
            created = sum(r.cache_creation_input_tokens or 0 for r in done)
            read = sum(r.cache_read_input_tokens or 0 for r in done)
            cache = [f"{created:,} written" if created else "", f"{read:,} read" if read else ""]
            if created or read:
                actual += " (cache " + " + ".join(c for c in cache if c) + ")"
            if r0.status == "partial":
                actual += " (stream ended early)"
            parts.append(actual)
        elif r0.status == "sent":
            parts.append("waiting for the response…")
        return head, parts, note, warn

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
