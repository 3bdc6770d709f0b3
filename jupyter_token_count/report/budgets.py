"""The budgets a CI job or a pre-commit hook sets (``--max-tokens``, ``--max-context-fraction``, ``--total-budget``,
``--strict``): which rows break them, and a line for each broken one. With ``strict`` an estimate is checked by the
top of its likely range."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..batch import Row
from ..formatting import format_share, format_tokens


@dataclass(frozen=True)
class Budgets:
    max_tokens: int | None = None
    max_context_fraction: float | None = None
    total: int | None = None
    strict: bool = False

    def options(self) -> list[str]:
        """The budgets in force as they are written on the command line."""
        frac = self.max_context_fraction
        return [
            o
            for o in (
                "" if self.max_tokens is None else f"--max-tokens {format_tokens(self.max_tokens, True)}",
                "" if frac is None else f"--max-context-fraction {frac:g}",  # the option's value as typed
                "" if self.total is None else f"--total-budget {format_tokens(self.total, True)}",
                "--strict" if self.strict else "",
            )
            if o
        ]


def budgeted(res: Any, strict: bool) -> int:
    """The number a budget is checked against: the count, or with --strict the top of an estimate's range."""
    return res.high if strict and res.high is not None else res.input_tokens


def as_checked(res: Any, strict: bool) -> str:
    """How the checked number reads: ``≈1,234`` or, strict, ``≈1,234 (likely up to 1,241)``."""
    if strict and not res.exact and res.high is not None and res.high != res.input_tokens:
        return f"{res.label} (likely up to {format_tokens(res.high, True)})"
    return res.label


def _over_tokens(r: Row, b: Budgets) -> str | None:
    res = r.result
    if b.max_tokens is None or budgeted(res, b.strict) <= b.max_tokens:
        return None
    budget = format_tokens(b.max_tokens, True)
    only_strict = res.input_tokens <= b.max_tokens  # over by its upper end only
    r.over.append(f"over --max-tokens {budget}" + (" (strict)" if only_strict else ""))
    return f"{r.input}: {as_checked(res, b.strict)} tokens on {r.model} is over the budget of {budget}"


def _over_window(r: Row, b: Budgets) -> str | None:
    res = r.result
    if b.max_context_fraction is None:
        return None
    if not res.context_window:
        return f"{r.input}: the context window of {r.model} is unknown; --max-context-fraction cannot be checked"
    frac = budgeted(res, b.strict) / res.context_window
    if frac <= b.max_context_fraction:
        return None
    allowed = format_share(b.max_context_fraction)
    r.over.append(f"over {allowed} of the window")
    return (
        f"{r.input}: {as_checked(res, b.strict)} tokens take {format_share(frac)} of {r.model}'s "
        f"{format_tokens(res.context_window, True)}-token window, over the {allowed} allowed"
    )


def _over_total(rows: list[Row], b: Budgets) -> list[str]:
    if b.total is None:
        return []
    lines = []
    for model in dict.fromkeys(r.model for r in rows if r.ok):
        counted = [r.result for r in rows if r.ok and r.model == model]
        total = sum(budgeted(c, b.strict) for c in counted)
        if total > b.total:
            exact = all(c.exact for c in counted)
            what = "the upper ends come to " if b.strict and not exact else ""
            lines.append(
                f"all inputs together: {what}{format_tokens(total, exact or bool(what))} tokens on {model}, over the "
                f"total budget of {format_tokens(b.total, True)}"
            )
    return lines


def apply_budgets(rows: list[Row], budgets: Budgets) -> list[str]:
    """Mark the rows over a budget (``Row.over``); return the lines saying which budgets are broken."""
    lines: list[str] = []
    for r in rows:
        if r.ok:
            lines += [line for line in (_over_tokens(r, budgets), _over_window(r, budgets)) if line]
    return lines + _over_total(rows, budgets)
