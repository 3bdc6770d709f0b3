"""``%count_calls report``: this kernel's metered calls as a table, with totals."""

from __future__ import annotations

import html
from typing import Any

from ..formatting import format_cost, format_tokens
from .record import CallRecord


def _n(v: int | None, exact: bool | None = True) -> str:
    return "" if v is None else format_tokens(v, bool(exact))


class CallReport:
    def __init__(self, records: list[CallRecord]) -> None:
        self.records = list(records)

    def totals(self) -> dict[str, Any]:
        sent = [r for r in self.records if r.status != "blocked"]
        return {
            "calls": len(sent),
            "blocked": len(self.records) - len(sent),
            "predicted_input_tokens": sum(r.predicted_input_tokens or 0 for r in sent),
            "predicted_exact": all(r.exact for r in sent if r.predicted_input_tokens is not None),
            "input_tokens": sum(r.input_tokens or 0 for r in sent),
            "cache_creation_input_tokens": sum(r.cache_creation_input_tokens or 0 for r in sent),
            "cache_read_input_tokens": sum(r.cache_read_input_tokens or 0 for r in sent),
            "output_tokens": sum(r.output_tokens or 0 for r in sent),
            "cost_usd": sum(r.cost_usd or 0.0 for r in sent),
            "pending_usage": sum(1 for r in sent if r.cost_usd is None),
        }

    def to_dict(self) -> dict[str, Any]:
        return {"calls": [r.to_dict() for r in self.records], "totals": self.totals()}

    def to_dataframe(self) -> Any:
        """A pandas DataFrame of the calls (needs pandas)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("to_dataframe() needs pandas: pip install pandas") from None
        return pd.DataFrame([r.to_dict() for r in self.records])

    def _rows(self) -> list[list[str]]:
        rows = []
        for r in self.records:
            rows.append(
                [
                    _n(r.execution_count),
                    r.model,
                    r.kind + (" (stream)" if r.stream else ""),
                    r.status,
                    _n(r.predicted_input_tokens, r.exact),
                    _n(r.input_tokens),
                    _n(r.cache_creation_input_tokens),
                    _n(r.cache_read_input_tokens),
                    _n(r.output_tokens),
                    "" if r.cost_usd is None else format_cost(r.cost_usd),
                ]
            )
        return rows

    HEAD = ("cell", "model", "kind", "status", "predicted in", "input", "cache write", "cache read", "output", "cost")

    def __repr__(self) -> str:
        if not self.records:
            return "No Claude calls metered yet (switch on with %count_calls on)."
        rows = [list(self.HEAD), *self._rows()]
        widths = [max(len(row[i]) for row in rows) for i in range(len(self.HEAD))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
        t = self.totals()
        pred = _n(t["predicted_input_tokens"], t["predicted_exact"])
        lines.append(
            f"total: {t['calls']} call(s), predicted in {pred}, input "
            f"{_n(t['input_tokens'])}, cache write {_n(t['cache_creation_input_tokens'])}, cache read "
            f"{_n(t['cache_read_input_tokens'])}, output {_n(t['output_tokens'])}, cost {format_cost(t['cost_usd'])}"
            + (f" ({t['blocked']} blocked by the budget)" if t["blocked"] else "")
        )
        return "\n".join(lines)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))

    def _repr_html_(self) -> str:
        if not self.records:
            return "<p>No Claude calls metered yet (switch on with <code>%count_calls on</code>).</p>"
        esc = html.escape
        head = "".join(f"<th>{esc(h)}</th>" for h in self.HEAD)
        body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in self._rows())
        t = self.totals()
        blocked = f", {t['blocked']} blocked" if t["blocked"] else ""
        foot = (
            f'<tr style="font-weight:600"><td colspan="4">total: {t["calls"]} call(s){blocked}</td>'
            f"<td>{_n(t['predicted_input_tokens'], t['predicted_exact'])}</td><td>{_n(t['input_tokens'])}</td>"
            f"<td>{_n(t['cache_creation_input_tokens'])}</td><td>{_n(t['cache_read_input_tokens'])}</td>"
            f"<td>{_n(t['output_tokens'])}</td><td>{esc(format_cost(t['cost_usd']))}</td></tr>"
        )
        return (
            f'<table class="jupyter-token-count-calls"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}{foot}</tbody></table>"
        )
