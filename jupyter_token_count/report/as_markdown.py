"""``--format markdown``: a GitHub-flavoured report for a CI job summary ($GITHUB_STEP_SUMMARY) or a PR comment."""

from __future__ import annotations

from ..markup import md, md_code
from .rows import Report, ReportRow

HEAD = ["| | File | Model | Tokens | Cost (input) | Context window | Note |", "|---|---|---|--:|--:|--:|---|"]


def _model(rr: ReportRow) -> str:
    """A known model by its name (from the registry), any other id as code: it is whatever the input said."""
    name = rr.display_name
    return md(name) if name and name != rr.model else md_code(rr.model)


def _line(rr: ReportRow) -> str:
    if rr.status == "error":
        return f"| ❌ | {md_code(rr.name)} | {md_code(rr.model)} | — | — | — | error: {md(rr.error)} |"
    mark = "❌" if rr.status == "over_budget" else "⚠️" if rr.row.warnings else "✅"
    return (
        f"| {mark} | {md_code(rr.name)} | {_model(rr)} | {rr.tokens} | {rr.cost} | {rr.window} | "
        f"{md('; '.join(rr.notes))} |"
    )


def _summary(report: Report) -> str:
    parts = [f"{report.counted} of {len(report.rows)} counted"]
    parts += [f"{t.tokens} tokens in all on {md_code(t.model)}" for t in report.totals]
    if report.over:
        parts.append(f"**{report.over} over budget**")
    if report.failed:
        parts.append(f"**{report.failed} failed**")
    return " · ".join(parts)


def render(report: Report) -> str:
    verdict = "❌" if report.failed or report.over or report.budget_lines else "✅"
    out = [f"### {verdict} Claude input tokens", "", *HEAD, *(_line(rr) for rr in report.rows), "", _summary(report)]
    if report.budgets:
        out += ["", "Budgets: " + ", ".join(f"`{b}`" for b in report.budgets)]
    out += [f"- {md(line)}" for line in report.budget_lines]
    if report.reasons:
        out += ["", *(f"≈ estimate: {md(reason)}" for reason in report.reasons)]
    return "\n".join(out)


def write(report: Report) -> None:
    print(render(report))
