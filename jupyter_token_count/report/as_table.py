"""``--format table`` (the default): rich tables for a terminal, data text with its control characters shown as
escapes and rich markup escaped."""

from __future__ import annotations

from typing import Any

from ..markup import console, visible
from .rows import CellTable, Report, ReportRow


def _safe(text: str) -> str:
    from rich.markup import escape

    return escape(visible(text))


def _cells(table: CellTable) -> Any:
    from rich.table import Table

    t = Table(title=_safe(table.title), title_justify="left", show_edge=False)
    t.add_column("cell", justify="right", no_wrap=True, min_width=4)
    t.add_column("type", no_wrap=True, min_width=8)
    t.add_column("tokens", justify="right", no_wrap=True, min_width=7)
    t.add_column("first line", overflow="ellipsis", no_wrap=True, max_width=72)
    for cell, kind, tokens, first_line in table.lines:
        t.add_row(cell, kind, tokens, _safe(first_line))
    return t


def _line(rr: ReportRow, report: Report, notes: bool) -> list[str]:
    if rr.status == "error":
        line = [_safe(rr.name), _safe(rr.model), "[red]error[/red]", "", ""] + ([""] if report.compare else [])
        return [*line, f"[red]{_safe(rr.error)}[/red]"]
    tokens = f"[red]{rr.tokens}[/red]" if rr.status == "over_budget" else rr.tokens
    line = [_safe(rr.name), _safe(rr.display_name or rr.model), tokens, rr.cost, rr.window]
    line += [rr.versus_first] if report.compare else []
    return line + ([_safe("; ".join(rr.notes))] if notes else [])


def _rows(report: Report) -> Any:
    from rich.table import Table

    notes = any(rr.error or rr.notes for rr in report.rows)
    t = Table(show_edge=False, header_style="bold")
    t.add_column("input", overflow="fold")
    t.add_column("model", no_wrap=True)
    t.add_column("tokens", justify="right", no_wrap=True, min_width=7)
    t.add_column("cost (input)", justify="right", no_wrap=True)
    t.add_column("context window", justify="right", no_wrap=True)
    if report.compare:
        t.add_column("vs first", justify="right")
    if notes:
        t.add_column("note", overflow="fold")
    for rr in report.rows:
        t.add_row(*_line(rr, report, notes))
    return t


def _footer(report: Report) -> list[str]:
    lines = []
    if len(report.rows) > 1:
        for t in report.totals:
            inputs = f"{t.inputs} input{'s' if t.inputs != 1 else ''}"
            lines.append(f"total on {_safe(t.model)}: {t.tokens} tokens in {inputs}")
    lines += [f"≈ estimate: {_safe(reason)}" for reason in report.reasons]
    if report.exact and report.reasons:
        lines.append(f"{report.exact} of {report.counted} counts are exact (from the API)")
    return lines


def write(report: Report) -> None:
    c = console()
    for table in report.cell_tables:
        c.print(_cells(table))
    if report.counted:  # only errors: they are on stderr already
        c.print(_rows(report))
        for line in _footer(report):
            c.print(line, style="dim")
