"""Plain text → tokens, through ctok when it is importable and the calibrated heuristic otherwise.

Every count here is a *content* count: the tokens a piece of text adds to a message, without the
message frame. ctok measures a text as the whole content of one user message, so its content count
already includes how the text's first and last characters meet the turn markers around it
(``Human: `` before, ``\\n\\nAssistant:`` after in the textual transcripts of v3/v4.7). That is why
the transcript can be costed turn by turn and still match one tokenization of the whole rendering.

Notebooks are recounted on every keystroke pause, so counts are cached per text (LRU), and long texts
are cut at paragraph breaks into chunks that are cached on their own: an edit re-tokenizes one chunk.
Where two pieces of text are glued without a marker between them (text blocks of one turn, chunks of a
long text) a small window around the seam is re-tokenized to correct for tokens that span it.
"""

from __future__ import annotations

import copy
import itertools
import os
import threading
from functools import lru_cache

from . import heuristic

ENV_VAR = "JUPYTER_TOKEN_COUNT_ESTIMATOR"

_CHUNK = 16_000  # characters per cached chunk of a long text (≈ 0.1 s of ctok time)
_SEAM = 48  # characters either side of a seam that are re-tokenized to correct it

_ctok_lock = threading.Lock()
_ctok_state: dict[str, object] = {}


def _ctok():
    """The ctok module, or None when it cannot be imported (it declares Python >= 3.12)."""
    with _ctok_lock:
        if "mod" not in _ctok_state:
            try:
                import ctok

                _ctok_state["mod"] = ctok
            except Exception:  # ImportError, or a broken install on an unsupported Python
                _ctok_state["mod"] = None
        return _ctok_state["mod"]


def _forced_fallback() -> bool:
    return os.environ.get(ENV_VAR, "").strip().lower() == "fallback"


def using_ctok() -> bool:
    """Whether counts come from ctok (False: forced or automatic fallback)."""
    return not _forced_fallback() and _ctok() is not None


@lru_cache(maxsize=1)
def _ctok_version() -> str:
    try:
        from importlib.metadata import version

        return f"ctok {version('ctok')}"
    except Exception:
        return "ctok"


def backend_name() -> str:
    return _ctok_version() if using_ctok() else "fallback (chars/token heuristic)"


def fallback_reason() -> str | None:
    """Why the heuristic is in use, for the estimate's notes; None when ctok is used."""
    if using_ctok():
        return None
    if _forced_fallback():
        return f"{ENV_VAR}=fallback: coarse text estimate (about ±10%)"
    return "ctok not installed: coarse text estimate (about ±10%)"


# ---- ctok ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _ctok_model(version: str, bow: bool):
    """ctok's loaded tokenizer model for a version; ``bow=False`` gives a copy whose frame does not
    end in a word boundary (the start of the prompt, where no ``Human: `` precedes the text)."""
    from ctok import main as ctok_main

    model = ctok_main._model(ctok_main._family(version))
    if bow or not model.frame_bow:
        return model
    clone = copy.copy(model)
    clone.frame_bow = False
    return clone


def _ctok_content(text: str, version: str, bow: bool) -> int:
    mod = _ctok()
    assert mod is not None
    try:
        from ctok.engine import tile

        cost, _ = tile(text, _ctok_model(version, bow))
        return int(cost)
    except Exception:
        # ctok internals moved: the public API (frame included, word boundary assumed) still works
        return mod.token_count(text, version) - mod.token_count(".", version) + 1


# ---- counting with caches -----------------------------------------------------------------------------


@lru_cache(maxsize=2048)  # ≤ 2048 texts of ≤ 24K characters
def _piece(text: str, version: str, family: str, bow: bool, exact: bool) -> int:
    """Content tokens of one short-enough text (the cache unit)."""
    if exact:
        return _ctok_content(text, version, bow)
    return heuristic.count(text, family)


def _chunks(text: str) -> list[str]:
    """Cut a long text at paragraph (else line) breaks into pieces of about ``_CHUNK`` characters, so an
    edit re-tokenizes one piece. Breaks fall after the newline run, where few tokens span."""
    out: list[str] = []
    start = 0
    n = len(text)
    while n - start > _CHUNK:
        cut = text.rfind("\n\n", start + _CHUNK // 2, start + _CHUNK)
        if cut < 0:
            cut = text.rfind("\n", start + _CHUNK // 2, start + _CHUNK)
        if cut < 0:
            cut = text.rfind(" ", start + _CHUNK // 2, start + _CHUNK)
        if cut < 0:
            cut = start + _CHUNK - 1
        cut += 1
        while cut < n and text[cut] == "\n":  # keep a newline run whole
            cut += 1
        out.append(text[start:cut])
        start = cut
    out.append(text[start:])
    return out


def seam(left: str, right: str, version: str, family: str, exact: bool) -> int:
    """Tokens gained (usually ≤ 0) when ``left`` and ``right`` are glued with nothing between them,
    measured on a window around the seam. The window's own edge effects cancel in the difference."""
    if not left or not right or not exact:  # the heuristic has no notion of tokens spanning a seam
        return 0
    a, b = left[-_SEAM:], right[:_SEAM]
    # the left window's head and the right window's tail are artificial message edges; both cancel
    return (
        _piece(a + b, version, family, True, exact)
        - _piece(a, version, family, True, exact)
        - _piece(b, version, family, True, exact)
    )


def content_tokens(
    text: str, version: str, family: str, *, bow: bool = True, exact: bool | None = None
) -> int:
    """Tokens ``text`` adds as (part of) a message's content. ``bow=False``: the text opens the prompt
    (a system prompt), so a leading space or newline is not absorbed by a preceding ``Human: ``."""
    if not text:
        return 0
    if exact is None:
        exact = using_ctok()
    if len(text) <= _CHUNK * 1.5:
        return _piece(text, version, family, bow, exact)
    parts = _chunks(text)
    total = _piece(parts[0], version, family, bow, exact)
    for prev, part in itertools.pairwise(parts):
        total += _piece(part, version, family, True, exact) + seam(prev, part, version, family, exact)
    return total


def clear_cache() -> None:
    _piece.cache_clear()
