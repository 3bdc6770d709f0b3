"""Issue 22: no input stalls the process that counts it. One markdown cell of a letter and 160,000 mixed
combining marks took 34 s to estimate, all of it inside one C call (NFC's canonical sort) that held the GIL,
so a Jupyter server answered nothing else meanwhile. Here: the normalisation that fixes it gives the same
text, every family of long runs found by fuzzing over Unicode categories estimates in linear time without
holding the GIL, an estimate past its deadline says so, and a real server answers ``/api/status`` in under a
second while any one of them is counted."""

from __future__ import annotations

import http.client
import math
import sys
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import regex
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from live_server import LiveServer
from stall import measure

from jupyter_token_count import registry
from jupyter_token_count.backends import offline
from jupyter_token_count.backends.offline import normal
from jupyter_token_count.backends.offline import text as textmod

ctok = pytest.importorskip("ctok", reason="ctok is not installed (it declares Python >= 3.12)")
ctok_normalize = sys.modules["ctok.normalize"]

M = "claude-sonnet-4-5"
INFO = registry.resolve(M)
#: the longest the estimator may keep other threads waiting (a server's event loop feels each such pause)
MAX_PAUSE = 0.5


def body(text: str) -> dict[str, Any]:
    return {"model": M, "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}]}


def cycle(chars: str, n: int) -> str:
    return (chars * (n // len(chars) + 1))[:n]


#: one generator per family of long runs of one kind of character; each makes a text of about n characters
FAMILIES: dict[str, Callable[[int], str]] = {
    # marks of different combining classes: NFC's insertion sort is quadratic (the cell)
    "combining marks, mixed classes": lambda n: "a" + cycle("\u0301\u0308\u0327", n),
    "combining marks, descending classes": lambda n: "a" + cycle("\u0301\u0316", n),
    "combining marks, one class": lambda n: "a" + "\u0301" * n,
    # U+0F73 has combining class 0 but decomposes into two marks of classes 129 and 130
    "Tibetan vowel sign II (decomposes into marks)": lambda n: "\u0f40" + "\u0f73" * n,
    "Arabic harakat": lambda n: "\u0628" + cycle("\u064b\u0650", n),
    "Hebrew points": lambda n: "\u05d0" + cycle("\u05b0\u05bc\u0591", n),
    "Devanagari signs": lambda n: "\u0915" + cycle("\u093f\u0902\u094d", n),
    "enclosing marks": lambda n: "a" + "\u20dd" * n,
    "marks with no base": lambda n: cycle("\u0327\u0301", n),
    "Hangul jamo L V T": lambda n: cycle("\u1100\u1161\u11a8", n),
    "Hangul leading jamo": lambda n: "\u1100" * n,
    "emoji ZWJ sequence": lambda n: cycle("\U0001f468\u200d", n),
    "regional indicators": lambda n: cycle("\U0001f1fa\U0001f1f8", n),
    "RTL and LTR marks": lambda n: cycle("\u200f\u202e\u200e\u202c", n),
    "variation selectors": lambda n: "a" + "\ufe0f" * n,
    "ideographic variation selectors": lambda n: "\u4e00" + "\U000e0100" * n,
    "tag characters": lambda n: "\U0001f3f4" + "\U000e0067" * n,
    "word without spaces": lambda n: "a" * n,
    "camelCase word": lambda n: cycle("aB", n),
    "non-ASCII word": lambda n: "é" * n,
    "digits": lambda n: "7" * n,
    "Arabic-Indic digits": lambda n: "\u0663" * n,
    "punctuation": lambda n: cycle("(){}", n),
    "spaces": lambda n: " " * n + "x",
    "newlines": lambda n: "x" + "\n" * n + "x",
    "tabs and spaces": lambda n: cycle(" \t", n) + "x",
    "no-break and other spaces": lambda n: cycle("\u00a0\u2003\u3000", n) + "x",
    "CJK ideographs": lambda n: "中" * n,
    "Thai without spaces": lambda n: cycle("\u0e01\u0e33\u0e4d\u0e32", n),
    "control characters": lambda n: cycle("\x01\x1b\x7f", n) + "x",
    "private use": lambda n: "\ue000" * n + "x",
    "one-letter words": lambda n: "a " * (n // 2),
}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_each_family_is_estimated_in_linear_time_without_holding_the_gil(family: str):
    """80,000 characters of each family: no pause of other threads over MAX_PAUSE, and CPU time a linear
    figure (the slowest family, newlines, is about 1 s here; a quadratic one is minutes)."""
    text = FAMILIES[family](80_000)
    textmod.clear_cache()
    run = measure(lambda: offline.estimate(body(text), INFO, deadline=math.inf))
    assert run.result.rough is None  # no deadline here: every character tokenized
    assert run.result.input_tokens > 0
    assert run.longest_pause < MAX_PAUSE, f"{family}: other threads waited {run.longest_pause:.2f} s"
    assert run.cpu < 6.0, f"{family}: {run.cpu:.1f} s of CPU for 80,000 characters"


@pytest.mark.parametrize("family", list(FAMILIES))
def test_each_family_counts_what_ctok_counts(family: str):
    """The bounded normalisation changes no count: the piecewise counter against ctok's own tiler on the raw
    text (short enough for ctok's quadratic normalisation), with runs longer than ``normal.RUN``."""
    text = FAMILIES[family](3 * normal.RUN + 7)
    model = ctok.main._model(ctok.main._family(INFO.ctok_version))
    textmod.clear_cache()
    expected = ctok.engine.tile(text, model)[0]
    assert textmod.content_tokens(text, INFO.ctok_version, INFO.tokenizer) == expected


# -- the normalisation: the same text, in linear time -----------------------------------------------------
MARKS = st.characters(categories=["Mn", "Mc", "Me"])
ANY = st.characters(codec="utf-8")


@st.composite
def mark_heavy(draw: st.DrawFn) -> str:
    """Text with runs of marks long enough to be sorted (and the odd base, space or newline between)."""
    pieces = draw(
        st.lists(
            st.one_of(
                st.tuples(st.lists(MARKS, min_size=1, max_size=4), st.integers(normal.RUN - 2, 3 * normal.RUN)).map(
                    lambda t: cycle("".join(t[0]), t[1])
                ),
                st.text(ANY, max_size=6),
                st.sampled_from([" ", "\n", "a", "\u0f73", "\u1e69", "\u01d8", "\u0344"]),
            ),
            max_size=12,
        )
    )
    return "".join(pieces)


@settings(max_examples=300, deadline=None, database=None)
@given(text=mark_heavy())
def test_presorted_text_has_the_same_normal_form(text: str):
    assert unicodedata.normalize("NFC", normal.presorted(text)) == unicodedata.normalize("NFC", text)


@settings(max_examples=200, deadline=None, database=None)
@given(text=mark_heavy() | st.text(ANY, max_size=200), size=st.integers(1, 40), fold=st.booleans())
def test_normalised_in_slices_is_normalised_whole(text: str, size: int, fold: bool):
    parts = normal.slices(text, size)
    assert "".join(parts) == text
    assert all(p[:1] in ("", " ", "\n") for p in parts[1:])  # cut only before an ASCII space or newline
    expected = ctok_normalize.nfc(text, fold_quotes=fold)
    assert "".join(ctok_normalize.nfc(p, fold_quotes=fold) for p in parts) == expected


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.lists(st.sampled_from(["a", "bb", " ", "  ", "\n", "\t", "\u3000", "é", "x y"]), max_size=40).map("".join),
    size=st.integers(1, 12),
)
def test_whitespace_split_in_slices_is_the_whole_split(text: str, size: int, monkeypatch: pytest.MonkeyPatch):
    from jupyter_token_count.backends.offline import tiling

    monkeypatch.setattr(normal, "SLICE", size)
    core = text.rstrip("\n")
    assert tiling._split(core) == tiling._SPLIT.split(core)
    assert normal.per_slice(str.upper, text, size) == text.upper()


def test_fixture_notebooks_normalise_as_ctok_does(fixture_notebooks: list[Path]):
    """Every cell of the real notebooks in tests/fixtures: the bounded normalisation is ctok's, slice by slice
    (small slices, so that texts are cut many times)."""
    import nbformat

    texts = [
        "".join(cell.source)
        for path in fixture_notebooks
        for cell in nbformat.read(path, as_version=4).cells
        if cell.source
    ]
    assert len(texts) > 20
    for text in texts:
        for fold in (True, False):
            expected = ctok_normalize.nfc(text, fold_quotes=fold)
            assert "".join(ctok_normalize.nfc(p, fold_quotes=fold) for p in normal.slices(text, 64)) == expected
            assert normal.nfc(text, fold_quotes=fold) == expected


def test_only_marks_can_be_or_start_with_non_starters():
    """What ``normal.presorted`` relies on, over every code point of this Python's Unicode data: a character
    with a non-zero combining class, or whose decomposition holds one, is a mark (category M); any other
    character decomposes into something that starts with a starter."""
    mark = regex.compile(r"\p{M}")
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        nfd = unicodedata.normalize("NFD", ch)
        if mark.fullmatch(ch):
            continue
        assert unicodedata.combining(ch) == 0, hex(cp)
        assert unicodedata.combining(nfd[0]) == 0, hex(cp)


# -- one long count does not hold up the others --------------------------------------------------------------
def test_a_long_count_does_not_hold_up_other_counts():
    """Other notebooks' counts go on while one long text is counted (the tiler's memos take no lock for a
    count: a lock held for a whole count made a small estimate wait 4 s behind 600,000 newlines)."""
    textmod.clear_cache()
    long = body("x" + "\n" * 300_000 + "x")
    worker = threading.Thread(target=lambda: offline.estimate(long, INFO, deadline=math.inf))
    worker.start()
    worst, n = 0.0, 0
    try:
        time.sleep(0.1)
        while worker.is_alive():
            started = time.perf_counter()
            offline.estimate(body(f"a small cell, number {n}"), INFO)
            worst = max(worst, time.perf_counter() - started)
            n += 1
            time.sleep(0.01)
    finally:
        worker.join()
    assert n >= 5 and worst < 0.5, (n, worst)


def test_concurrent_counts_are_the_serial_counts(fixture_notebooks: list[Path]):
    from concurrent.futures import ThreadPoolExecutor

    import nbformat

    texts = [
        "".join(cell.source)
        for path in fixture_notebooks
        for cell in nbformat.read(path, as_version=4).cells
        if cell.source
    ]
    texts += [FAMILIES[f](500) for f in FAMILIES]
    textmod.clear_cache()
    serial = [textmod.content_tokens(t, INFO.ctok_version, INFO.tokenizer) for t in texts]
    for _ in range(3):
        textmod.clear_cache()
        with ThreadPoolExecutor(6) as pool:
            # every text several times, in different orders, so that threads race on the same memo entries
            order = [i for k in range(3) for i in (range(len(texts)) if k % 2 else reversed(range(len(texts))))]
            got = list(pool.map(lambda i: textmod.content_tokens(texts[i], INFO.ctok_version, INFO.tokenizer), order))
        assert got == [serial[i] for i in order]


# -- fuzzing for the stall class ----------------------------------------------------------------------------
CATEGORIES = ["Mn", "Mc", "Me", "Lo", "Ll", "Lu", "Lm", "Nd", "No", "Pd", "Po", "Ps", "Sk", "Sm", "So", "Zs", "Cf"]


#: marks that take part in canonical ordering (the category the stall came from gets a strategy of its own)
REORDERED = st.characters(categories=["Mn", "Mc"]).filter(lambda c: unicodedata.combining(c) != 0)


@st.composite
def long_runs(draw: st.DrawFn) -> str:
    """A long run of one kind of character: a few characters of one Unicode category (or marks that are
    reordered by normalisation) repeated, sometimes after a base letter, sometimes interleaved with a second
    category, 40,000 to 100,000 characters in all."""
    cat = draw(st.sampled_from(["reordered marks", *CATEGORIES]))
    kind = REORDERED if cat == "reordered marks" else st.characters(categories=[cat])
    chars = draw(st.lists(kind, min_size=1, max_size=4, unique=True))
    if draw(st.booleans()):
        other = draw(st.sampled_from(CATEGORIES))
        chars += draw(st.lists(st.characters(categories=[other]), min_size=1, max_size=2))
    n = draw(st.integers(40_000, 100_000))
    base = draw(st.sampled_from(["", "a", "\u0915", "\u4e00", " "]))
    return base + cycle("".join(chars), n)


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    derandomize=True,  # the same examples on every run: a timing test must not depend on luck
    phases=[Phase.explicit, Phase.generate],  # shrinking would re-run multi-second examples
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(text=long_runs())
@example(text="a" + "\u0301\u0308\u0327" * 30_000)  # the cell, a little shorter
@example(text="\u0f40" + "\u0f73" * 40_000)
def test_fuzz_no_long_run_stalls_the_estimator(text: str):
    textmod.clear_cache()
    run = measure(lambda: offline.estimate(body(text), INFO, deadline=math.inf))
    assert run.longest_pause < MAX_PAUSE, (
        f"{len(text):,} characters starting {text[:8]!r}: other threads waited {run.longest_pause:.2f} s"
    )
    assert run.cpu < 8.0, f"{len(text):,} characters starting {text[:8]!r}: {run.cpu:.1f} s of CPU"


# -- the deadline -----------------------------------------------------------------------------------------
def test_an_estimate_past_its_deadline_is_rough_and_says_so():
    slow = "x" + "\n" * 400_000 + "x"  # linear, but seconds of tiling
    offline.estimate(body("the tokenizer is loaded before the clock starts"), INFO)
    textmod.clear_cache()
    started = time.perf_counter()
    est = offline.estimate(body(slow), INFO, deadline=time.monotonic() + 0.3)
    took = time.perf_counter() - started
    assert took < 2.0
    assert est.rough and "rough" in est.rough and "stopped after" in est.rough
    assert est.rough in est.notes
    assert est.input_tokens >= textmod.rough_tokens(slow)
    # a figure from a length may be far off either way: its range says so
    assert est.low < est.input_tokens and est.high - est.input_tokens >= textmod.rough_tokens(slow)
    # the same text again, under a fresh deadline: the next estimate is not rough for a short text
    assert offline.estimate(body("hello"), INFO, deadline=time.monotonic() + 0.3).rough is None


def test_a_text_that_ran_out_of_time_alone_is_not_tokenized_again():
    slow = "y" + "\n" * 1_000_000 + "y"
    textmod.clear_cache()
    first = offline.estimate(body(slow), INFO, deadline=time.monotonic() + textmod.SLOW_SECONDS + 0.3)
    assert first.rough and "stopped after" in first.rough
    started = time.perf_counter()
    second = offline.estimate(body(slow), INFO)
    assert time.perf_counter() - started < 1.0
    assert second.rough and "took too long on this text before" in second.rough
    assert second.input_tokens == first.input_tokens


def test_past_the_deadline_no_pdf_is_read_and_the_answer_says_so():
    import base64

    from media import pdf_bytes

    data = base64.b64encode(pdf_bytes(2, "a page of text about nothing in particular")).decode()
    doc = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": data}}
    req = {"model": M, "messages": [{"role": "user", "content": [doc, {"type": "text", "text": "x" * 100}]}]}
    started = time.perf_counter()
    est = offline.estimate(req, INFO, deadline=time.monotonic() - 1)  # already past: nothing is tokenized
    assert time.perf_counter() - started < 1.0
    assert est.rough and any("ran out of time to read" in u for u in est.uncounted)
    full = offline.estimate(req, INFO)  # with time, the PDF is read and counted
    assert not full.uncounted and full.input_tokens > est.input_tokens


def test_counter_answers_with_the_reason(tmp_path: Path):
    from jupyter_token_count.config import Settings
    from jupyter_token_count.counter import Counter
    from jupyter_token_count.request import CountRequest

    textmod.clear_cache()
    counter = Counter(Settings(data_dir=None, mode="offline", estimate_timeout=0.3))
    res = counter.count(CountRequest(body("z" + "\n" * 400_000 + "z")))
    assert not res.exact
    assert res.reason is not None and res.reason.startswith("offline mode; rough: ")


# -- a real server stays responsive -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with LiveServer(Path(tmp_path_factory.mktemp("stalls")), None, None, estimate_timeout=3.0) as server:
        yield server


def _status_latencies(server: LiveServer, work: Callable[[], Any]) -> tuple[Any, float]:
    """Run ``work`` in a thread while timing GET /api/status (Jupyter's own) every 50 ms; the worst latency."""
    out: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: out.setdefault("result", work()))
    thread.start()
    worst = 0.0
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        while thread.is_alive():
            started = time.perf_counter()
            conn.request("GET", "/api/status", headers=server.headers)
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 200
            worst = max(worst, time.perf_counter() - started)
            time.sleep(0.05)
    finally:
        conn.close()
        thread.join()
    return out["result"], worst


SERVER_FAMILIES = [
    "combining marks, mixed classes",
    "Tibetan vowel sign II (decomposes into marks)",
    "Arabic harakat",
    "emoji ZWJ sequence",
    "Hangul jamo L V T",
    "word without spaces",
    "newlines",
    "no-break and other spaces",
]


@pytest.mark.parametrize("family", SERVER_FAMILIES)
def test_server_answers_status_within_a_second_while_a_cell_is_counted(live: LiveServer, family: str):
    text = FAMILIES[family](160_000)
    cells = {"cells": [{"id": "c1", "cell_type": "markdown", "source": text}], "mode": "offline"}
    (status, reply), worst = _status_latencies(live, lambda: live.call("POST", "cells", cells, timeout=120))
    assert status == 200, reply
    assert reply["total"] > 0 and not reply["exact"]
    assert worst < 1.0, f"{family}: GET /api/status took {worst:.2f} s while the cell was counted"


def test_server_answers_status_within_a_second_while_the_largest_body_is_counted(live: LiveServer):
    """About 30 MB of prose (the API's request limit is 32 MB): the work is linear, and no single step of it
    (parsing, hashing, normalising, splitting) may hold the interpreter for long."""
    words = [
        "the",
        "quick",
        "brown",
        "fox",
        "jumps",
        "over",
        "a",
        "lazy",
        "dog",
        "while",
        "we",
        "count",
        "tokens",
        "in",
        "notebooks",
    ]
    text = " ".join(words[i % len(words)] + ("\n" if i % 17 == 0 else "") for i in range(5_500_000))[:30_000_000]
    body = {"model": M, "messages": [{"role": "user", "content": text}], "mode": "offline"}
    (status, reply), worst = _status_latencies(live, lambda: live.call("POST", "count", body, timeout=120))
    assert status == 200, reply
    assert reply["input_tokens"] > 1_000_000
    assert worst < 1.0, f"GET /api/status took {worst:.2f} s while 30 MB were counted"


def test_server_past_the_estimate_deadline_answers_rough_and_says_so(live: LiveServer):
    text = "q" + "\n" * 2_000_000 + "q"  # tens of seconds of tiling; the server's limit is 3 s
    cells = {"cells": [{"id": "c1", "cell_type": "markdown", "source": text}], "mode": "offline"}
    started = time.perf_counter()
    (status, reply), worst = _status_latencies(live, lambda: live.call("POST", "cells", cells, timeout=120))
    assert status == 200, reply
    assert time.perf_counter() - started < 15
    assert "rough" in reply["reason"]
    assert "rough" in reply["cells"][0]["reason"]
    assert worst < 1.0
    status, reply = live.call("POST", "count", {**body(text), "mode": "offline"}, timeout=120)
    assert status == 200 and "rough" in reply["reason"] and not reply["exact"]
