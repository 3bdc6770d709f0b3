"""Plain text → tokens, through ctok when it is importable and the calibrated heuristic otherwise.

Every count here is a *content* count: the tokens a piece of text adds to a message, without the
message frame. ctok measures a text as the whole content of one user message, so its content count
already includes how the text's first and last characters meet the turn markers around it
(``Human: `` before, ``\\n\\nAssistant:`` after in the textual transcripts of v3/v4.7). That is why
the transcript can be costed turn by turn and still match one tokenization of the whole rendering.

ctok's count is computed by ``tiling`` (same count, several times faster: words and stream pieces are
memoised) with ctok's own tiler as the fallback should its internals move. Notebooks are recounted on
every keystroke pause, so counts of whole texts are cached too. Every cache is bounded by bytes.
Where two pieces of text are glued without a marker between them (text blocks of one turn) a small
window around the seam is re-tokenized to correct for tokens that span it.
"""

from __future__ import annotations

import copy
import logging
import os
import sys
import threading
import time
from collections import OrderedDict
from functools import lru_cache
from types import ModuleType

from ...memo import ByteBoundedCache
from . import heuristic, normal
from .deadline import EstimateTimeout

ENV_VAR = "JUPYTER_TOKEN_COUNT_ESTIMATOR"
log = logging.getLogger(__name__)

_CHUNK = 16_000  # texts up to 1.5× this are cached whole; longer ones rely on the tiler's word memo
_SEAM = 48  # characters either side of a seam that are re-tokenized to correct it
_TEXT_CACHE_BYTES = 16 * 2**20
#: a text whose count alone ran this long when its estimate's deadline passed is not tokenized again
SLOW_SECONDS = 1.0
#: UTF-8 bytes per token of a rough count (English prose is about 4 a token, CJK 3, code less)
ROUGH_BYTES_PER_TOKEN = 3

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


def forced_fallback() -> bool:
    """Whether JUPYTER_TOKEN_COUNT_ESTIMATOR=fallback asks for the coarse heuristic."""
    return os.environ.get(ENV_VAR, "").strip().lower() == "fallback"


def using_ctok() -> bool:
    """Whether counts come from ctok (False: forced or automatic fallback)."""
    return not forced_fallback() and _ctok() is not None


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
    """Why the coarse heuristic is in use, said wherever an estimate is shown; None when ctok is used."""
    if using_ctok():
        return None
    if forced_fallback():
        return f"coarse estimator ({ENV_VAR}=fallback): text counts within about ±10%"
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    if sys.version_info < (3, 12):
        why = f"ctok, the accurate offline tokenizer, needs Python ≥ 3.12 (this is {here})"
    else:
        why = "ctok, the accurate offline tokenizer, is not installed"
    return f"coarse estimator: {why}; text counts within about ±10%"


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


def _tiling() -> ModuleType | None:
    """The fast exact counter, or None when it cannot work with the installed ctok."""
    with _ctok_lock:
        if "tiling" not in _ctok_state:
            try:
                from . import tiling

                _ctok_state["tiling"] = tiling
            except Exception:  # ctok's internals moved: count with ctok itself
                _ctok_state["tiling"] = None
        return _ctok_state["tiling"]  # type: ignore[return-value]


def _ctok_content(text: str, version: str, bow: bool) -> int:
    mod = _ctok()
    assert mod is not None
    fast = _tiling()
    if fast is not None:
        try:
            return fast.content_count(text, version, bow)
        except Exception:  # ctok's internals moved under the piecewise counter: ctok counts from now on
            log.warning("piecewise offline counting failed; counting with ctok itself", exc_info=True)
            with _ctok_lock:
                _ctok_state["tiling"] = None
    try:
        from ctok.engine import tile

        # ctok normalises the text itself: give it long runs of marks in order (normal.py: same result)
        cost, _ = tile(normal.presorted(text), _ctok_model(version, bow))
        return int(cost)
    except Exception:
        # ctok internals moved: the public API (frame included, word boundary assumed) still works
        return mod.token_count(text, version) - mod.token_count(".", version) + 1


# ---- counting with caches -----------------------------------------------------------------------------


_texts = ByteBoundedCache(_TEXT_CACHE_BYTES)
_texts_lock = threading.Lock()


_slow: OrderedDict[tuple[int, int, str, str, bool, bool], None] = OrderedDict()
_SLOW_SIZE = 256


def _slow_key(text: str, version: str, family: str, bow: bool, exact: bool) -> tuple[int, int, str, str, bool, bool]:
    return (hash(text), len(text), version, family, bow, exact)  # not the text: it may be megabytes


def too_slow(text: str, version: str, family: str, bow: bool, exact: bool) -> bool:
    """Whether tokenizing this text once ran into its estimate's deadline on its own (then it is costed from
    its length from now on, instead of using up every later estimate's time again)."""
    if len(text) < _SEAM or not _slow:
        return False
    with _texts_lock:
        return _slow_key(text, version, family, bow, exact) in _slow


def cached(text: str, version: str, family: str, bow: bool, exact: bool) -> int | None:
    """The count of a text if it is in the cache of whole texts (no tokenizing), else None."""
    with _texts_lock:
        return _texts.get((text, version, family, bow, exact))


def rough_tokens(text: str) -> int:
    """A count from the text's length alone, for an estimate past its deadline: linear in C, never slow."""
    return max(1, round(len(text.encode("utf-8", "surrogatepass")) / ROUGH_BYTES_PER_TOKEN))


def _piece(text: str, version: str, family: str, bow: bool, exact: bool) -> int:
    """Content tokens of one text, cached whole when it is not long."""
    key = (text, version, family, bow, exact)
    cached = len(text) <= _CHUNK * 1.5
    if cached:
        with _texts_lock:
            hit = _texts.get(key)
        if hit is not None:
            return hit
    started = time.monotonic()
    try:
        n = _ctok_content(text, version, bow) if exact else heuristic.count(text, family)
    except EstimateTimeout:
        if time.monotonic() - started >= SLOW_SECONDS:
            with _texts_lock:
                _slow[_slow_key(text, version, family, bow, exact)] = None
                while len(_slow) > _SLOW_SIZE:
                    _slow.popitem(last=False)
        raise
    if cached:
        with _texts_lock:
            _texts.put(key, n, sys.getsizeof(text) + 100)
    return n


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


def content_tokens(text: str, version: str, family: str, *, bow: bool = True, exact: bool | None = None) -> int:
    """Tokens ``text`` adds as (part of) a message's content. ``bow=False``: the text opens the prompt
    (a system prompt), so a leading space or newline is not absorbed by a preceding ``Human: ``."""
    if not text:
        return 0
    if exact is None:
        exact = using_ctok()
    return _piece(text, version, family, bow, exact)


def prepare(version: str, exact: bool) -> None:
    """Load the tokenizer a count will use (ctok's vocabularies take a second): before an estimate's time limit
    is armed, so that loading is never interrupted half way."""
    if not exact:
        return
    try:
        fast = _tiling()
        if fast is not None:
            fast.prepare(version)
        else:
            _ctok_model(version, True)
            _ctok_model(version, False)
    except Exception:  # the first count says what is wrong (and falls back as it can)
        pass


def clear_cache() -> None:
    """Forget every count (whole texts, texts found too slow, and the tiler's words and pieces); not the
    vocabularies."""
    with _texts_lock:
        _texts.clear()
        _slow.clear()
    fast = _tiling() if _ctok() is not None else None
    if fast is not None:
        fast.clear_caches()
