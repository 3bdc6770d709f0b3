"""The HTML pieces the widgets show: the total (number, badge, cost, context-window bar) and the
breakdown bars."""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass

from ..result import WARN_FRACTION, TokenCount, format_cost
from .parts import _Parts
from .theme import ACCENT, BORDER, ERROR, FG, FG2, FONT, OK, TRACK, WARN

esc = html.escape


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} bytes"  # pragma: no cover


def _pct(part: int, total: int) -> str:
    if total <= 0:
        return "0%"
    share = part / total
    return f"{share:.0%}" if share >= 0.01 or part == 0 else "<1%"


def _badge(res: TokenCount) -> str:
    if res.exact:
        text = "exact · cached" if res.source == "cache" else "exact"
        colours = f"background:var(--jp-success-color3,rgba(46,125,50,.15));color:{OK}"
    else:
        text = "estimate"
        colours = f"background:var(--jp-warn-color3,rgba(230,81,0,.14));color:{WARN}"
    return (f'<span style="font-size:0.72em;font-weight:600;padding:1px 7px;border-radius:9px;'
            f'vertical-align:middle;{colours}">{text}</span>')


def _window_bar(res: TokenCount) -> str:
    frac = res.context_fraction
    if frac is None:
        return f'<div style="font-size:0.82em;color:{FG2}">context window unknown for {esc(res.model)}</div>'
    colour = WARN if frac >= WARN_FRACTION else ACCENT
    width = max(min(frac, 1.0) * 100, 0.6)
    over = " — over the limit" if frac > 1 else ""
    return (
        f'<div title="{frac:.2%} of the context window" style="height:7px;border-radius:4px;margin:8px 0 3px;'
        f'background:{TRACK};overflow:hidden"><div style="height:100%;width:{width:.2f}%;background:{colour};'
        f'border-radius:4px"></div></div>'
        f'<div style="font-size:0.82em;color:{FG2}">{frac:.2%} of the {res.context_window:,}-token context window{over}</div>'
    )


def render_total(res: TokenCount | None, *, pending: bool = False, error: str | None = None,
                 empty: str | None = None, notes: Iterable[str] = (), info: Iterable[str] = ()) -> str:
    """The big number, its kind (exact / ≈ with the reason), cost and share of the context window."""
    status = ""
    if pending:
        status = f'<span style="font-size:0.8em;color:{FG2};margin-left:6px">counting…</span>'
    if error:
        body = (f'<div style="color:{ERROR};font-weight:600">Cannot count</div>'
                f'<div style="color:{ERROR};font-size:0.9em;white-space:pre-wrap">{esc(error)}</div>{status}')
    elif res is None:
        text = empty or "Type a prompt or add a file to count its tokens."
        body = f'<div style="color:{FG2}">{esc(text)}{status}</div>'
    else:
        fade = "opacity:.5;" if pending else ""
        why = ""
        if not res.exact:
            why = (f'<div style="font-size:0.85em;color:{WARN};margin-top:2px">≈ estimate: '
                   f'{esc(res.reason or "offline")}</div>')
        cost = format_cost(res.cost_usd)
        price = " at the list input price" if res.cost_usd is not None else ""
        body = (
            f'<div style="{fade}display:flex;align-items:baseline;flex-wrap:wrap;gap:6px">'
            f'<span style="font-size:2.1em;font-weight:650;line-height:1.15;font-variant-numeric:tabular-nums">'
            f'{esc(res.label)}</span><span style="color:{FG2}">input tokens</span> {_badge(res)}{status}</div>'
            f"{why}"
            f'<div style="font-size:0.9em;margin-top:4px;{fade}"><b>{esc(cost)}</b>{price} · '
            f"{esc(res.display_name or res.model)}</div>"
            f'<div style="{fade}">{_window_bar(res)}</div>'
        )
    extra = "".join(f'<div style="font-size:0.82em;color:{FG2};margin-top:4px">{esc(n)}</div>' for n in info)
    extra += "".join(f'<div style="font-size:0.82em;color:{WARN};margin-top:4px">{esc(n)}</div>' for n in notes)
    return (f'<div class="jtc-card jupyter-token-count" style="box-sizing:border-box;font-family:{FONT};color:{FG};'
            f'border:1px solid {BORDER};border-radius:8px;padding:10px 14px">{body}{extra}</div>')


@dataclass
class _Row:
    label: str
    tokens: int
    colour: str
    title: str = ""


def render_bars(rows: list[_Row], total: int, *, approx: bool, note: str = "", heading: str = "Where the tokens go") -> str:
    """Horizontal bars, one per part, widths relative to the largest part."""
    if not rows or total <= 0:
        return ""
    top = max(r.tokens for r in rows) or 1
    sign = "≈" if approx else ""
    cells = []
    for r in rows:
        width = r.tokens / top * 100
        cells.append(
            f'<div title="{esc(r.title or r.label)}" style="overflow:hidden;text-overflow:ellipsis;white-space:nowrap;'
            f'max-width:14em">{esc(r.label)}</div>'
            f'<div style="height:10px;background:{TRACK};border-radius:5px;overflow:hidden;min-width:60px">'
            f'<div style="height:100%;width:{max(width, 0.8 if r.tokens else 0):.2f}%;background:{r.colour};'
            f'border-radius:5px"></div></div>'
            f'<div style="text-align:right;font-variant-numeric:tabular-nums">{sign}{r.tokens:,}</div>'
            f'<div style="text-align:right;color:{FG2};font-variant-numeric:tabular-nums">{esc(_pct(r.tokens, total))}</div>'
        )
    foot = f'<div style="font-size:0.8em;color:{FG2};margin-top:6px">{esc(note)}</div>' if note else ""
    return (
        f'<div class="jtc-card" style="box-sizing:border-box;font-family:{FONT};color:{FG};border:1px solid {BORDER};border-radius:8px;'
        f'padding:10px 14px;margin-top:8px"><div style="font-size:0.85em;font-weight:600;margin-bottom:6px">'
        f'{esc(heading)}</div><div style="display:grid;grid-template-columns:minmax(5em,max-content) 1fr auto auto;'
        f'gap:5px 10px;align-items:center;font-size:0.88em">{"".join(cells)}</div>{foot}</div>'
    )


def _split_note(parts: _Parts, res: TokenCount) -> str:
    if parts.scaled:
        return "Exact total from the API; its split between parts is the offline estimate's, scaled to it."
    estimator = res.detail.get("estimator")
    note = f"Estimated offline{f' ({estimator})' if estimator else ''}; framing is the per-request structure."
    extra = [n[:1].upper() + n[1:] + ("" if n.endswith(".") else ".") for n in dict.fromkeys(parts.notes) if n]
    return " ".join([note, *extra[:3]])
