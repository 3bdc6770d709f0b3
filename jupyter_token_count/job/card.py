"""The HTML card of a job estimate, in the style of the count card (``display.py``): the ≈ total with its interval,
standard and batch costs, the worst-case output, and what needs attention (windows, bad rows, caching)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..display import BORDER, ERROR, FG, FG2, FONT, OK, WARN, esc
from ..result import format_cost

if TYPE_CHECKING:
    from .result import JobEstimate


def _badge(job: JobEstimate) -> str:
    if job.exact:
        text, colours = "exact", f"background:var(--jp-success-color3,rgba(46,125,50,.15));color:{OK}"
    elif job.method == "offline":
        text, colours = "offline estimate", f"background:var(--jp-warn-color3,rgba(230,81,0,.14));color:{WARN}"
    else:
        text = f"calibrated · {job.exact_sample:,} exact"
        colours = "background:var(--jp-brand-color3,rgba(25,118,210,.14));color:var(--jp-brand-color1,#1976d2)"
    return (
        f'<span style="font-size:0.72em;font-weight:600;padding:1px 7px;border-radius:9px;'
        f'vertical-align:middle;{colours}">{esc(text)}</span>'
    )


def _cost(job: JobEstimate, value: float | None, low: float | None, high: float | None, what: str) -> str:
    if value is None:
        return f'<span style="color:{FG2}">{esc(what)}: price unknown</span>'
    spread = ""
    if not job.exact and low is not None and high is not None:
        ends = f"{esc(format_cost(low))} – {esc(format_cost(high))}"
        spread = f' <span style="color:{FG2};font-size:0.85em">({ends})</span>'
    return f"<b>{esc(job.approx + format_cost(value))}</b> {esc(what)}{spread}"


def _row(text: str, colour: str = FG2) -> str:
    return f'<div style="font-size:0.84em;color:{colour};margin-top:4px">{text}</div>'


def render_card(job: JobEstimate, chart_html: str = "") -> str:
    head = (
        f'<div style="font-size:0.85em;color:{FG2}">Job estimate · {esc(job.source)} · {job.requests:,} requests · '
        f"{esc(job._model_name())}</div>"
    )
    interval = (
        "every request counted by the API"
        if job.exact
        else f"95 % interval {job.input_tokens_low:,} – {job.input_tokens_high:,}"
    )
    big = (
        f'<div style="display:flex;align-items:baseline;flex-wrap:wrap;gap:6px;margin-top:2px">'
        f'<span style="font-size:2.1em;font-weight:650;line-height:1.15;font-variant-numeric:tabular-nums">'
        f'{esc(job.label)}</span><span style="color:{FG2}">input tokens</span> {_badge(job)}</div>'
        f'<div style="font-size:0.85em;color:{FG2}">{esc(interval)} · {esc(job._how())}</div>'
    )
    costs = (
        f'<div style="margin-top:6px">{_cost(job, job.cost_usd, job.cost_usd_low, job.cost_usd_high, "standard")}'
        f" · {_cost(job, job.batch_cost_usd, job.batch_cost_usd_low, job.batch_cost_usd_high, 'batch')}"
        f' <span style="color:{FG2};font-size:0.85em">input at list price</span></div>'
    )
    if job.output_cost_usd_max is not None:
        costs += _row(
            f"output at most {esc(format_cost(job.output_cost_usd_max))} standard, "
            f"{esc(format_cost(job.batch_output_cost_usd_max))} batch ({job.output_tokens_max:,} tokens: "
            "every request's max_tokens)"
        )
    extra = ""
    if job.heaviest:
        top = job.heaviest[0]
        extra += _row(f"heaviest: {esc(top['where'])}, {'' if top['exact'] else '≈'}{top['input_tokens']:,} tokens")
    if job.over_window:
        extra += _row(f"⚠ {esc(job.over_window_text())}", ERROR)
    if job.output_limited:
        extra += _row(
            f"⚠ {len(job.output_limited):,} leave less room than their max_tokens: {esc(job._ids(job.output_limited))}",
            WARN,
        )
    if job.rough_rows:
        extra += _row(f"⚠ {esc(job.rough_text())}", WARN)
    if job.bad_rows:
        extra += _row(f"⚠ {esc(job.bad_rows_text())}", ERROR)
    hint = job.caching_hint()
    if hint:
        extra += _row(f"caching: {esc(hint)}")
    for w in job.warnings:
        extra += _row(f"⚠ {esc(w)}", WARN)
    for n in job.notes:
        extra += _row(esc(n))
    chart = f'<div style="margin-top:8px">{chart_html}</div>' if chart_html else ""
    return (
        # tex2jax_ignore / mathjax_ignore: two prices on a line must not become LaTeX between their $ signs
        f'<div class="jtc-card jtc-job jupyter-token-count tex2jax_ignore mathjax_ignore" '
        f'data-token-count="{job.input_tokens}" '
        f'style="box-sizing:border-box;font-family:{FONT};color:{FG};border:1px solid {BORDER};border-radius:8px;'
        f'padding:10px 14px">{head}{big}{costs}{chart}{extra}</div>'
    )
