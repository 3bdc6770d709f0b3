"""ctok's exact count, computed piecewise with memoised pieces.

``ctok.engine.tile`` turns the whole text into one marked stream (NFC, word-boundary and case markers)
and runs a min-cost tiling over all of it, every time. Two facts let us cut that work into small
pieces that repeat (words, indentation, identifiers) and so can be cached:

* **The stream is local.** Whitespace (``SPACE_CHARS``) only ever forms runs of its own; what a
  non-space stretch ("word") writes into the stream depends on the word and on two bits of context:
  does the whitespace on its left end in a space, and is the whitespace on its right a lone space (or
  a space followed by something other than a space). The text's head (frame edge) and its trailing
  newlines are the only other context, and are handled once per text. A lone space between a word
  ending in ⟨eow⟩ and one starting with ⟨bow⟩ vanishes (ctok's seam law).
* **The tiling is separable where the vocabulary says so.** A piece that spans the junction of two
  adjacent stream characters ``a b`` contains the pair ``ab``. If no piece of the vocabulary contains
  that pair (``Tiler.pairs``), every tiling cuts there, so the minimum cost is the sum of the minimum
  costs on either side. The pairs are read from the vocabulary itself, never assumed; the test suite
  checks the claim against ctok on every family.

Words are streamed by our own code when they are printable ASCII (ctok's rules restricted to ASCII
letters, digits and punctuation, where they reduce to a few cases) and by ctok's own ``stream_norm``
on a padded copy otherwise. Every memo is bounded by bytes (``memo.ByteBoundedCache``), so a
long-lived server stays bounded whatever it is asked to count.
"""

from __future__ import annotations

import copy
import itertools
import re
import sys
import threading
from typing import Any

from ctok import engine as _engine
from ctok import main as _main
from ctok.constants import (
    BOW_G,
    CAPS_G,
    CONTRACTION_SUFFIXES,
    EOW_G,
    LITERAL_MARKER_ESCAPE_TABLE,
    LITERAL_MARKER_ESCAPES,
    MARKER_GLYPHS,
    SHIFT_G,
    STRIP_CONTROL,
)

from ...memo import ByteBoundedCache
from . import normal

_normalize = sys.modules["ctok.normalize"]  # ``ctok.normalize`` the attribute is the public function

#: every character ctok classifies as whitespace that can survive its normalisation (NFC strips
#: \r \v \f and folds the other Unicode spaces to U+0020); checked over all code points by the tests
SPACE_CHARS = " \t\n\u3000"
_SPLIT = re.compile(f"([{SPACE_CHARS}]+)")
_ASCII_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")
_GLYPH = re.compile("[" + "".join(LITERAL_MARKER_ESCAPES) + "]")
_ASCII_RUNS = re.compile(r"[A-Za-z]+|[0-9]+|[^A-Za-z0-9]+")
_ASCII_LETTERS = re.compile(r"[A-Za-z]+|[^A-Za-z]+")
_CASE = SHIFT_G + CAPS_G
# where a ``simple`` vocabulary always cuts a stream: after ⟨eow⟩, before a case marker, before a ⟨bow⟩
# that no case marker precedes
_MARKER_CUTS = re.compile(f"(?<={EOW_G})|(?=[{_CASE}])|(?<![{_CASE}])(?={BOW_G})")


_CUT = re.compile(f"(?<![{SPACE_CHARS}])[{SPACE_CHARS}]")  # where a whitespace run starts


def _split(core: str) -> list[str]:
    """``_SPLIT.split(core)``, in slices of about ``normal.SLICE`` characters: one split of 30 MB held the GIL
    for most of a second. Each slice but the first starts where a whitespace run does (after a word), so each
    piece's split is the whole's, but for the empty string opening it."""
    size = normal.SLICE
    if len(core) <= 2 * size:
        return _SPLIT.split(core)
    parts: list[str] = []
    start = 0
    while start < len(core):
        cut = _CUT.search(core, start + size) if len(core) - start > 2 * size else None
        end = cut.start() if cut is not None else len(core)
        piece = _SPLIT.split(core[start:end])
        parts.extend(piece if start == 0 else piece[1:])  # a later slice opens with whitespace: "" first
        start = end
    return parts


