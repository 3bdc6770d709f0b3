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
estimator's *leave-one-source-out* errors, so they describe requests from sources the figures never saw: one
set per kind of request that has enough real counts (``by_kind``; the pooled set otherwise), plus a margin
per kind (``pad``) where its features leave it too narrow; a feature with too few real counts keeps the prior
(or floor) the script declares. The fallback estimator (no ctok) has its own, wider set.

The range covers what the estimate counts. What only the API can count (``Estimate.uncounted``: an MCP
server's tools, context edits) is outside it, and the count's reason says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...registry import ModelInfo, estimate_ranges, few_counts

#: the features a range is built from, by the figures (dotted paths) or raw sizes that make them
FEATURES = (
    "request",  # 1: the frame and turn markers
    "beyond_text",  # 1 when the request holds more than text (tools, images, documents, thinking, schemas)
    "ktokens",  # the estimate's size, in thousands of tokens (text tokenized offline)
    "tools",  # 1 when the request has tools: the tool-use prompt
    "tool_turns",  # tool calls and results in the history
    "anthropic_tools",  # Anthropic-defined tools (bash, text editor, computer use, …): published sizes
    "images",  # image blocks
    "image_ktokens",  # tokens of those images, in thousands
    "pdf_ktokens",  # tokens of PDF documents, in thousands
    "documents",  # document and search-result blocks
    "citations",  # citations enabled
    "thinking",  # thinking blocks and thinking configuration
    "structured",  # structured outputs, tool input examples, task budgets
    "few_count_prompt_ktokens",  # a tool-use prompt that rests on fewer than five real counts, in thousands of tokens
    "few_count_ktokens",  # the other figures that do (measured or not: carried over, assumed), likewise
    "unruled_ktokens",  # content with no rule (counted as its JSON), in thousands of tokens
    "unknown_model_ktokens",  # the whole estimate, for a model id whose tokenizer the registry had to guess
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
    charged: Mapping[str, int],
    raw: Mapping[str, float],
    thin: Mapping[str, int],
    *,
    known: bool = True,
) -> dict[str, float]:
    """The feature vector of an estimate of ``total`` tokens that charged the figures ``uses`` (dotted path →
    times; ``charged``: → tokens), with the raw sizes ``raw``; ``thin`` maps the paths that rest on fewer than
    five real counts to how many."""
    out = dict.fromkeys(FEATURES, 0.0)
    out["request"] = 1.0
    out["ktokens"] = total / 1000
    out["tools"] = 1.0 if any(p.startswith("tool_overhead.") for p in uses) else 0.0
    out["anthropic_tools"] = float(raw.get("anthropic_tools", 0))
    out["image_ktokens"] = raw.get("image_tokens", 0) / 1000
    out["pdf_ktokens"] = raw.get("pdf_tokens", 0) / 1000
    out["unruled_ktokens"] = raw.get("unruled_tokens", 0) / 1000
    for name, paths in _GROUPS.items():
        out[name] = float(sum(uses.get(p, 0) for p in paths))
    for p, n in charged.items():
        if p in thin:
            out["few_count_prompt_ktokens" if p.startswith("tool_overhead") else "few_count_ktokens"] += abs(n) / 1000
    out["unknown_model_ktokens"] = 0.0 if known else total / 1000
    out["beyond_text"] = 0.0 if kind(out) == "text" else 1.0
    return out


#: the kinds of request, in the order that decides a request's kind
KINDS = ("images", "PDFs", "tools", "documents", "thinking", "structured output", "text")
#: the kinds whose ranges get a margin of their own: text with documents, thinking or a schema shares one
MARGINS = {"documents": "text with extras", "thinking": "text with extras", "structured output": "text with extras"}


def margin_group(kind_: str) -> str:
    return MARGINS.get(kind_, kind_)


def kind(feats: Mapping[str, float]) -> str:
    """What a request mostly is, by its features: the first that applies of ``KINDS``."""
    if feats.get("images"):
        return "images"
    if feats.get("pdf_ktokens"):
        return "PDFs"
    if feats.get("tools") or feats.get("tool_turns") or feats.get("anthropic_tools"):
        return "tools"
    if feats.get("documents") or feats.get("citations"):
        return "documents"
    if feats.get("thinking"):
        return "thinking"
    if feats.get("structured"):
        return "structured output"
    return "text"


def half_widths(feats: Mapping[str, float], coefficients: Mapping[str, Any]) -> tuple[float, float]:
    """(distance below, distance above) the estimate for a feature vector, in tokens: the sums with the
    coefficients of the request's kind (``margin_group``; the pooled ones for a kind with too few real counts of
    its own), plus the margin fitted for that kind (so each kind's range holds the real count as often as meant)."""
    group = margin_group(kind(feats))
    pad = float((coefficients.get("pad") or {}).get(group, 0.0))
    own = (coefficients.get("by_kind") or {}).get(group) or coefficients
    below = sum(float(c) * feats.get(f, 0.0) for f, c in (own.get("below") or {}).items())
    above = sum(float(c) * feats.get(f, 0.0) for f, c in (own.get("above") or {}).items())
    return below + pad, above + pad


def bounds(total: int, below: float, above: float) -> tuple[int, int]:
    """The whole-token range around ``total`` (distances rounded to the nearest token, halves up)."""
    return max(0, total - int(below + 0.5)), total + int(above + 0.5)


def interval(
    total: int,
    uses: Mapping[str, int],
    charged: Mapping[str, int],
    raw: Mapping[str, float],
    info: ModelInfo,
    *,
    exact_text: bool,
) -> tuple[int, int]:
    """The range of an estimate made for ``info`` (``exact_text``: text tokenized by ctok, else the fallback)."""
    feats = features(total, uses, charged, raw, few_counts(info), known=info.known)
    coefficients = estimate_ranges().get("ctok" if exact_text else "fallback") or {}
    return bounds(total, *half_widths(feats, coefficients))
