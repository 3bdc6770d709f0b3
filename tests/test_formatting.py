"""Python's side of the formatting rules shared with the JupyterLab extension: the same pinned examples
(tests/fixtures/format_examples.json) are checked by labextension/src/__tests__/formatters.spec.ts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jupyter_token_count.display import WARN, render_total
from jupyter_token_count.result import WARN_FRACTION, TokenCount, edited_note, format_cost, format_tokens

EXAMPLES = json.loads((Path(__file__).parent / "fixtures" / "format_examples.json").read_text(encoding="utf-8"))


def test_warn_fraction_is_the_pinned_one() -> None:
    assert EXAMPLES["warn_fraction"] == WARN_FRACTION


@pytest.mark.parametrize(("usd", "text"), EXAMPLES["cost"])
def test_format_cost(usd: float | None, text: str) -> None:
    assert format_cost(usd) == text


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
    assert res._repr_html_() == render_total(res)  # one renderer for a count, wherever it is shown
