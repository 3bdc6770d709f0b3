"""How every surface writes a count, a cost and a share of the context window: plain functions of numbers,
importing nothing of the package, so the result, the HTML card, the CLI and the call meter all use them.
The TypeScript side follows the same rules (tests/fixtures/format_examples.json pins both)."""

from __future__ import annotations

import math

#: a share of the context window above which surfaces warn
WARN_FRACTION = 0.8


def format_cost(usd: float | None, exact: bool = True) -> str:
    """A cost in US dollars: six decimals below a cent, four below a dollar (trailing zeros dropped), else cents
    with thousands separators; ``≈`` before the cost of an estimated count."""
    if usd is None:
        return "cost unknown"
    approx = "" if exact else "≈"
    if usd == 0:
        return approx + "$0"
    if usd < 0.01:
        return approx + ("$" + f"{usd:.6f}".rstrip("0").rstrip(".") if usd >= 1e-6 else "<$0.000001")
    return approx + (f"${usd:,.4f}".rstrip("0").rstrip(".") if usd < 1 else f"${usd:,.2f}")


def format_share(fraction: float | None) -> str:
    """A share (of the context window, of a total) as a percentage: one decimal, without a trailing ``.0``
    (``0.6%``, ``12.5%``, ``80%``, ``1,250%``); ``<0.1%`` for a share too small for that but not nothing; never
    rounded across 100%, so a request that fits never reads ``100%`` (``99.9%``) and one that does not never
    reads as fitting (``100.1%``); '' when unknown."""
    if fraction is None or not math.isfinite(fraction):
        return ""
    pct = fraction * 100
    if 0 < pct < 0.1:
        return "<0.1%"
    text = f"{pct:,.1f}"
    shown = float(text.replace(",", ""))
    if pct < 100 <= shown:
        text = "99.9"
    elif pct > 100 >= shown:
        text = "100.1"
    return text.removesuffix(".0") + "%"


def format_change(fraction: float) -> str:
    """A relative change by the share rule, with its sign: ``+12.5%``, ``-0.6%``, ``+<0.1%``, ``0%``."""
    if fraction == 0:
        return "0%"
    return ("+" if fraction > 0 else "-") + format_share(abs(fraction))


def format_tokens(n: int, exact: bool) -> str:
    return f"{'' if exact else '≈'}{n:,}"


def format_likely(n: int, low: int | None, high: int | None, exact: bool) -> str:
    """How far an estimate may be off, in words: ``likely 1,228–1,241`` (the range meant to hold the real count
    nine times in ten), ``likely exact`` when that range is the estimate alone; '' for an exact count."""
    if exact or low is None or high is None:
        return ""
    if low == high == n:
        return "likely exact"
    return f"likely {low:,}–{high:,}"


def format_estimate(n: int, low: int | None, high: int | None, exact: bool) -> str:
    """A count with its range where it has one: ``≈1,234, likely 1,228–1,241``; ``1,234`` when exact."""
    likely = format_likely(n, low, high, exact)
    return format_tokens(n, exact) + (f", {likely}" if likely else "")


def edited_note(original: int | None, exact: bool = True) -> str:
    """What a count with context editing adds after its number: ``after context editing, 5,678 before``."""
    return "" if original is None else f"after context editing, {format_tokens(original, exact)} before"
