"""The piecewise offline counter (``backends/offline/tiling.py``) against ctok itself: the same count for
every text and every tokenizer family, checked on random Unicode, code, whitespace runs and marker-like
strings (hypothesis), on every text of the fixture notebooks (in the repository) and of ``../shared/calibration``
(kept outside it: skipped where absent); and the two facts it rests on (which characters are whitespace to ctok,
where the vocabulary allows a cut) checked directly."""

from __future__ import annotations

import json
import string
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import CALIBRATION, needs_calibration
from hypothesis import example, given, settings
from hypothesis import strategies as st

from jupyter_token_count.backends.offline import text as textmod

pytestmark = pytest.mark.skipif(not textmod.using_ctok(), reason="ctok is not importable on this Python")

if textmod.using_ctok():
    from ctok import engine
    from ctok.constants import BOW_G, CAPS_G, EOW_G, SHIFT_G, SPACE

    from jupyter_token_count import memo
    from jupyter_token_count.backends.offline import tiling


ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIRS = [ROOT / "tests" / "fixtures" / "notebooks"]

FAMILIES = ("v3", "v4.7", "v4.8")
#: (family, frame_bow): v4.8's frame has no ⟨bow⟩ of its own, so its two readings are one
MODELS = (("v3", True), ("v3", False), ("v4.7", True), ("v4.7", False), ("v4.8", True))


def ctok_model(family: str, frame_bow: bool):
    return tiling.tiler(family, frame_bow).model  # the model ctok's own tile() is run with


def assert_same(text: str, models=MODELS) -> None:
    for family, frame_bow in models:
        want = engine.tile(text, ctok_model(family, frame_bow))[0]
        got = tiling.tiler(family, frame_bow).count(text)
        assert got == want, (family, frame_bow, text)


# ---- the facts the decomposition rests on -------------------------------------------------------------


def test_space_chars_are_every_whitespace_ctok_can_see():
    """Words are cut at ``SPACE_CHARS``: it must hold every code point ctok classifies as whitespace that
    survives its normalisation, and nothing else."""
    normalize = sys.modules["ctok.normalize"]
    classify = normalize.classify.__wrapped__  # uncached: do not fill ctok's cache with 1.1M entries
    seen = set()
    for cp in range(0x110000):
        ch = chr(cp)
        if unicodedata.category(ch) in ("Cs", "Co", "Cn"):
            continue  # surrogates become U+FFFD, private use is stripped, unassigned is never whitespace
        if classify(ch) != SPACE:
            continue
        for fold in (True, False):
            seen.update(c for c in normalize.nfc(ch, fold_quotes=fold) if classify(c) == SPACE)
    assert seen == set(tiling.SPACE_CHARS)


@pytest.mark.parametrize("family", FAMILIES)
def test_vocabulary_pairs_prove_the_cuts(family):
    """Where two adjacent stream characters form no pair found inside a piece, no piece spans them, so
    the minimum tiling is the sum of the minima on each side: checked with ctok's own tiler on streams
    built from real pieces, cut at every such junction."""
    import random

    t = tiling.tiler(family)
    pieces = sorted(t.vocab)
    rng = random.Random(13)
    cuts_seen = 0
    for _ in range(300):
        stream = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        whole = engine.min_vocab_tile(stream, t.model.trie, lambda j, s=stream: t._char_floor(s[j]))[0]
        assert t.tile_cost(stream) == whole
        start, parts = 0, []
        for i in range(1, len(stream)):
            if stream[i - 1 : i + 1] not in t.pairs:
                parts.append(stream[start:i])
                start = i
        parts.append(stream[start:])
        cuts_seen += len(parts) - 1
        assert sum(t.tile_cost(p) for p in parts) == whole
    assert cuts_seen > 300
    # the common junctions of prose and code are cuts, which is what makes the memo pay
    for pair in (EOW_G + BOW_G, EOW_G + SHIFT_G, EOW_G + CAPS_G, "a ", " a", "\n ", " \n", EOW_G + " "):
        assert pair not in t.pairs


