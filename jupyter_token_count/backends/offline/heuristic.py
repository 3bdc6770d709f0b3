"""The coarse fallback when ctok is missing: a characters-per-token heuristic per tokenizer family.

Text is split into runs by character class (words, digits, punctuation, whitespace, CJK, other
scripts) and each class pays its own calibrated rate: a word costs a fixed part plus a part per
letter (long and rare words split), a CJK character about one token, and so on. The rates live in
``models.json`` (``tokenizers.<family>.fallback``) and were fitted to ctok's counts on varied local
text (Python source, JSON, English prose and translated UI messages in 20+ languages) by
``bench/fallback_calibration.py``. Expect about ±10% on ordinary text, worse on unusual input.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from typing import Any

# One alternative per class; the order matters (a word is letters, apostrophes inside it included).
_RUNS = re.compile(
    r"(?P<word>[A-Za-z]+(?:'[A-Za-z]+)*)"
    r"|(?P<digits>[0-9]+)"
    r"|(?P<newlines>\n+)"
    r"|(?P<spaces>[ \t]+)"
    r"|(?P<punct>[!-/:-@\[-`{-~]+)"
    r"|(?P<other>[^\x00-\x7f]+)"
    r"|(?P<ctrl>[\x00-\x1f\x7f]+)"
)

FEATURES = (
    "words",
    "word_chars",
    "title_words",
    "mixed_words",
    "digit_runs",
    "digits",
    "newline_runs",
    "space_runs",
    "punct_runs",
    "punct",
    "cjk",
    "latin_ext",
    "other_runs",
    "other_script",
    "symbols",
)


def _is_cjk(o: int) -> bool:
    return (
        0x3040 <= o <= 0x30FF  # kana
        or 0x3400 <= o <= 0x4DBF
        or 0x4E00 <= o <= 0x9FFF
        or 0xAC00 <= o <= 0xD7A3  # hangul syllables
        or 0xF900 <= o <= 0xFAFF
        or o >= 0x20000
    )


def features(text: str) -> dict[str, float]:
    """Counts per character class; the heuristic is a weighted sum of these."""
    f = dict.fromkeys(FEATURES, 0.0)
    for m in _RUNS.finditer(text):
        kind = m.lastgroup
        run = m.group()
        if kind == "word":
            f["words"] += 1
            # letters beyond a short word's first few are where a word starts to split
            f["word_chars"] += max(0, len(run) - 4)
            # case: a capitalised word is marked (a token of its own in the v4.x families); camelCase
            # and ALLCAPS words split where the case changes
            if run[0].isupper():
                if run[1:].islower() or len(run) == 1:
                    f["title_words"] += 1
                else:
                    f["mixed_words"] += 1
            elif not run.islower():
                f["mixed_words"] += 1
        elif kind == "digits":
            f["digit_runs"] += 1
            f["digits"] += len(run)
        elif kind == "newlines":
            f["newline_runs"] += 1
        elif kind == "spaces":
            # a single space between words is free (it rides the next word); longer runs are not
            if len(run) > 1 or run == "\t":
                f["space_runs"] += 1
        elif kind == "punct":
            f["punct_runs"] += 1
            f["punct"] += len(run)
        elif kind == "ctrl":
            f["symbols"] += len(run)
        else:
            in_run = False
            for ch in run:
                o = ord(ch)
                cat = unicodedata.category(ch)
                letter = cat[0] in "LM"
                if _is_cjk(o):
                    f["cjk"] += 1
                elif o < 0x250 and letter:
                    f["latin_ext"] += 1
                elif letter:
                    f["other_script"] += 1
                    if not in_run:
                        f["other_runs"] += 1
                elif cat == "Zs":
                    pass
                else:
                    f["symbols"] += 1
                in_run = letter and not _is_cjk(o) and o >= 0x250
    return f


@cache
def _rates(family: str) -> dict[str, float]:
    from ...registry import tokenizer_data

    fb: dict[str, Any] = tokenizer_data(family).get("fallback") or tokenizer_data("v3").get("fallback") or {}
    return {k: float(v) for k, v in fb.get("rates", {}).items()}


def count(text: str, family: str) -> int:
    """Estimated content tokens of ``text`` for a tokenizer family."""
    if not text:
        return 0
    rates = _rates(family)
    f = features(text)
    est = sum(rates.get(k, 0.0) * v for k, v in f.items())
    return max(1, round(est))
