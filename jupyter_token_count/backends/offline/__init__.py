"""The offline estimator: the best offline reconstruction of what ``POST /v1/messages/count_tokens``
returns for a request body, without a network call.

Text is tokenized by ctok (an offline reconstruction of Claude's tokenizers) when it is installed,
else by a coarser calibrated heuristic; the request's structure (turn markers, system prompt, tool
prompt and definitions, calls and results, thinking, images, documents) is costed with figures
calibrated on real counts and kept in ``models.json``. Modules:

* ``text``: text → content tokens (ctok or ``heuristic``), cached; the ``JUPYTER_TOKEN_COUNT_ESTIMATOR``
  environment variable set to ``fallback`` forces the heuristic.
* ``transcript``: the body → per-part tokens, costed as one transcript.
* ``tools``, ``images``, ``pdf``, ``structured`` (output schemas): the rules for those parts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...registry import ModelInfo, estimator_figures
from . import text as _text
from . import transcript as _transcript

__all__ = ["Estimate", "estimate", "estimator_name", "frame_tokens", "text_tokens"]


@dataclass
class Estimate:
    input_tokens: int
    #: token attribution keyed by JSON-pointer paths into the body ("/system", "/tools", "/tool_overhead",
    #: "/messages/3/content/1", …) and "/frame" for the remaining structural tokens; sums to input_tokens
    parts: dict[str, int] = field(default_factory=dict)
    #: short human caveats about what the estimate could not know
    notes: list[str] = field(default_factory=list)
    #: what it could not cost at all (only the API can): the count's reason says so
    uncounted: list[str] = field(default_factory=list)


def estimate(body: dict[str, Any], info: ModelInfo) -> Estimate:
    """Estimated ``input_tokens`` of a count_tokens request body for the model ``info``. Never raises
    on a well-formed body and never does I/O."""
    exact = _text.using_ctok()
    fig = estimator_figures(info)
    try:
        ctx = _transcript.build(body if isinstance(body, dict) else {}, info, fig, exact)
        parts, notes, uncounted = ctx.parts, ctx.notes, ctx.uncounted
    except Exception as exc:  # a shape we did not foresee: fall back to the body's JSON as text
        parts = {"/frame": int(fig.get("message_frame", 0))}
        parts["/messages"] = _json_fallback(body, info, exact)
        notes = [f"unexpected request shape ({type(exc).__name__}): counted as its JSON"]
        uncounted = []
    if not exact:
        reason = _text.fallback_reason()
        if reason:
            notes = [*notes, reason]
    if not info.known:
        notes = [
            *notes,
            f"{info.id} is not a known model: its {info.tokenizer} tokenizer is guessed from the name",
        ]
    parts = {k: v for k, v in parts.items() if v or k.startswith("/messages") or k == "/frame"}
    return Estimate(sum(parts.values()), parts, notes, uncounted)


def _json_fallback(body: Any, info: ModelInfo, exact: bool) -> int:
    import json

    try:
        payload = json.dumps({k: v for k, v in body.items() if k != "model"}, ensure_ascii=False, default=str)
    except Exception:
        payload = str(body)
    return _text.content_tokens(payload, info.ctok_version, info.tokenizer, exact=exact)


def frame_tokens(info: ModelInfo) -> int:
    """Tokens of the fixed frame of a request with one user message (what a per-cell badge subtracts)."""
    return int(estimator_figures(info).get("message_frame", 0))


def text_tokens(text: str, info: ModelInfo) -> int:
    """Content tokens of plain text as a user message's content, without the frame."""
    return _text.content_tokens(text, info.ctok_version, info.tokenizer)


def estimator_name() -> str:
    """What produces the text counts: e.g. ``"ctok 1.3.0"`` or ``"fallback (chars/token heuristic)"``."""
    return _text.backend_name()