@pytest.mark.parametrize("family", FAMILIES)
@example(word='x"s')
@example(word="a'll'")
@example(word="'Tis")
@example(word="ABCD's")
@given(word=st.text(alphabet=string.ascii_letters + string.digits + string.punctuation, min_size=1, max_size=24))
@settings(max_examples=150, deadline=None)
def test_ascii_words_stream_as_ctok_streams_them(family, word):
    """Our ASCII rules give ctok's stream, and the letter-run costing gives the cost of that stream."""
    t = tiling.tiler(family)
    for ctx in range(4):
        stream = t._padded_word(word, ctx)
        assert "".join(t._ascii_word(word, ctx)) == stream, (word, ctx)
        opens, closes = stream.lstrip(SHIFT_G + CAPS_G)[:1] == BOW_G, stream[-1] == EOW_G
        assert t._ascii_cost(word, ctx) == (t.tile_cost(stream), opens, closes), (word, ctx)


@pytest.mark.parametrize("family", FAMILIES)
@example(word="'hello")
@example(word="'s")
@example(word="'")
@example(word="12ab")
@example(word="'1")
@given(word=st.text(alphabet=string.ascii_letters + string.digits + string.punctuation, min_size=1, max_size=12))
@settings(max_examples=100, deadline=None)
def test_ascii_heads_stream_as_ctok_streams_them(family, word):
    for frame_bow in (True, False):
        t = tiling.tiler(family, frame_bow)
        for seam in (True, False):
            assert "".join(t._ascii_head(word, seam)) == t._head(word, seam, False), (word, frame_bow, seam)


def test_caches_are_bounded_by_bytes():
    cache = memo.ByteBoundedCache(100_000)
    for i in range(20_000):
        cache.put(("é" if i % 2 else "") + f"{i:08d}" * 10, i)
    held = [*cache._new, *cache._old]
    assert 200 < len(held) < 20_000
    assert sum(sys.getsizeof(k) + 64 for k in held) <= 100_000
    assert cache.get(f"{19_998:08d}" * 10) == 19_998  # the newest survive


class _EveryPair:
    """A vocabulary's pairs, as if every two characters occurred together in some piece."""

    def __contains__(self, pair: str) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter([EOW_G + BOW_G, "a "])


@pytest.mark.parametrize("family", FAMILIES)
def test_cutting_nowhere_counts_the_same(family):
    """The cuts only save work: a tiler told that a piece may span every junction tiles each text as
    one stream, and must agree with the one that cuts and with ctok."""
    cutting = tiling.tiler(family)
    whole = tiling.Tiler(cutting.model, _EveryPair(), 2**20)  # type: ignore[arg-type]
    assert cutting.simple and not whole.simple
    for text in ("Hello, Claude", "The cat's toys — 12 of them.\n\n  def f(x):\n\treturn x\n", " 'Tis ABC DEFG"):
        want = engine.tile(text, cutting.model)[0]
        assert whole.count(text) == cutting.count(text) == want


# ---- the counts: random text ---------------------------------------------------------------------------