def _strip_controls(text: str) -> str:
    return STRIP_CONTROL.sub("", text).replace("\0", " ")


def _is_punct(ch: str) -> bool:
    """ASCII punctuation or symbol (ctok's PUNCT) among printable non-letters: anything but a digit."""
    return not ch.isdigit()


_BATCH = 256  # non-ASCII words streamed by ctok in one call
_LOOKAHEAD = 4096  # words a batch looks ahead for uncached non-ASCII words
_MAX_CHARS = 1 << 14  # entries of the per-character floor table and trailing-newline table

# context of a word: whether the whitespace before it ends in " " (1) and whether the whitespace after
# it starts with a lone " " (2); the text's first word is streamed with the head instead
_LEFT_SPACE, _RIGHT_SEAM = 1, 2
# the first two characters of a whitespace run that starts with a lone space (ctok's seam space)
_SEAM_STARTS = frozenset(" " + c for c in ["", *SPACE_CHARS] if c != " ")


def _pairs(vocab: frozenset[str]) -> frozenset[str]:
    """Every two-character string that occurs inside some piece: the only junctions a piece can span."""
    out: set[str] = set()
    for piece in vocab:
        out.update(piece[i : i + 2] for i in range(len(piece) - 1))
    return frozenset(out)


class Tiler:
    """``count(text)`` == ``ctok.engine.tile(text, model)[0]`` for one ctok tokenizer model."""

    def __init__(self, model: Any, pairs: frozenset[str], cache_bytes: int, like: Tiler | None = None) -> None:
        """``like``: a tiler of the same vocabulary and text rules whose memos this one shares (what a word
        costs away from the text's head does not depend on the frame: only ``_heads`` is this one's)."""
        self.model = model
        self.vocab: frozenset[str] = model.vocab
        self.root: dict = model.trie.root
        self.end = type(model.trie)._END
        self.pairs = pairs
        # every junction of a word and whitespace, and the ⟨eow⟩|[case]⟨bow⟩ of a seam, is a cut: then a
        # count is a plain sum of per-word and per-whitespace costs (true of ctok's vocabularies)
        # and inside an ASCII word, each letter run's [case marker]⟨bow⟩…⟨eow⟩ is cut from its neighbours
        # (nothing follows ⟨eow⟩ in a piece, only a case marker precedes ⟨bow⟩, nothing a case marker)
        self.simple = not any(
            (p[0] in SPACE_CHARS) != (p[1] in SPACE_CHARS)
            or p[0] == EOW_G
            or p[1] in _CASE
            or (p[1] == BOW_G and p[0] not in _CASE)
            for p in pairs
        )
        self.fold_quotes: bool = model.fold_quotes
        self.caps: int | None = model.allcaps_min
        # padded words must not pick up the frame's ⟨bow⟩: stream them with a model whose frame has none
        self._plain = model if not model.frame_bow else copy.copy(model)
        self._plain.frame_bow = False
        self._floor: dict[str, int] = dict.fromkeys(MARKER_GLYPHS, 1)
        self._tails: dict[int, int] = {}
        # keys + values stay under cache_bytes: word costs 1/2, costs 1/4, letters 1/32, heads 1/32 (×2: the
        # value holds a stream), words (only for a vocabulary that is not ``simple``) 4 × 1/64 (×2)
        self._words = [ByteBoundedCache(cache_bytes // 64, 140) for _ in range(4)]  # word → stream, cost, opens
        # word → [(cost, opens, closes) or None for each of the 4 contexts]
        self._word_costs = ByteBoundedCache(cache_bytes // 2, 250)
        self._costs = ByteBoundedCache(cache_bytes // 4)  # stream piece (or whitespace run) → cost
        self._letters = ByteBoundedCache(cache_bytes // 32)  # ASCII letter run → cost
        self._heads = ByteBoundedCache(cache_bytes // 32, 140)
        # The memos are shared by the server's threads, and a count takes no lock: every memo maps a key to what is
        # a pure function of it, and each dict operation is atomic, so a race can only lose an entry or count its
        # bytes loosely. A lock held for a whole count made every notebook's count wait behind one long text
        # (4 s behind 600,000 newlines); ``clear`` alone takes this one.
        self._lock = threading.Lock()
        if like is not None:
            assert like.vocab == self.vocab and (like.fold_quotes, like.caps) == (self.fold_quotes, self.caps)
            self._words, self._word_costs, self._costs = like._words, like._word_costs, like._costs
            self._letters, self._floor, self._tails, self._lock = like._letters, like._floor, like._tails, like._lock

    def clear(self) -> None:
        with self._lock:
            for cache in (*self._words, self._word_costs, self._costs, self._heads, self._letters):
                cache.clear()

    # ---- the marked stream, word by word ---------------------------------------------------------------

    def _ascii_word(self, word: str, ctx: int) -> list[str]:
        """ctok's stream of a printable-ASCII word, not at the text's head, one string per run. ASCII
        letters are WORDY, digits DIGIT (no border markers), everything else PUNCT, so the rules reduce
        to: letters get ⟨bow⟩…⟨eow⟩ and case markers; a lone apostrophe before a contraction suffix
        replaces the suffix's ⟨bow⟩; punctuation takes ⟨bow⟩/⟨eow⟩ only where the word meets a space."""
        runs = _ASCII_RUNS.findall(word)
        last = len(runs) - 1
        out = []
        for i, run in enumerate(runs):
            head = run[0]
            if head.isalpha():
                glued = i and run in CONTRACTION_SUFFIXES and runs[i - 1] == "'"
                out.append(self._marked_letters(run, not glued))
            elif head.isdigit():
                out.append(run)
            elif i == 0 or i == last:
                bow = i == 0 and ctx & _LEFT_SPACE and not (run == "'" and i < last and runs[1][0].isalpha())
                eow = i == last and ctx & _RIGHT_SEAM
                out.append((BOW_G if bow else "") + run + (EOW_G if eow else ""))
            else:
                out.append(run)
        return out

    def _marked_letters(self, run: str, bow: bool = True) -> str:
        """An ASCII letter run as ctok marks it: case markers (a whole-run rule: all lower stays, all caps
        of ``allcaps_min`` letters or more takes ⟨caps⟩, a capital then lower case takes ⟨shift⟩, any
        other mix stays literal), then ⟨bow⟩ (unless a contraction's apostrophe stands for it), ⟨eow⟩."""
        b = BOW_G if bow else ""
        if run.islower():
            return b + run + EOW_G
        if self.caps is not None and len(run) >= self.caps and run.isupper():
            return CAPS_G + b + run.lower() + EOW_G
        if run[0].isupper() and (rest := run[1:]) == rest.lower():
            return SHIFT_G + b + run.lower() + EOW_G
        return b + run + EOW_G

    def _ascii_cost(self, word: str, ctx: int) -> tuple[int, bool, bool]:
        """``_ascii_word``'s cost, whether it opens a seam and closes one, for a ``simple`` vocabulary:
        each letter run is cut from its neighbours, so it is costed (and memoised) alone; the digits and
        punctuation between letter runs form stretches costed alone too, but for an apostrophe that is
        the ⟨bow⟩ of a contraction suffix, which is costed with it."""
        letters, cost_of = self._letters, self._cost
        if word.isalpha():  # one letter run, the commonest word
            cost = letters._new.get(word)
            if cost is None and (not letters._old or (cost := letters.recall(word)) is None):
                cost = self.tile_cost(self._marked_letters(word))
                letters.put_ascii(word, cost)
            return cost, True, True
        runs = _ASCII_LETTERS.findall(word)
        last = len(runs) - 1
        total, pending = 0, ""
        opens = closes = False
        for i, run in enumerate(runs):
            if run[0].isalpha():
                if pending:
                    # a lone ' (its run: not after other punctuation) binds a contraction suffix
                    if (
                        run in CONTRACTION_SUFFIXES
                        and pending[-1] == "'"
                        and (len(pending) == 1 or not _is_punct(pending[-2]))
                    ):
                        total += cost_of(pending + run + EOW_G)
                        pending = ""
                        continue
                    total += cost_of(pending)
                    pending = ""
                cost = letters._new.get(run)
                if cost is None and (not letters._old or (cost := letters.recall(run)) is None):
                    cost = self.tile_cost(self._marked_letters(run))
                    letters.put_ascii(run, cost)
                total += cost
                opens = opens or i == 0
            else:
                bow = (
                    i == 0
                    and ctx & _LEFT_SPACE
                    and _is_punct(run[0])
                    and not (run == "'" and i < last)  # an opening ' (before a word) takes none
                )
                eow = i == last and ctx & _RIGHT_SEAM and _is_punct(run[-1])
                pending = (BOW_G if bow else "") + run + (EOW_G if eow else "")
                opens = opens or bool(bow)
                closes = bool(eow)
        if pending:
            total += cost_of(pending)
        else:
            closes = True  # a letter run's ⟨eow⟩
        return total, opens, closes

    def _padded_word(self, word: str, ctx: int) -> str:
        """ctok's own stream of a word, in context: the word between whitespace that gives it the same
        neighbours, streamed by ctok, the padding's (verbatim) output cut off again."""
        left = "\n " if ctx & _LEFT_SPACE else "\n"
        right = " " if ctx & _RIGHT_SEAM else ""
        s = _normalize.stream_norm(left + word + right, self._plain, raw_head_space=False)
        if not s.startswith(left) or not s.endswith(right):  # ctok's rules changed under us
            raise RuntimeError(f"ctok streamed the padding of {word!r} unexpectedly")
        return s[len(left) : len(s) - len(right)]

    def _padded_words(self, items: list[tuple[str, int]]) -> list[str]:
        """``_padded_word`` of many words in one call of ctok's (its per-call cost dominates short
        words): the words in a row, each whitespace between them giving both neighbours their context.
        None of those runs is a lone space, so ctok's seam law leaves them all verbatim."""
        seps = ["\n " if items[0][1] & _LEFT_SPACE else "\n"]
        for (_, ctx), (_, next_ctx) in itertools.pairwise(items):
            seps.append((" \n" if ctx & _RIGHT_SEAM else "\n") + (" " if next_ctx & _LEFT_SPACE else ""))
        seps.append(" " if items[-1][1] & _RIGHT_SEAM else "")
        text = "".join(sep + word for sep, (word, _) in zip(seps, items, strict=False)) + seps[-1]
        parts = _SPLIT.split(_normalize.stream_norm(text, self._plain, raw_head_space=False))
        # "", sep, word, sep, word, …, word[, sep, ""]
        if parts[0] or parts[1::2][: len(seps)] != [sep for sep in seps if sep]:
            raise RuntimeError("ctok streamed the padding of a batch of words unexpectedly")
        return parts[2 : 2 * len(items) + 1 : 2]

    def _ascii_head(self, word: str, right_seam: bool) -> list[str]:
        """``_head`` of a printable-ASCII word opening the text: the frame's end stands for a space on
        its left when the frame ends in ⟨bow⟩, and that ⟨bow⟩ is written as a token of its own before
        a word that writes none (digits), or as a space before an opening apostrophe."""
        frame_bow = self.model.frame_bow
        pieces = self._ascii_word(word, (_LEFT_SPACE if frame_bow else 0) | (_RIGHT_SEAM if right_seam else 0))
        if frame_bow and word[0].isdigit():
            return [BOW_G, *pieces]
        if frame_bow and pieces[0] == "'":  # bare only when it opens a word: then the frame's space
            return [" ", *pieces]
        return pieces

    def _head(self, head: str, right_seam: bool, raw_head_space: bool) -> str:
        """The stream of the text's first word (with any whitespace before it), frame edge included."""
        right = " " if right_seam else ""
        s = _normalize.stream_norm(head + right, self.model, raw_head_space=raw_head_space)
        if not s.endswith(right):
            raise RuntimeError(f"ctok streamed the padding of {head!r} unexpectedly")
        return s[: len(s) - len(right)]

    # ---- tiling ----------------------------------------------------------------------------------------

    def _char_floor(self, ch: str) -> int:
        cost = self._floor.get(ch)
        if cost is None:
            if len(self._floor) > _MAX_CHARS:  # bounded whatever text comes: start again from the markers
                self._floor = dict.fromkeys(MARKER_GLYPHS, 1)
            cost = self._floor[ch] = _engine.char_cost(self.model, ch)
        return cost

    def tile_cost(self, s: str) -> int:
        """Minimum number of tiles of a stream fragment: vocabulary pieces, or one character at its
        floor price (the same recurrence as ctok's, walking its reverse trie from each end)."""
        vocab = self.vocab
        if s in vocab:
            return 1
        # not a piece, so at least two tiles (a tile spanning two characters is a piece): two pieces
        # that make it up settle it without the full walk (most words that are not a piece are two)
        if len(s) <= 48:  # longer, and the slicing costs more than the walk saves
            for k in range(1, len(s)):
                if s[:k] in vocab and s[k:] in vocab:
                    return 2
        root, end_key, floor = self.root, self.end, self._floor
        best = [0] * (len(s) + 1)
        for end in range(1, len(s) + 1):
            ch = s[end - 1]
            node = root.get(ch)
            if node is not None and end_key in node:
                cost = best[end - 1] + 1
            else:
                unit = floor.get(ch)
                cost = best[end - 1] + (unit if unit is not None else self._char_floor(ch))
            if node is not None:
                start = end - 2
                while start >= 0:
                    node = node.get(s[start])
                    if node is None:
                        break
                    if end_key in node and best[start] + 1 < cost:
                        cost = best[start] + 1
                    start -= 1
            best[end] = cost
        return best[-1]

    def _cost(self, s: str) -> int:
        costs = self._costs
        cost = costs._new.get(s)
        if cost is None and (not costs._old or (cost := costs.recall(s)) is None):
            cost = self.tile_cost(s)
            costs.put(s, cost)
        return cost

    def _split(self, s: str) -> list[str]:
        """A stream cut at junctions no piece spans: with a ``simple`` vocabulary, at its markers first
        (cheap, and where the repeats are), then anything still long at every such junction."""
        if not self.simple:
            return self._pair_split(s)
        out: list[str] = []
        for piece in _MARKER_CUTS.split(s):
            if len(piece) > 24:
                out.extend(self._pair_split(piece))
            elif piece:
                out.append(piece)
        return out

    def _pair_split(self, s: str) -> list[str]:
        pairs, out, start = self.pairs, [], 0
        for i in range(1, len(s)):
            if s[i - 1 : i + 1] not in pairs:
                out.append(s[start:i])
                start = i
        out.append(s[start:])
        return out

    def _pieces_cost(self, pieces: list[str]) -> int:
        """Cost of consecutive stream pieces, glued where a piece of the vocabulary may span them."""
        pairs, total, group = self.pairs, 0, pieces[0]
        for piece in pieces[1:]:
            if group[-1] + piece[0] in pairs:
                group += piece
            else:
                total += self._cost(group)
                group = piece
        return total + self._cost(group)

    def _pieces(self, word: str, ctx: int) -> list[str]:
        """A word's stream, in pieces that are cuts where convenient (not necessarily everywhere)."""
        return self._ascii_word(word, ctx) if word.isascii() else self._split(self._padded_word(word, ctx))

    def _word(self, word: str, ctx: int) -> tuple[str, int, bool]:
        """A word's stream, its cost alone, and whether it opens with [case markers]⟨bow⟩ (a seam)."""
        pieces = self._pieces(word, ctx)
        frag = "".join(pieces)
        return frag, self._pieces_cost(pieces), frag.lstrip(_CASE)[:1] == BOW_G

    def _tail(self, n: int) -> int:
        cost = self._tails.get(n)
        if cost is None:
            cost = len(_engine.frame_tail(n, self.model))
            if n < _MAX_CHARS:  # the run lengths that occur; keeps the table bounded
                self._tails[n] = cost
        return cost

    # ---- the count -------------------------------------------------------------------------------------

    def count(self, text: str) -> int:
        """Content tokens of ``text`` as ctok's ``tile`` counts them (message frame excluded)."""
        if text.isascii():
            # ctok's normalisation leaves ASCII alone but for its C0 controls (NFC, folds and escapes
            # touch only non-ASCII), and its translate/sub passes cost more than the rest of a count
            norm = text if _ASCII_CONTROL.search(text) is None else normal.per_slice(_strip_controls, text)
        else:
            norm = normal.nfc(text, fold_quotes=self.fold_quotes)  # linear, in short C calls (normal.py)
            if _GLYPH.search(norm) is not None:
                norm = norm.translate(LITERAL_MARKER_ESCAPE_TABLE)
        core = norm.rstrip("\n")
        tail = self._tail(len(norm) - len(core))
        parts = _split(core)
        first = 0 if parts[0] else 2
        if first >= len(parts) or not parts[first]:  # nothing but whitespace: let ctok do it
            return int(_engine.tile(text, self.model)[0])
        return self._count(parts, first, text.startswith(" ")) + tail

    def _count(self, parts: list[str], first: int, raw_head_space: bool) -> int:
        n_parts = len(parts)
        head = "".join(parts[: first + 1])
        after = parts[first + 1] if first + 1 < n_parts else ""
        seam_after = after[:1] == " " and after[:2] != "  "
        key = ("1" if seam_after else "0") + ("1" if raw_head_space else "0") + head
        hit = self._heads.get(key)
        if hit is None:
            if first == 0 and head.isascii():
                pieces = self._ascii_head(head, seam_after)
            else:
                pieces = self._split(self._head(head, seam_after, raw_head_space))
            hit = ("".join(pieces), self._pieces_cost(pieces))
            self._heads.put(key, hit)

        if self.simple:
            return self._sum(parts, first, hit[1], hit[0][-1] == EOW_G)
        return self._glue(parts, first, *hit)

    def _context(self, parts: list[str], i: int) -> int:
        """The context of the word ``parts[i + 1]``, which follows the whitespace ``parts[i]``."""
        after = parts[i + 2] if i + 2 < len(parts) else ""
        return (_LEFT_SPACE if parts[i][-1] == " " else 0) | (
            _RIGHT_SEAM if after[:1] == " " and after[:2] != "  " else 0
        )

    def _sum(self, parts: list[str], first: int, total: int, closes: bool) -> int:
        """The count when every junction between words and whitespace is a cut (``simple``): a sum of
        the words' and the whitespace runs' own costs, less the lone spaces ctok's seam law removes."""
        words, spaces = self._word_costs, self._costs
        # (whitespace, the word after it, the whitespace after that); a trailing run has an empty word;
        # the padding "" is one too many when the head is the last word
        triples = zip(parts[first + 1 :: 2], parts[first + 2 :: 2], [*parts[first + 3 :: 2], ""], strict=False)
        batch: dict[tuple[str, int], tuple[int, bool, bool]] | None = None
        for k, (space, word, after) in enumerate(triples):
            if not word:
                total += self._cost(space)
                break
            ctx = (space[-1] == " ") + 2 * (after[:2] in _SEAM_STARTS)  # _LEFT_SPACE | _RIGHT_SEAM
            entry = words._new.get(word) or (words._old and words.recall(word))
            hit = entry[ctx] if entry else None
            if hit is None:
                if word.isascii():
                    hit = self._ascii_cost(word, ctx)
                    if not entry:
                        entry = [None, None, None, None]
                        words.put_ascii(word, entry)
                    entry[ctx] = hit
                else:  # streamed by ctok, in batches: this word and the uncached ones after it
                    if batch is None or (word, ctx) not in batch:
                        batch = self._prefetch(parts, first + 1 + 2 * k)
                    hit = batch[(word, ctx)]
            # ctok's seam law: a lone space between ⟨eow⟩ and [case markers]⟨bow⟩ is not written
            if not (closes and hit[1] and space == " "):
                cost = spaces._new.get(space)
                total += cost if cost is not None else self._cost(space)
            total += hit[0]
            closes = hit[2]
        return total

    def _prefetch(self, parts: list[str], start: int) -> dict[tuple[str, int], tuple[int, bool, bool]]:
        """Stream and cost, in one batch, the uncached non-ASCII words from ``parts[start + 1]`` on (up
        to ``_BATCH`` of them, looking ``_LOOKAHEAD`` words ahead at most); they are cached too, but
        returned as the cache may turn over meanwhile."""
        words = self._word_costs
        todo: dict[tuple[str, int], None] = {}
        for i in range(start, min(len(parts) - 1, start + 2 * _LOOKAHEAD), 2):
            word = parts[i + 1]
            if word and not word.isascii():
                ctx = self._context(parts, i)
                entry = words._new.get(word) or words._old.get(word)  # no promotion while looking
                if not entry or entry[ctx] is None:
                    todo[(word, ctx)] = None
                    if len(todo) >= _BATCH:
                        break
        items = list(todo)
        out = {}
        for (word, ctx), stream in zip(items, self._padded_words(items), strict=True):
            pieces = self._split(stream)
            hit = out[(word, ctx)] = (
                self._pieces_cost(pieces),
                pieces[0].lstrip(_CASE)[:1] == BOW_G,
                pieces[-1][-1] == EOW_G,
            )
            entry = words.get(word)
            if not entry:
                entry = [None, None, None, None]
                words.put(word, entry)
            entry[ctx] = hit
        return out

    def _glue(self, parts: list[str], first: int, group: str, group_cost: int | None) -> int:
        """The count in general: ``group`` is the stream not yet costed, fragments glued because a piece
        may span their junction; ``group_cost`` is None once glued."""
        pairs, words, cost_of = self.pairs, self._words, self._cost
        total = 0
        for i in range(first + 1, len(parts), 2):
            space, word = parts[i], parts[i + 1]
            if word:
                ctx = self._context(parts, i)
                cache = words[ctx]
                hit = cache.get(word)
                if hit is None:
                    hit = self._word(word, ctx)
                    cache.put(word, hit)
                frag, frag_cost, opens = hit
                if space == " " and opens and group[-1] == EOW_G:
                    space = ""
            if space:
                if group[-1] + space[0] in pairs:
                    group, group_cost = group + space, None
                else:
                    total += cost_of(group) if group_cost is None else group_cost
                    group, group_cost = space, cost_of(space)
            if word:
                if group[-1] + frag[0] in pairs:
                    group, group_cost = group + frag, None
                else:
                    total += cost_of(group) if group_cost is None else group_cost
                    group, group_cost = frag, frag_cost
        return total + (cost_of(group) if group_cost is None else group_cost)


_tilers: dict[tuple[str, bool], Tiler] = {}
_tilers_lock = threading.Lock()

#: memo budget per vocabulary (v3; v4.7 and v4.8 share theirs), plus a little per frame for the heads
CACHE_BYTES = 24 * 2**20


def tiler(family: str, frame_bow: bool = True) -> Tiler:
    """The tiler of a ctok family ("v3", "v4.7", "v4.8"); ``frame_bow=False`` counts a text that opens the
    prompt (no ⟨bow⟩ before it), as the copy of the model the text module builds."""
    with _tilers_lock:
        key = (family, frame_bow)
        hit = _tilers.get(key)
        if hit is None:
            model = _main._model(family)
            if not frame_bow and model.frame_bow:
                model = copy.copy(model)
                model.frame_bow = False
            # v4.7 and v4.8 load one vocabulary file into two models: equal vocabularies, shared memos
            like = next(
                (
                    t
                    for t in _tilers.values()
                    if (t.fold_quotes, t.caps) == (model.fold_quotes, model.allcaps_min) and t.vocab == model.vocab
                ),
                None,
            )
            pairs = like.pairs if like is not None else _pairs(model.vocab)
            hit = _tilers[key] = Tiler(model, pairs, CACHE_BYTES, like)
        return hit


def prepare(version: str) -> None:
    """Load the tilers a count for this version uses (both frames)."""
    family = _main._family(version)
    tiler(family, True)
    tiler(family, False)


def content_count(text: str, version: str, frame_bow: bool = True) -> int:
    """ctok's content count of ``text`` for a Claude tokenizer version ("3.0", "4.7", "4.8", …)."""
    return tiler(_main._family(version), frame_bow).count(text)


def token_count(text: str, version: str) -> int:
    """Drop-in for ``ctok.token_count``: the content count plus the family's message frame."""
    t = tiler(_main._family(version))
    return t.count(text) + t.model.message_overhead


def clear_caches() -> None:
    with _tilers_lock:
        tilers = list(_tilers.values())
    for t in tilers:
        t.clear()
