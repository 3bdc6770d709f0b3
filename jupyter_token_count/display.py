"""The one HTML rendering of a count (the magics' output, ``TokenCount._repr_html_``, the widgets' total): the
number with its exact/estimate badge, why it is an estimate, cost, model and the context-window bar. Colours
come from the front end's own CSS variables, so it suits light and dark themes in JupyterLab and VS Code."""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Protocol

from .formatting import WARN_FRACTION, edited_note, format_cost, format_share, format_tokens

esc = html.escape


class Shown(Protocol):
    """What the card reads of a count. ``result.TokenCount`` is one, and renders itself with this card
    (``_repr_html_``), so this module names the fields it needs rather than importing the result."""

    @property
    def input_tokens(self) -> int: ...
    @property
    def exact(self) -> bool: ...
    @property
    def source(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def cost_usd(self) -> float | None: ...
    @property
    def context_window(self) -> int | None: ...
    @property
    def display_name(self) -> str | None: ...
    @property
    def original_input_tokens(self) -> int | None: ...
    @property
    def warnings(self) -> tuple[str, ...]: ...
    @property
    def context_fraction(self) -> float | None: ...
    @property
    def label(self) -> str: ...
    @property
    def likely(self) -> str: ...


# JupyterLab / Notebook 7 define --jp-*; VS Code defines --vscode-*; the last fallback suits light and dark.
FG = "var(--jp-ui-font-color1,var(--vscode-editor-foreground,inherit))"
FG2 = "var(--jp-ui-font-color2,var(--vscode-descriptionForeground,rgba(127,127,127,.95)))"
BORDER = "var(--jp-border-color2,var(--vscode-panel-border,rgba(127,127,127,.35)))"
TRACK = "var(--jp-layout-color3,rgba(127,127,127,.22))"
ACCENT = "var(--jp-brand-color1,var(--vscode-charts-blue,#1976d2))"
WARN = "var(--jp-warn-color0,var(--vscode-editorWarning-foreground,#e65100))"
ERROR = "var(--jp-error-color1,var(--vscode-errorForeground,#d32f2f))"
OK = "var(--jp-success-color1,var(--vscode-charts-green,#2e7d32))"
FONT = "var(--jp-ui-font-family,var(--vscode-font-family,system-ui,sans-serif))"
MONO = "var(--jp-code-font-family,var(--vscode-editor-font-family,monospace))"
COLOURS = {
    "system": "#8e6cd1",
    "prompt": ACCENT,
    "tools": "#c9a227",
    "frame": "rgba(127,127,127,.55)",
    "other": "rgba(127,127,127,.55)",
}
FILE_COLOURS = ("#26a69a", "#ef8f35", "#d35f8d", "#6d8f3c", "#4b9fd6", "#a1887f")


def _badge(res: Shown) -> str:
    if res.exact:
        text = "exact · cached" if res.source == "cache" else "exact"
        colours = f"background:var(--jp-success-color3,rgba(46,125,50,.15));color:{OK}"
    else:
        text = "estimate"
        colours = f"background:var(--jp-warn-color3,rgba(230,81,0,.14));color:{WARN}"
    return (
        f'<span style="font-size:0.72em;font-weight:600;padding:1px 7px;border-radius:9px;'
        f'vertical-align:middle;{colours}">{text}</span>'
    )


def _likely(res: Shown) -> str:
    """``, likely 1,228–1,241`` after an estimate's number: the range that holds the real count nine times in ten."""
    if not res.likely:
        return ""
    return (
        f'<span class="jtc-likely" title="the real count is in this range nine times in ten (fitted on real API '
        f'counts)" style="color:{FG2};font-variant-numeric:tabular-nums">, {esc(res.likely)}</span>'
    )


def _window_bar(res: Shown) -> str:
    frac = res.context_fraction
    if frac is None:
        return f'<div style="font-size:0.82em;color:{FG2}">context window unknown for {esc(res.model)}</div>'
    colour = WARN if frac >= WARN_FRACTION else ACCENT
    width = max(min(frac, 1.0) * 100, 0.6)
    over = " — over the limit" if frac > 1 else ""
    return (
        f'<div title="{format_share(frac)} of the context window" style="height:7px;border-radius:4px;margin:8px 0 3px;'
        f'background:{TRACK};overflow:hidden"><div style="height:100%;width:{width:.2f}%;background:{colour};'
        f'border-radius:4px"></div></div>'
        f'<div style="font-size:0.82em;color:{FG2}">{format_share(frac)} of the '
        f"{format_tokens(res.context_window or 0, True)}-token context "
        f"window{over}</div>"
    )


def render_total(
    res: Shown | None,
    *,
    pending: bool = False,
    error: str | None = None,
    empty: str | None = None,
    notes: Iterable[str] = (),
    info: Iterable[str] = (),
) -> str:
    """The big number, its kind (exact / ≈ with the reason), cost and share of the context window."""
    status = ""
    if pending:
        status = f'<span style="font-size:0.8em;color:{FG2};margin-left:6px">counting…</span>'
    if error:
        body = (
            f'<div style="color:{ERROR};font-weight:600">Cannot count</div>'
            f'<div style="color:{ERROR};font-size:0.9em;white-space:pre-wrap">{esc(error)}</div>{status}'
        )
    elif res is None:
        text = empty or "Type a prompt or add a file to count its tokens."
        body = f'<div style="color:{FG2}">{esc(text)}{status}</div>'
    else:
        fade = "opacity:.5;" if pending else ""
        why = ""
        if not res.exact:
            why = (
                f'<div style="font-size:0.85em;color:{WARN};margin-top:2px">≈ estimate: '
                f"{esc(res.reason or 'offline')}</div>"
            )
        edited = edited_note(res.original_input_tokens, res.exact)
        if edited:
            why += f'<div style="font-size:0.85em;color:{FG2};margin-top:2px">{esc(edited)}</div>'
        cost = format_cost(res.cost_usd)
        price = " at the list input price" if res.cost_usd is not None else ""
        body = (
            f'<div style="{fade}display:flex;align-items:baseline;flex-wrap:wrap;gap:6px">'
            f'<span><span style="font-size:2.1em;font-weight:650;line-height:1.15;font-variant-numeric:tabular-nums">'
            f"{esc(res.label)}</span>{_likely(res)}</span>"
            f'<span style="color:{FG2}">input tokens</span> {_badge(res)}{status}</div>'
            f"{why}"
            f'<div style="font-size:0.9em;margin-top:4px;{fade}"><b>{esc(cost)}</b>{price} · '
            f"{esc(res.display_name or res.model)}</div>"
            f'<div style="{fade}">{_window_bar(res)}</div>'
        )
    if res is not None:
        notes = [*(f"⚠ {w}" for w in res.warnings), *notes]
    extra = "".join(f'<div style="font-size:0.82em;color:{FG2};margin-top:4px">{esc(n)}</div>' for n in info)
    extra += "".join(f'<div style="font-size:0.82em;color:{WARN};margin-top:4px">{esc(n)}</div>' for n in notes)
    hook = f' data-token-count="{res.input_tokens}"' if res is not None and not error else ""
    return (
        f'<div class="jtc-card jupyter-token-count"{hook} style="box-sizing:border-box;font-family:{FONT};'
        f'color:{FG};border:1px solid {BORDER};border-radius:8px;padding:10px 14px">{body}{extra}</div>'
    )
