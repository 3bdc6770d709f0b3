"""Python's side of the formatting rules shared with the JupyterLab extension: the same pinned examples
(tests/fixtures/format_examples.json) are checked by labextension/src/__tests__/formatters.spec.ts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jupyter_token_count.display import WARN, render_total
from jupyter_token_count.formatting import (
    WARN_FRACTION,
    edited_note,
    format_change,
    format_cost,
    format_share,
    format_tokens,
)
from jupyter_token_count.result import TokenCount

EXAMPLES = json.loads((Path(__file__).parent / "fixtures" / "format_examples.json").read_text(encoding="utf-8"))


def test_warn_fraction_is_the_pinned_one() -> None:
    assert EXAMPLES["warn_fraction"] == WARN_FRACTION


@pytest.mark.parametrize(("usd", "text"), EXAMPLES["cost"])
def test_format_cost(usd: float | None, text: str) -> None:
    assert format_cost(usd) == text


@pytest.mark.parametrize(("fraction", "text"), EXAMPLES["share"])
def test_format_share(fraction: float | None, text: str) -> None:
    assert format_share(fraction) == text


def test_a_change_follows_the_share_rule_with_its_sign() -> None:
    assert [format_change(x) for x in (0.125, -0.00617, 0.0004, 0.0, -1.0)] == [
        "+12.5%",
        "-0.6%",
        "+<0.1%",
        "0%",
        "-100%",
    ]


def test_the_cost_of_an_estimate_is_marked() -> None:
    assert [format_cost(0.0037, False), format_cost(2.5, False), format_cost(None, False)] == [
        "≈$0.0037",
        "≈$2.50",
        "cost unknown",
    ]


@pytest.mark.parametrize(("original", "exact", "text"), EXAMPLES["edited"])
def test_edited_note(original: int | None, exact: bool, text: str) -> None:
    assert edited_note(original, exact) == text


@pytest.mark.parametrize(("tokens", "exact", "text"), EXAMPLES["count"])
def test_format_tokens(tokens: int, exact: bool, text: str) -> None:
    assert format_tokens(tokens, exact) == text


@pytest.mark.parametrize(("tokens", "window", "warn"), EXAMPLES["warning"])
def test_the_renderer_warns_by_the_shared_rule(tokens: int, window: int | None, warn: bool) -> None:
    # exact and without warnings, so the warning colour can only come from the context-window bar
    res = TokenCount(input_tokens=tokens, exact=True, source="api", model="m", context_window=window)
    assert (WARN in render_total(res)) is warn
    assert (WARN in res._repr_html_()) is warn  # a count shown on its own follows the same rule


def test_a_count_shows_itself_as_the_card() -> None:
    # figures written out by hand: 1,234 of a 200,000-token window is 0.617%, shown to one place
    res = TokenCount(
        1234, True, "api", "claude-sonnet-4-5", cost_usd=0.003702, context_window=200_000, display_name="Sonnet"
    )
    html = res._repr_html_()
    for piece in (
        'data-token-count="1234"',
        ">1,234</span>",
        ">exact</span>",
        "<b>$0.003702</b> at the list input price · Sonnet",
        "0.6% of the 200,000-token context window",
    ):
        assert piece in html
    assert "≈" not in html and "estimate" not in html
    estimate = TokenCount(1234, False, "offline", "claude-sonnet-4-5", reason="offline", low=1200, high=1300)
    html = estimate._repr_html_()
    for piece in (">≈1,234</span>", ", likely 1,200–1,300</span>", ">estimate</span>", "≈ estimate: offline"):
        assert piece in html
    assert "cost unknown" in html and "context window unknown for claude-sonnet-4-5" in html
