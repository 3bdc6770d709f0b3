"""The report's row model: every figure and note of every input already written out by the one formatting rule
(``formatting.py``), so the table, JSON, CSV and markdown renderers show the same thing and only escape and lay
it out. Text stays raw here; each renderer escapes it for its medium."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..batch import Row
from ..formatting import edited_note, format_change, format_cost, format_estimate, format_share, format_tokens
from .budgets import Budgets


@dataclass(frozen=True)
class ReportRow:
    """One input under one model, counted or failed."""

    row: Row  # the raw figures, for the machine-readable formats
    name: str  # the input as the user would write it
    status: str  # "ok" | "over_budget" | "error"
    tokens: str = ""  # ``≈1,234 (likely 1,228–1,241)``
    cost: str = ""
    window: str = ""  # ``0.6% of 200,000`` or ``unknown``
    versus_first: str = ""  # with several models: this count against the first model's (``—`` on the first)
    notes: tuple[str, ...] = ()
    error: str = ""  # the error without the input's name in front

    @property
    def model(self) -> str:
        return self.row.model

    @property
    def display_name(self) -> str | None:
        return None if self.row.error else self.row.result.display_name


@dataclass(frozen=True)
class CellTable:
    """A notebook's cells with --per-cell: rows of (cell, type, tokens, first line) that add up to the total."""

    title: str
    lines: tuple[tuple[str, str, str, str], ...]


@dataclass(frozen=True)
class ModelTotal:
    model: str
    tokens: str
    inputs: int


@dataclass(frozen=True)
class Report:
    rows: tuple[ReportRow, ...]
    cell_tables: tuple[CellTable, ...]
    totals: tuple[ModelTotal, ...]  # per model, of the counted inputs
    reasons: tuple[str, ...]  # why the estimates are estimates
    counted: int
    exact: int  # of the counted
    budgets: tuple[str, ...]  # the budgets in force, as options
    budget_lines: tuple[str, ...]  # the budgets broken
    compare: bool  # several models: a "vs first" column
    single: bool  # one input given (not a folder): JSON is an object, not a list

    @property
    def failed(self) -> int:
        return sum(1 for r in self.rows if r.status == "error")

    @property
    def over(self) -> int:
        return sum(1 for r in self.rows if r.status == "over_budget")


def short(name: str) -> str:
    """A path as the user would write it: relative to the working directory when inside it."""
    try:
        return str(Path(name).resolve().relative_to(Path.cwd()))
    except (ValueError, OSError):
        return name


def without_name(error: str, name: str) -> str:
    """An error in a row that already names the input: its text without the name in front."""
    for prefix in (f"file '{name}': ", f"file '{name}', ", f"{name}: "):
        if error.startswith(prefix):
            return error[len(prefix) :]
    return error


def notes(r: Row) -> list[str]:
    out = list(r.over)
    if r.ok and r.result.detail.get("empty"):
        out.append("empty: the request frame alone")
    if r.ok and r.result.original_input_tokens is not None:
        out.append(edited_note(r.result.original_input_tokens, r.result.exact))
    if r.warnings:
        out.append("unknown model (guessed tokenizer)")
    return out


def with_range(res: Any) -> str:
    """``1,234``, or for an estimate ``≈1,234 (likely 1,228–1,241)``."""
    return res.label + (f" ({res.likely})" if res.likely else "")


def window(res: Any) -> str:
    """``0.6% of 200,000``: the share of the model's context window, or ``unknown``."""
    frac = res.context_fraction
    return "unknown" if frac is None else f"{format_share(frac)} of {format_tokens(res.context_window, True)}"


def total(results: list[Any]) -> str:
    """The sum of several counts, with the sum of their ranges where some are estimates."""

    def summed(attr: str) -> int | None:
        values = [getattr(c, attr) for c in results]
        return None if any(v is None for v in values) else sum(values)

    exact = all(c.exact for c in results)
    low = summed("low")
    text = format_estimate(sum(c.input_tokens for c in results), low, summed("high"), exact)
    return text.replace(", likely", " (likely") + ("" if exact or low is None else ")")


def _versus_first(r: Row, first: dict[str, int]) -> str:
    """This input's count against its count under the first model (``—`` for the first)."""
    n = r.result.input_tokens
    if r.input not in first:
        first[r.input] = n
        return "—"
    base = first[r.input]
    return format_change((n - base) / base) if base else ""


def _report_row(r: Row, first: dict[str, int], compare: bool) -> ReportRow:
    if r.error:
        return ReportRow(r, short(r.input), "error", notes=tuple(notes(r)), error=without_name(r.error, r.input))
    res = r.result
    return ReportRow(
        r,
        short(r.input),
        "over_budget" if r.over else "ok",
        tokens=with_range(res),
        cost=format_cost(res.cost_usd),
        window=window(res),
        versus_first=_versus_first(r, first) if compare else "",
        notes=tuple(notes(r)),
    )


def _cell_table(r: Row) -> CellTable:
    cells = r.cells
    lines = [
        (str(c.index + 1), c.cell_type, format_tokens(c.tokens, c.exact), r.first_lines.get(c.id, ""))
        for c in cells.cells
        if c.tokens
    ]
    # the rest is the request frame and the joins between cells: the rows add up to the one-request total
    joins_exact = cells.exact and all(c.exact for c in cells.cells)
    lines.append(("", "joins+frame", format_tokens(cells.joins_and_frame, joins_exact), ""))
    lines.append(("", "total", format_tokens(cells.total, cells.exact), "the notebook counted as one request"))
    return CellTable(f"{short(r.input)} · {cells.display_name or r.model}", tuple(lines))


def build_report(rows: list[Row], budgets: Budgets, budget_lines: list[str], *, compare: bool, single: bool) -> Report:
    """The report of counted rows (budgets already applied: ``apply_budgets``)."""
    first: dict[str, int] = {}
    counted = [r for r in rows if r.ok]
    totals = []
    for model in dict.fromkeys(r.model for r in counted):
        these = [r.result for r in counted if r.model == model]
        totals.append(ModelTotal(model, total(these), len(these)))
    return Report(
        rows=tuple(_report_row(r, first, compare) for r in rows),
        cell_tables=tuple(_cell_table(r) for r in rows if r.cells is not None),
        totals=tuple(totals),
        reasons=tuple(sorted({r.result.reason for r in counted if not r.result.exact and r.result.reason})),
        counted=len(counted),
        exact=sum(1 for r in counted if r.result.exact),
        budgets=tuple(budgets.options()),
        budget_lines=tuple(budget_lines),
        compare=compare,
        single=single,
    )
