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
* ``ranges``: how far the estimate may be off, as a range ``low``–``high`` (fitted on real counts).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from ...registry import ModelInfo, estimator_figures
from . import deadline as _deadline
from . import ranges as _ranges
from . import text as _text
from . import transcript as _transcript
from .deadline import EstimateTimeout

#: seconds an estimate may take unless its caller says otherwise; past them, what is left is costed roughly
TIME_LIMIT = 10.0
#: how far a rough count (from a text's length) may be off, as fractions of it: a run of newlines costs far
#: fewer tokens than its bytes suggest, a run of marks or of emoji far more
ROUGH_BELOW, ROUGH_ABOVE = 0.75, 2.0

__all__ = [
    "TIME_LIMIT",
    "Estimate",
    "EstimateTimeout",
    "estimate",
    "estimator_name",
    "frame_tokens",
    "qualify",
    "text_tokens",
]


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
    #: the range meant to hold the real count nine times in ten (``ranges``); low <= input_tokens <= high
    low: int = -1
    high: int = -1
    #: the calibrated figures the estimate charged (dotted path → times) and the raw sizes its range needs
    uses: dict[str, int] = field(default_factory=dict, repr=False)
    charged: dict[str, int] = field(default_factory=dict, repr=False)
    raw: dict[str, float] = field(default_factory=dict, repr=False)
    #: set when part of the text was costed from its length (the deadline passed, or a text known to be too
    #: slow to tokenize): what the answer must say; such an estimate is never memoised as the estimate
    rough: str | None = None

    def __post_init__(self) -> None:
        if self.low < 0:
            self.low = self.input_tokens
        if self.high < 0:
            self.high = self.input_tokens


def estimate(body: dict[str, Any], info: ModelInfo, *, deadline: float | None = None) -> Estimate:
    """Estimated ``input_tokens`` of a count_tokens request body for the model ``info``. Never raises
    on a well-formed body and never does I/O. ``deadline`` (``time.monotonic()``; default ``TIME_LIMIT``
    seconds from now, ``math.inf`` for none): past it, the text not tokenized yet is costed from its length
    and the estimate says so (``rough``)."""
    exact = _text.using_ctok()
    fig = estimator_figures(info)
    if deadline is None:
        deadline = time.monotonic() + TIME_LIMIT
    started = time.monotonic()
    _text.prepare(info.ctok_version, exact)
    stopped = False
    try:
        with _deadline.limit(deadline if math.isfinite(deadline) else None):
            ctx = _build(body, info, fig, exact, rough=False)
    except EstimateTimeout:
        stopped = True
        ctx = _build(body, info, fig, exact, rough=True)
    parts, notes, uncounted = ctx.parts, ctx.notes, ctx.uncounted
    rough = None
    if ctx.rough_chars:
        why = (
            f"the offline tokenizer stopped after {time.monotonic() - started:.3g} s"
            if stopped
            else "the offline tokenizer took too long on this text before"
        )
        rough = f"rough: {ctx.rough_chars:,} characters counted from their length ({why})"
        notes = [*notes, rough]
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
    total = sum(parts.values())
    low, high = _ranges.interval(total, ctx.uses, ctx.charged, ctx.raw, info, exact_text=exact)
    if ctx.rough_tokens:
        low = max(0, low - round(ctx.rough_tokens * ROUGH_BELOW))
        high += round(ctx.rough_tokens * ROUGH_ABOVE)
    return Estimate(
        total,
        parts,
        notes,
        uncounted,
        low=low,
        high=high,
        uses=dict(ctx.uses),
        charged=dict(ctx.charged),
        raw=dict(ctx.raw),
        rough=rough,
    )


def _build(body: Any, info: ModelInfo, fig: dict[str, Any], exact: bool, *, rough: bool) -> _transcript.Ctx:
    """The transcript of ``body``: its parts, notes, what it could not cost, what the range needs, and how much
    of its text was costed from its length."""
    try:
        return _transcript.build(body if isinstance(body, dict) else {}, info, fig, exact, rough)
    except Exception as exc:  # a shape we did not foresee: fall back to the body's JSON as text
        ctx = _transcript.Ctx(info, fig, exact=exact, rough=rough)
        ctx.parts["/frame"] = int(fig.get("message_frame", 0))
        ctx.parts["/messages"] = ctx.count(_json_text(body))
        ctx.raw["unruled_tokens"] = ctx.parts["/messages"]
        ctx.notes = [f"unexpected request shape ({type(exc).__name__}): counted as its JSON"]
        return ctx


def _json_text(body: Any) -> str:
    import json

    try:
        return json.dumps({k: v for k, v in body.items() if k != "model"}, ensure_ascii=False, default=str)
    except Exception:
        return str(body)


def frame_tokens(info: ModelInfo) -> int:
    """Tokens of the fixed frame of a request with one user message (what a per-cell badge subtracts)."""
    return int(estimator_figures(info).get("message_frame", 0))


def text_tokens(text: str, info: ModelInfo) -> int:
    """Content tokens of plain text as a user message's content, without the frame."""
    return _text.content_tokens(text, info.ctok_version, info.tokenizer)


def qualify(reason: str | None) -> str | None:
    """An estimate's reason, naming the coarse estimator when it made the estimate: every surface shows the
    reason beside ≈, so that is where a user learns the figure is coarser than our accuracy table says."""
    coarse = _text.fallback_reason()
    if not coarse or (reason and coarse in reason):
        return reason
    return f"{reason}; {coarse}" if reason else coarse


def estimator_name() -> str:
    """What produces the text counts: e.g. ``"ctok 1.3.0"`` or ``"fallback (chars/token heuristic)"``."""
    return _text.backend_name()
