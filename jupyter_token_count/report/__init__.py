"""The CLI's report: one row model (``rows``) built once from the counted inputs and the budgets they break, and
one renderer per output format consuming it (``as_table``, ``as_json``, ``as_csv``, ``as_markdown``), each
escaping what comes from the data for its medium (``markup.py``)."""

from __future__ import annotations

from collections.abc import Callable

from . import as_csv, as_json, as_markdown, as_table
from .budgets import Budgets, apply_budgets
from .rows import Report, build_report

#: ``--format`` name → what writes the report to stdout
RENDERERS: dict[str, Callable[[Report], None]] = {
    "table": as_table.write,
    "json": as_json.write,
    "csv": as_csv.write,
    "markdown": as_markdown.write,
}

__all__ = ["RENDERERS", "Budgets", "Report", "apply_budgets", "build_report"]