_WORDS = [
    "the",
    "The",
    "THE",
    "ThE",
    "it",
    "it's",
    "don't",
    "we'll",
    "I'm",
    "'s",
    "'S",
    "x'll",
    "rock'n'roll",
    'x"s',
    "'ll",
    "a'd'",
    "(s)",
    "'re",
    "O'Neil",
    "Ain'T",
    "you've",
    "import",
    "numpy",
    "np",
    "def",
    "__init__",
    "self.x",
    "print(",
    ")",
    "}",
    "{",
    "[]",
    "==",
    "=>",
    "->",
    "0",
    "12",
    "2024",
    "3.14",
    "1e-9",
    "0x1F",
    "٣٤",
    "۱۲",
    "½",
    "²",
    "①",
    "Ⅻ",
    "ⅻ",
    "Ⓐ",
    "İstanbul",
    "ẞ",
    "ϴ",
    "ΣΑΣ",
    "ß",
    "ﬁ",
    "café",
    "naïve",
    "e\u0301",
    "\u0301x",
    "a\u0308\u0301",
    "ܐ\u0730",
    "日本語",
    "文？",
    "。",
    "〄",
    "々",
    "한국어",
    "ヲ",
    "ー",
    "😀",
    "👍🏽",
    "⚖️",
    "✌\ufe0f",
    "\U00020000",
    "—",
    "–",
    "…",
    "«",
    "»",
    "“quoted”",
    "‘single’",
    "„low",
    "•",
    "→",
    "°C",
    "€5",
    "√",
    "│",
    "█",
    "\ufdd0",
    "\ufdd1",
    "\ufdd2",
    "\ufdd3",
    "\ufdd4",
    "\ue000",
    "\ue001",
    "⟨bow⟩",
    "⟨eow⟩",
    "⟨caps⟩",
    "⟨",
    "\x00",
    "\x01",
    "\x7f",
    "\u0085",
    "\u200b",
    "\u200d",
    "\ufeff",
    "\u00ad",
    "\u0e4d\u0e32",
    "\ud800",
    "https://example.com/a?b=c",
    "user@example.com",
    "#",
    "##",
    "```python",
    "**bold**",
    "<div>",
    "&amp;",
]
_SPACES = [
    " ",
    "  ",
    "   ",
    "\t",
    "\t\t",
    "\n",
    "\n\n",
    "\n\n\n",
    " \n",
    "\n ",
    "\n    ",
    "\r\n",
    "\u3000",
    "\u00a0",
    "\u2003",
    "\u2028",
    "\x0b",
    "\x0c",
    " \t",
    "\t ",
]

words = st.one_of(st.sampled_from(_WORDS), st.text(min_size=1, max_size=6))
spaces = st.one_of(st.sampled_from(_SPACES), st.text(alphabet=" \t\n\r\u3000\u00a0\x0b", min_size=1, max_size=5))


@st.composite
def texts(draw) -> str:
    """Words and whitespace interleaved, optionally opened by whitespace and closed by newlines: the
    places where ctok's context rules (frame edge, seams, borders, contractions, tails) act."""
    out = [draw(spaces)] if draw(st.booleans()) else []
    for _ in range(draw(st.integers(0, 10))):
        out.append(draw(words))
        if draw(st.integers(0, 3)):
            out.append(draw(spaces))
    if draw(st.booleans()):
        out.append("\n" * draw(st.integers(1, 40)))
    return "".join(out)


@given(text=texts())
@settings(max_examples=400, deadline=None)
def test_same_count_on_composed_text(text):
    assert_same(text)


@given(text=st.text(alphabet=st.characters(exclude_categories=()), max_size=60))
@settings(max_examples=300, deadline=None)
def test_same_count_on_random_unicode(text):
    assert_same(text)


@given(text=st.text(alphabet=string.printable, max_size=120))
@settings(max_examples=300, deadline=None)
def test_same_count_on_code_like_ascii(text):
    assert_same(text)


@given(text=st.text(alphabet=" \t\n\r\u3000\u00a0x.A'", max_size=40))
@settings(max_examples=200, deadline=None)
def test_same_count_on_whitespace_runs(text):
    assert_same(text)


@pytest.mark.parametrize("version", ["3.0", "4.7", "4.8", "5.5"])
def test_token_count_is_ctoks(version):
    import ctok

    for text in ("", " ", "\n\n", "Hello, Claude", "  indented\n\ncode()\n", "naïve café – “quoted”"):
        assert tiling.token_count(text, version) == ctok.token_count(text, version)


def test_a_cold_tiler_counts_as_a_warm_one():
    text = "Cold and warm caches give one count. " * 50 + "def f(x):\n    return x  # ok\n"
    tiling.clear_caches()
    cold = [tiling.tiler(f).count(text) for f in FAMILIES]
    assert [tiling.tiler(f).count(text) for f in FAMILIES] == cold
    assert_same(text)


# ---- the counts: every real text we have ---------------------------------------------------------------


