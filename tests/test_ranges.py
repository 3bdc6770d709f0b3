"""The offline estimate's range (low–high): its shape on every kind of request, the fitting machinery of
``bench/calibration_error.py`` on synthetic data (where the answer is known), and the format-preserving edits
that write its figures into models.json. The coverage on real counts is the bench's job (``--check``)."""

from __future__ import annotations

import base64
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from media import image_bytes, pdf_bytes

from jupyter_token_count.backends import offline
from jupyter_token_count.backends.offline import ranges
from jupyter_token_count.backends.offline import text as textmod
from jupyter_token_count.formatting import format_estimate, format_likely
from jupyter_token_count.registry import estimate_ranges, few_counts, resolve
from jupyter_token_count.result import TokenCount

ROOT = Path(__file__).resolve().parent.parent
ENV = "JUPYTER_TOKEN_COUNT_ESTIMATOR"
TOOL = {
    "name": "get_weather",
    "description": "Get the current weather in a given location",
    "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
}
PROSE = (
    "The committee reviewed the proposal in detail and agreed that the budget, the schedule and the staffing "
    "plan were all reasonable, although two members asked for a clearer account of the risks. "
) * 40


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        yield importlib.import_module("range_fit"), importlib.import_module("json_edit")
    finally:
        sys.path.remove(str(ROOT / "bench"))


def est(body: dict, model: str = "claude-sonnet-4-5") -> offline.Estimate:
    return offline.estimate(body, resolve(model))


def msg(content) -> dict:
    return {"messages": [{"role": "user", "content": content}]}


def png_block(width: int, height: int) -> dict:
    data = base64.b64encode(image_bytes("PNG", (width, height))).decode()
    return {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}}


# ---- the range on every kind of request --------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        msg("Hello, Claude"),
        msg(PROSE),
        {**msg("Weather in Paris?"), "tools": [TOOL]},
        msg([png_block(800, 600), {"type": "text", "text": "What is this?"}]),
        {**msg("Think."), "thinking": {"type": "enabled", "budget_tokens": 2048}},
    ],
    ids=["short text", "long text", "tools", "image", "thinking"],
)
def test_every_estimate_has_a_range_around_it(body):
    e = est(body)
    assert 0 <= e.low <= e.input_tokens <= e.high


def test_the_shipped_ranges_come_from_the_fit():
    data = estimate_ranges()
    assert "calibration_error.py" in data["_source"]
    for estimator in ("ctok", "fallback"):
        assert set(data[estimator]) >= {"below", "above"}
        assert set(data[estimator]["below"]) <= set(ranges.FEATURES)


@pytest.mark.skipif(not textmod.using_ctok(), reason="ctok is not importable on this Python")
def test_structure_widens_the_range_and_plain_text_is_tight():
    text = est(msg("What is the capital of France?"))
    tools = est({**msg("What is the capital of France?"), "tools": [TOOL]})
    image = est(msg([png_block(1200, 900), {"type": "text", "text": "What is the capital of France?"}]))
    assert text.high - text.low <= 2  # ctok is almost always exact on text
    assert tools.high - tools.low > text.high - text.low
    assert image.high - image.low > text.high - text.low


def test_a_pdf_is_the_widest_part():
    data = base64.b64encode(pdf_bytes(2, "A page of text about budgets and schedules.")).decode()
    doc = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": data}}
    e = est(msg([doc, {"type": "text", "text": "Summarise."}]))
    # no real PDF count exists: the range carries the PDF rule's own stated accuracy (about ±30%)
    assert e.high - e.input_tokens >= 0.2 * e.input_tokens
    assert e.input_tokens - e.low >= 0.2 * e.input_tokens


def test_a_figure_on_few_counts_widens_the_range():
    body = {**msg("Weather in Paris?"), "tools": [TOOL]}
    measured = est(body, "claude-sonnet-4-5")  # its tool prompt rests on hundreds of counts
    guessed = est(body, "claude-fable-5-2")  # no docs row, no count: another model's figure
    assert "tool_overhead.auto" not in few_counts(resolve("claude-sonnet-4-5"))
    assert few_counts(resolve("claude-fable-5-2"))["tool_overhead.auto"] == 0
    assert guessed.high - guessed.low > measured.high - measured.low


def test_an_unknown_model_gets_a_wide_range():
    known = est(msg(PROSE), "claude-sonnet-4-5")
    unknown = est(msg(PROSE), "claude-nova-9")
    assert unknown.high - unknown.low >= 0.3 * unknown.input_tokens > known.high - known.low


@pytest.mark.skipif(not textmod.using_ctok(), reason="the fallback must be compared with ctok")
def test_the_fallback_has_its_own_wider_range(monkeypatch):
    exact = est(msg(PROSE))
    monkeypatch.setenv(ENV, "fallback")
    rough = est(msg(PROSE))
    assert (rough.high - rough.low) > (exact.high - exact.low)
    assert rough.low <= rough.input_tokens <= rough.high


