"""How far an offline estimate may be from the real count: the range ``low``–``high`` meant to hold it nine
times in ten.

An estimate is text tokenized offline plus calibrated figures for the structure the API adds; each part errs in
its own way. Text through ctok is almost always right, a tool-use prompt can be off by a dozen tokens on a
model whose prompt changed, every tool call and result in the history by a token or two, an image by a few
percent, a PDF by far more, and a figure measured on fewer than five real counts (``few_counts`` in
``models.json``) by more than the others. So the distance below and above the estimate is a sum of
per-feature terms, each a coefficient times what the request holds of that feature (``features``).

The coefficients (``estimate_ranges`` in ``models.json``) are not chosen by hand: ``bench/calibration_error.py``
fits them as the 5th and 95th percentiles (a linear quantile regression with non-negative terms) of the
estimator's *leave-one-source-out* errors, so they describe requests from sources the figures never saw; a
feature with too few real counts keeps the prior the script declares. The fallback estimator (no ctok) has
its own, wider set.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...registry import ModelInfo, estimate_ranges, few_counts

#: the features a range is built from, by the figures (dotted paths) or raw sizes that make them
FEATURES = (
    "request",  # 1: the frame and turn markers
    "ktokens",  # the estimate's size, in thousands of tokens (text tokenized offline)
    "tools",  # 1 when the request has tools: the tool-use prompt
    "tool_definitions",  # custom tool definitions
    "tool_turns",  # tool calls and results in the history
    "anthropic_tools",  # Anthropic-defined tools (bash, text editor, computer use, …): published sizes
    "images",  # image blocks
    "image_ktokens",  # tokens of those images, in thousands
    "pdf_ktokens",  # tokens of PDF documents, in thousands
    "documents",  # document and search-result blocks
    "citations",  # citations enabled
    "thinking",  # thinking blocks and thinking configuration
    "structured",  # structured outputs, tool input examples, task budgets
    "few_counts",  # uses of figures that rest on fewer than five real counts
    "unruled_ktokens",  # content with no rule (counted as its JSON), in thousands of tokens
    "unknown_model",  # 1 for a model id the registry had to guess at
)

_GROUPS: dict[str, tuple[str, ...]] = {
    "tool_turns": ("tool_use.base", "tool_result.base"),
    "images": ("image",),
    "documents": ("document", "search_result"),
    "citations": ("citations",),
    "thinking": ("thinking", "thinking_config.enabled", "thinking_config.adaptive"),
    "structured": ("structured_output.base", "input_examples.base", "task_budget"),
}


def features(
    total: int,
    uses: Mapping[str, int],
    raw: Mapping[str, float],
    thin: Mapping[str, Any] | set[str],
    *,
    known: bool = True,
) -> dict[str, float]:
    """The feature vector of an estimate of ``total`` tokens that charged the figures ``uses`` (dotted path →
    times), with the raw sizes ``raw``; ``thin`` holds the paths that rest on fewer than five real counts."""
    out = dict.fromkeys(FEATURES, 0.0)
    out["request"] = 1.0
    out["ktokens"] = total / 1000
    out["tools"] = 1.0 if any(p.startswith("tool_overhead.") for p in uses) else 0.0
    out["tool_definitions"] = float(raw.get("tool_definitions", 0))
    out["anthropic_tools"] = float(raw.get("anthropic_tools", 0))
    out["image_ktokens"] = raw.get("image_tokens", 0) / 1000
    out["pdf_ktokens"] = raw.get("pdf_tokens", 0) / 1000
    out["unruled_ktokens"] = raw.get("unruled_tokens", 0) / 1000
    for name, paths in _GROUPS.items():
        out[name] = float(sum(uses.get(p, 0) for p in paths))
    out["few_counts"] = float(sum(n for p, n in uses.items() if p in thin))
    out["unknown_model"] = 0.0 if known else 1.0
    return out


def half_widths(feats: Mapping[str, float], coefficients: Mapping[str, Mapping[str, float]]) -> tuple[float, float]:
    """(distance below, distance above) the estimate for a feature vector, in tokens."""
    below = sum(float(c) * feats.get(f, 0.0) for f, c in (coefficients.get("below") or {}).items())
    above = sum(float(c) * feats.get(f, 0.0) for f, c in (coefficients.get("above") or {}).items())
    return below, above


def bounds(total: int, below: float, above: float) -> tuple[int, int]:
    """The whole-token range around ``total`` (distances rounded to the nearest token, halves up)."""
    return max(0, total - int(below + 0.5)), total + int(above + 0.5)


def interval(
    total: int, uses: Mapping[str, int], raw: Mapping[str, float], info: ModelInfo, *, exact_text: bool
) -> tuple[int, int]:
    """The range of an estimate made for ``info`` (``exact_text``: text tokenized by ctok, else the fallback)."""
    feats = features(total, uses, raw, few_counts(info), known=info.known)
    coefficients = estimate_ranges().get("ctok" if exact_text else "fallback") or {}
    return bounds(total, *half_widths(feats, coefficients))
