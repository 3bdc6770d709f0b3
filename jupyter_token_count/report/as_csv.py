"""``--format csv``: one line per row, numbers as numbers (not the display strings) for spreadsheets."""

from __future__ import annotations

import csv
import io

from .rows import Report, ReportRow

FIELDS = (
    "input",
    "model",
    "status",
    "input_tokens",
    "low",
    "high",
    "label",
    "exact",
    "source",
    "cost_usd",
    "context_window",
    "context_fraction",
    "reason",
    "note",
)


def _line(rr: ReportRow) -> dict[str, object]:
    r = rr.row
    if r.error:
        return {"input": r.input, "model": r.model, "status": "error", "note": r.error}
    res = r.result
    return {
        "input": r.input,
        "model": r.model,
        "status": rr.status,
        "input_tokens": res.input_tokens,
        "low": "" if res.low is None else res.low,
        "high": "" if res.high is None else res.high,
        "label": res.label,
        "exact": str(res.exact).lower(),
        "source": res.source,
        # machine figures, not display strings: full precision
        "cost_usd": "" if res.cost_usd is None else f"{res.cost_usd:.8f}".rstrip("0").rstrip("."),
        "context_window": res.context_window or "",
        "context_fraction": "" if res.context_fraction is None else f"{res.context_fraction:.6f}",
        "reason": res.reason or "",
        "note": "; ".join(rr.notes),
    }


def render(report: Report) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n")
    w.writeheader()
    w.writerows(_line(rr) for rr in report.rows)
    return buf.getvalue()


def write(report: Report) -> None:
    print(render(report), end="")
