"""``--format json`` (``--json``): each row's full result as the API-facing dicts hold it."""

from __future__ import annotations

import json
from typing import Any

from .rows import Report, ReportRow


def _obj(rr: ReportRow) -> dict[str, Any]:
    r = rr.row
    if r.error:
        return {"input": r.input, "model": r.model, "status": "error", "error": r.error, "exit_code": r.code}
    d: dict[str, Any] = {"input": r.input, **r.result.to_dict(), "status": rr.status, "over_budget": r.over}
    if r.result.detail.get("empty"):
        d["empty"] = True
    if r.cells is not None:
        d["per_cell"] = r.cells.to_dict()
    return d


def render(report: Report) -> str:
    out = [_obj(rr) for rr in report.rows]
    return json.dumps(out[0] if report.single and len(out) == 1 else out, indent=2, ensure_ascii=False)


def write(report: Report) -> None:
    print(render(report))
