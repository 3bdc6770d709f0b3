"""ctok's text normalisation (NFC and its folds) in time linear in the text, in slices that hold the GIL briefly.

``unicodedata.normalize("NFC")`` puts each run of combining marks into canonical order with an insertion sort:
quadratic in the run's length, in one C call that holds the GIL. A cell that is one base letter and 160,000
marks of mixed classes (or U+0F73, which decomposes into two marks) took 15 s per count, and every thread
of the Jupyter server waited. Two changes make it linear without changing a single result:

* **Long runs of marks are put in order first** (decomposed, then a stable sort by combining class, which is
  what canonical ordering is). ``normalize`` then finds them sorted, and its sort is linear. Only characters
  of category M can be or decompose into non-starters (the tests check every code point), so a text without
  a run of ``RUN`` marks is left untouched.
* **A long text is normalised in slices** cut before an ASCII space or newline: ASCII characters are starters
  that compose with nothing before them, and ctok's folds work character by character (its one two-character
  fold has no ASCII in it), so the slices' normal forms joined are the whole's.
"""

from __future__ import annotations

import sys
import unicodedata
from collections.abc import Callable
from functools import lru_cache

import regex

#: a run of marks this long is sorted before normalisation (ordinary text has runs of one to four)
RUN = 32
#: characters normalised per C call, about (a slice ends at the next ASCII space or newline)
SLICE = 1 << 16

_LONG_MARKS = regex.compile(r"\p{M}{" + str(RUN) + ",}")
_combining = unicodedata.combining


@lru_cache(maxsize=4096)
def _nfd(ch: str) -> str:
    return unicodedata.normalize("NFD", ch)


def _in_order(match: regex.Match[str]) -> str:
    """A run of marks decomposed, each run of non-starters in it stably sorted by combining class: the same
    canonically equivalent text, in the order NFD would give it."""
    out: list[str] = []
    run: list[str] = []
    for ch in "".join(map(_nfd, match.group())):
        if _combining(ch):
            run.append(ch)
            continue
        if run:
            out += sorted(run, key=_combining)
            run = []
        out.append(ch)
    out += sorted(run, key=_combining)
    return "".join(out)


def presorted(text: str) -> str:
    """``text`` with every long run of marks in canonical order: NFC of the result equals NFC of ``text``, and
    costs linear time."""
    if text.isascii() or _LONG_MARKS.search(text) is None:
        return text
    return _LONG_MARKS.sub(_in_order, text)


def slices(text: str, size: int = SLICE) -> list[str]:
    """``text`` cut before an ASCII space or newline about every ``size`` characters (a slice may be longer
    when there is none); each cut is a boundary NFC and ctok's folds never work across."""
    if len(text) <= size * 2:
        return [text]
    out: list[str] = []
    start = 0
    n = len(text)
    while n - start > size * 2:
        cut = -1
        for sep in (" ", "\n"):
            at = text.find(sep, start + size, start + 2 * size)
            if at != -1 and (cut == -1 or at < cut):
                cut = at
        if cut == -1:  # no ASCII space in the window: look further (the whole rest at worst)
            cuts = [at for at in (text.find(" ", start + 2 * size), text.find("\n", start + 2 * size)) if at != -1]
            if not cuts:
                break
            cut = min(cuts)
        out.append(text[start:cut])
        start = cut
    out.append(text[start:])
    return out


def per_slice(fn: Callable[[str], str], text: str, size: int = SLICE) -> str:
    """``fn(text)`` for a ``fn`` that works character by character, one slice of ``size`` at a time."""
    if len(text) <= 2 * size:
        return fn(text)
    return "".join(fn(text[i : i + size]) for i in range(0, len(text), size))


def nfc(text: str, *, fold_quotes: bool) -> str:
    """ctok's ``nfc`` (NFC, control characters stripped, its folds), in linear time and short C calls."""
    norm = sys.modules["ctok.normalize"].nfc
    text = presorted(text)
    parts = slices(text)
    if len(parts) == 1:
        return norm(text, fold_quotes=fold_quotes)
    return "".join(norm(part, fold_quotes=fold_quotes) for part in parts)
