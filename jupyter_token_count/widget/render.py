"""The HTML pieces the widgets show besides the total (``display.render_total``): the breakdown bars."""

from __future__ import annotations

from dataclasses import dataclass

from ..display import BORDER, FG, FG2, FONT, TRACK, esc
from ..formatting import format_share, format_tokens
from ..result import TokenCount
from .parts import _Parts


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} bytes"  # pragma: no cover


def _pct(part: int, total: int) -> str:
    """A part's share of a total, by the one share rule."""
    return format_share(part / total if total > 0 else 0.0)


@dataclass
class _Row:
    label: str
    tokens: int
    colour: str
    title: str = ""


def render_bars(
    rows: list[_Row], total: int, *, approx: bool, note: str = "", heading: str = "Where the tokens go"
) -> str:
    """Horizontal bars, one per part, widths relative to the largest part."""
    if not rows or total <= 0:
        return ""
    top = max(r.tokens for r in rows) or 1
    cells = []
    for r in rows:
        width = r.tokens / top * 100
        cells.append(
            f'<div title="{esc(r.title or r.label)}" style="overflow:hidden;text-overflow:ellipsis;white-space:nowrap;'
            f'max-width:14em">{esc(r.label)}</div>'
            f'<div style="height:10px;background:{TRACK};border-radius:5px;overflow:hidden;min-width:60px">'
            f'<div style="height:100%;width:{max(width, 0.8 if r.tokens else 0):.2f}%;background:{r.colour};'
            f'border-radius:5px"></div></div>'
            f'<div style="text-align:right;font-variant-numeric:tabular-nums">'
            f"{format_tokens(r.tokens, not approx)}</div>"
            f'<div style="text-align:right;color:{FG2};font-variant-numeric:tabular-nums">'
            f"{esc(_pct(r.tokens, total))}</div>"
        )
    foot = f'<div style="font-size:0.8em;color:{FG2};margin-top:6px">{esc(note)}</div>' if note else ""
    return (
        f'<div class="jtc-card" style="box-sizing:border-box;font-family:{FONT};color:{FG};border:1px solid '
        f"{BORDER};border-radius:8px;"
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