def test_features_and_bounds():
    uses = {"tool_overhead.auto": 1, "tool_use.base": 2, "tool_result.base": 2, "image": 1, "task_budget": 1}
    charged = {"tool_overhead.auto": 300, "tool_use.base": 40, "tool_result.base": 40, "image": 3, "task_budget": 35}
    raw = {"image_tokens": 1200, "pdf_tokens": 0}
    feats = ranges.features(2000, uses, charged, raw, {"task_budget": 2, "tool_overhead.auto": 0})
    assert feats["tools"] == 1 and feats["tool_turns"] == 4 and feats["images"] == 1
    assert feats["image_ktokens"] == pytest.approx(1.2)
    assert feats["few_count_prompt_ktokens"] == pytest.approx(0.3)
    assert feats["few_count_ktokens"] == pytest.approx(0.035)
    assert ranges.kind(feats) == "images"
    coefficients = {"below": {"request": 1.0}, "above": {"images": 2.0}, "pad": {"images": 0.5}}
    assert ranges.half_widths(feats, coefficients) == (1.5, 2.5)
    # distances round to the nearest token, halves up; the range never goes below zero
    assert ranges.bounds(100, 1.5, 2.49) == (98, 102)
    assert ranges.bounds(1, 5.0, 0.0) == (0, 1)


# ---- the result and its words ------------------------------------------------------------------------------


def test_an_exact_count_is_its_own_range():
    exact = TokenCount(1234, True, "api", "claude-sonnet-4-5", low=1000, high=2000)
    assert (exact.low, exact.high) == (1234, 1234)
    assert exact.to_dict()["low"] == exact.to_dict()["high"] == 1234
    assert exact.likely == ""
    estimate = TokenCount(1234, False, "offline", "claude-sonnet-4-5", low=1228, high=1241)
    assert estimate.to_dict()["low"] == 1228 and estimate.to_dict()["high"] == 1241
    assert "likely 1,228–1,241" in estimate.summary()


def test_the_words_for_a_range():
    examples = json.loads((ROOT / "tests" / "fixtures" / "format_examples.json").read_text(encoding="utf-8"))
    for n, low, high, exact, words in examples["estimate"]:
        assert format_estimate(n, low, high, exact) == words
    assert format_likely(5, 5, 5, False) == "likely exact"
    assert format_likely(5, None, None, False) == ""


# ---- the fitting machinery on synthetic data ----------------------------------------------------------------


def test_quantile_fit_finds_the_quantile(bench):
    range_fit, _ = bench
    # errors uniform on 0..99 tokens per unit of a feature: the 95th percentile per unit is 94
    xs = [[1.0], [2.0]] * 50
    ys = [float(i % 100) * x[0] for i, x in enumerate(xs)]
    (beta,) = range_fit.quantile_fit(xs, ys, [1.0] * len(xs), 0.95, {})
    assert 93 <= beta <= 96
    # a fixed coordinate stays; non-negative whatever the data
    assert range_fit.quantile_fit(xs, [-y for y in ys], [1.0] * len(xs), 0.95, {}) == [0.0]
    assert range_fit.quantile_fit(xs, ys, [1.0] * len(xs), 0.95, {0: 7.0}) == [7.0]


def test_a_kind_gets_the_margin_that_covers_it(bench):
    range_fit, _ = bench
    rows = [range_fit.Row({}, 100, 100 + (i % 4), {"request": 1.0, "thinking": 1.0}, ("thinking",)) for i in range(40)]
    pads = range_fit.kind_pads(rows, {"below": {}, "above": {}}, 0.9)
    # errors of 0–3 tokens, a quarter each: 90% needs 3 tokens, a pad of 3 (2.5 reaches 3 when rounded)
    assert pads == {"text with extras": 3.0}


def test_json_edits_keep_the_layout(bench):
    _, json_edit = bench
    text = '{\n  "a": {"x": 1, "y": [1, 2]},\n  "b": {"z": 2}\n}\n'
    doc = json_edit.JsonText(text)
    doc.set(("a", "x"), 5)
    doc.set(("b", "w"), {"k": 1})
    doc.delete(("a", "y"))
    assert doc.text == '{\n  "a": {"x": 5},\n  "b": {"z": 2, "w": {"k": 1}}\n}\n'
    assert json.loads(doc.text) == {"a": {"x": 5}, "b": {"z": 2, "w": {"k": 1}}}
    assert doc.get(("b", "w", "k")) == 1 and doc.get(("c",)) is None


def test_the_card_shows_the_range_of_an_estimate():
    estimate = TokenCount(1234, False, "offline", "claude-sonnet-4-5", reason="offline mode", low=1228, high=1241)
    html = estimate._repr_html_()
    assert "≈1,234" in html and ", likely 1,228–1,241" in html
    assert "likely" not in TokenCount(1234, True, "api", "claude-sonnet-4-5")._repr_html_()


def test_the_fit_check_skips_without_the_real_counts(tmp_path: Path):
    # a user's clone has no ../shared/calibration: --check says so and passes
    p = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "calibration_error.py"), "--check", "--calibration", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    assert "skipped" in p.stdout and "calibration data not found" in p.stdout