def _strings(value) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _notebook_texts() -> list[str]:
    found: set[str] = set()
    for folder in NOTEBOOK_DIRS:
        for path in sorted(folder.glob("*.ipynb")):
            nb = json.loads(path.read_text(encoding="utf-8"))
            for cell in nb.get("cells", []):
                found.add("".join(cell.get("source", [])))
                for out in cell.get("outputs", []):
                    for value in [out.get("text", ""), *out.get("data", {}).values()]:
                        text = "".join(value) if isinstance(value, list) else value
                        if isinstance(text, str) and len(text) < 200_000:
                            found.add(text)
    return sorted(t for t in found if t)


def test_same_count_on_fixture_notebooks():
    texts = _notebook_texts()
    assert len(texts) > 50
    for text in texts:
        assert_same(text, models=[(f, True) for f in FAMILIES])
        # a frame without ⟨bow⟩ changes how a text opens, not how it goes on: its head is enough
        assert_same(text[:2000], models=[(f, False) for f in ("v3", "v4.7")])


@needs_calibration
def test_same_count_on_calibration_texts():
    found: set[str] = set()
    for path in sorted(CALIBRATION.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                found.update(_strings(json.loads(line).get("request")))
    assert len(found) > 1000
    for text in sorted(found):
        assert_same(text, models=[(f, True) for f in FAMILIES])


@pytest.mark.parametrize("version", ["3.0", "4.7", "4.8"])
def test_long_texts_are_exact_through_the_text_module(version):
    """The estimator's text path (whole-text cache, no chunking) gives ctok's count on a long text too."""
    import ctok

    text = "".join(f"{i}. Paragraph “{i}” — naïve café, it's 'quoted', CAPS and CamelCase().\n\n" for i in range(900))
    assert len(text) > 3 * textmod._CHUNK
    textmod.clear_cache()
    frame = ctok.token_count(".", version) - 1
    assert textmod.content_tokens(text, version, "any") == ctok.token_count(text, version) - frame
    assert textmod.content_tokens(text, version, "any") == ctok.token_count(text, version) - frame  # warm


def test_a_long_lived_tiler_stays_within_its_memory_budget():
    """Feed a tiler far more distinct words than its caches may hold and measure what it keeps."""
    import gc
    import random
    import tracemalloc

    rng = random.Random(7)
    budget = 128 * 1024
    alphabet = string.ascii_letters + string.digits + "_.()" * 3 + "é"
    texts = [" ".join("".join(rng.choices(alphabet, k=rng.randint(3, 14))) for _ in range(300)) for _ in range(15)]
    t = tiling.Tiler(tiling.tiler("v4.8").model, tiling.tiler("v4.8").pairs, budget)
    t.count(texts[0])  # ctok's own per-character tables fill here, outside the measurement
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for text in texts:  # ≈ 40K characters, ≈ 4.5K distinct words: about 1 MB held if nothing were dropped
            t.count(text)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < 2 * budget, held


def test_the_text_module_falls_back_to_ctok_when_the_tiler_breaks(monkeypatch):
    import ctok

    def broken(*args, **kwargs):
        raise AttributeError("ctok moved")

    monkeypatch.setattr(tiling, "content_count", broken)
    monkeypatch.setitem(textmod._ctok_state, "tiling", tiling)
    textmod.clear_cache()
    text = "Hello, Claude: it's 12:30 — “quoted”."
    assert (
        textmod.content_tokens(text, "4.7", "v4.7") == ctok.token_count(text, "4.7") - ctok.token_count(".", "4.7") + 1
    )
    assert textmod._ctok_state["tiling"] is None  # and the piecewise counter is left alone from then on


def test_many_non_ascii_words_in_batches():
    """More distinct non-ASCII words than one batch of ctok calls holds, in every context."""
    import random

    rng = random.Random(5)
    letters = "абвгдежзийклмнопрстуфхцчшщъыьэюяéüß“”—…'"
    words = ["".join(rng.choices(letters, k=rng.randint(1, 9))) for _ in range(700)]
    text = "".join(w + rng.choice([" ", "  ", "\n", " \n", "\t", ". ", ", "]) for w in words)
    assert len(set(words)) > 2 * tiling._BATCH
    tiling.clear_caches()
    assert_same(text)
