"""A notebook's total and each cell's share: what the status bar, the sidebar and the badges show.

- **The total** is the notebook rendered exactly as ``count_tokens(Path(nb))`` and the CLI render it (one
  user message, ``notebook_request``), counted as ONE request and cached by content: one upstream request
  per distinct notebook state, and the same number on every surface.
- **A cell's share** is what the cell costs on its own: ``count(a message holding only this cell) − frame``.
  It comes from the offline tokenizer at once (no network wait), marked ≈, unless its exact count is
  already in the cache and the model's exact frame is known.
- **Joins and frame** is the rest, ``total − Σ shares``: the request frame every message pays, the blank
  line between cells, and tokens that merge across a cell boundary. It is shown as its own row so the
  parts visibly add up to the total.
- Exact per-cell counts are background work (``Counter.enqueue_background``): queued only once the total
  is exact, at the lowest priority and within a share of the rate budget; ``Settings.cell_counts`` turns
  them off.
- **While typing** the whole notebook's request is not built at all: the total is the cached exact count of this
  content (found by the notebook's ``digest``, which needs no rendering) or the shares plus frame and joins. The
  server's copy of an open notebook (``server/notebooks.py``) reuses every unchanged cell's request and share, so
  an edit costs what the edited cells cost.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from . import pricing, registry
from .config import check_mode
from .counter import Counter
from .errors import InputError
from .request import Cell, CountRequest, build_request, cell_blocks, notebook_request
from .result import TokenCount

#: why a total is an estimate while its notebook is being edited
TYPING = "estimate while you type; the count of the whole notebook follows when typing pauses"
#: tokens of the blank line joining two cells in the notebook's rendering, in every Claude tokenizer
JOIN_TOKENS = 1
#: the reason shown for a share from the offline tokenizer
OFFLINE_SHARE = "offline tokenizer (a cell's share is attributed, not counted by the API)"


@dataclass(frozen=True)
class CellCount:
    id: str
    tokens: int
    exact: bool
    cell_type: str
    #: where the cell is (not part of what the share says: a cell that moved has the same share)
    index: int = field(compare=False)
    reason: str | None = None
    cost_usd: float | None = None
    #: the share's range (its estimate's, less the frame); the share itself when exact
    low: int | None = None
    high: int | None = None
    #: cut short by the estimate's time limit (the reason says so): not to be kept as the cell's share for good
    rough: bool = False

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "tokens": self.tokens,
            "exact": self.exact,
            "cell_type": self.cell_type,
            "cost_usd": self.cost_usd,
            "low": self.tokens if self.exact or self.low is None else self.low,
            "high": self.tokens if self.exact or self.high is None else self.high,
        }
        if self.reason:
            d["reason"] = self.reason
        return d


@dataclass(frozen=True)
class CellsResult:
    model: str
    #: the notebook counted as one request (exact, or the estimate of that request with its reason)
    total: int
    exact: bool
    reason: str | None
    cells: list[CellCount]
    context_window: int | None
    cost_usd: float | None
    display_name: str | None = None
    retry_after: float | None = None
    by_type: dict[str, int] = field(default_factory=dict)
    #: the exact total has been asked for and is not in yet: ask again shortly
    pending: bool = False
    #: exact per-cell counts of this notebook still queued as background work
    cells_pending: int = 0
    #: the total's range (``TokenCount.low/high``): the total itself when exact
    low: int | None = None
    high: int | None = None

    @property
    def joins_and_frame(self) -> int:
        """What no single cell accounts for: the request frame, the joins between cells, merged tokens."""
        return self.total - sum(c.tokens for c in self.cells)

    @property
    def context_fraction(self) -> float | None:
        return self.total / self.context_window if self.context_window else None

    def to_dict(self, cells: Sequence[CellCount] | None = None) -> dict[str, Any]:
        """The answer; ``cells`` replaces the list of every cell's share (an answer that carries only the changes)."""
        d: dict[str, Any] = {
            "model": self.model,
            "display_name": self.display_name,
            "total": self.total,
            "low": self.total if self.exact or self.low is None else self.low,
            "high": self.total if self.exact or self.high is None else self.high,
            "exact": self.exact,
            "pending": self.pending,
            "joins_and_frame": self.joins_and_frame,
            "reason": self.reason,
            "context_window": self.context_window,
            "context_fraction": self.context_fraction,
            "cost_usd": self.cost_usd,
            "by_type": self.by_type,
            "cells_pending": self.cells_pending,
            "cells": [c.to_dict() for c in (self.cells if cells is None else cells)],
        }
        if self.retry_after is not None:
            d["retry_after"] = self.retry_after
        return d


def cell_request(cell: Cell, model: str, include_outputs: bool) -> CountRequest | None:
    """The one-message request for a cell alone, or None for a cell with nothing to count."""
    blocks = cell_blocks(cell, include_outputs)
    if not blocks:
        return None
    try:
        return build_request([{"role": "user", "content": blocks}], model=model)
    except InputError as exc:
        raise exc.at(cell.where) from None


class _EstimateMemo:
    """Offline estimates of cell requests by cache key: a recount after an edit re-tokenizes only the edited
    cell. Bounded (a key and an int are about 200 bytes: 50,000 entries stay near 10 MB)."""

    def __init__(self, size: int = 50_000) -> None:
        self._data: OrderedDict[str, tuple[int, int, int]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, req: CountRequest, info: registry.ModelInfo, deadline: float) -> tuple[int, int, int, str | None]:
        """(estimate, low, high) of a cell's request, and why it is rough when it is (past ``deadline``; rough
        figures are not memoised)."""
        from .backends import offline

        key = req.identity
        with self._lock:
            hit = self._data.get(key)
            if hit is not None:
                self._data.move_to_end(key)
                return (*hit, None)
        e = offline.estimate(req.body, info, deadline=deadline)
        if e.rough:
            return e.input_tokens, e.low, e.high, e.rough
        with self._lock:
            self._data[key] = (e.input_tokens, e.low, e.high)
            while len(self._data) > self._size:
                self._data.popitem(last=False)
        return e.input_tokens, e.low, e.high, None


_memo = _EstimateMemo()


@dataclass
class PreparedNotebook:
    """A notebook ready to count: its cells, each cell's one-message request (None: nothing to count) and, built
    only when it is needed, the whole notebook's request (``total_request``)."""

    cells: Sequence[Cell]
    requests: Sequence[CountRequest | None]
    model: str
    include_outputs: bool
    max_bytes: int | None
    _total: CountRequest | None = field(default=None, repr=False)
    _digest: str | None = field(default=None, repr=False)

    @property
    def total_built(self) -> bool:
        return self._total is not None

    def total_request(self) -> CountRequest:
        """The notebook as one request, exactly as ``count_tokens(Path(nb))`` renders it: built (and validated as a
        whole: size, images) once. Blocking: call it off the event loop."""
        if self._total is None:
            self._total = notebook_request(self.cells, self.include_outputs, model=self.model, max_bytes=self.max_bytes)
        return self._total

    @property
    def digest(self) -> str:
        """What the notebook's rendering is, from its cells' requests alone (the notebook's message is their blocks
        joined in order): equal digests, equal total requests. Lets a total be found in the cache while typing
        without rendering, serialising and hashing the whole notebook."""
        if self._digest is None:
            ids = "\n".join(r.identity for r in self.requests if r is not None)
            # the model id as JSON: an unknown id may hold any character (it is still counted, with a warning), and
            # JSON makes it ASCII (a lone surrogate too) with no newline to run into the fields after it
            head = f"jtc-notebook-v2\n{json.dumps([self.model, self.include_outputs])}\n"
            self._digest = hashlib.sha256((head + ids).encode("ascii")).hexdigest()
        return self._digest


def prepare(cells: Sequence[Cell], model: str, include_outputs: bool, max_bytes: int | None) -> PreparedNotebook:
    """Each cell's request (a bad block is reported with its cell; decodes are memoised). Blocking."""
    requests = [cell_request(c, model, include_outputs) for c in cells]
    return PreparedNotebook(cells, requests, model, include_outputs, max_bytes)


class _TotalIndex:
    """Notebook digest → identity of its total request (and whether it stands for an empty notebook), for the totals
    built so far: while typing, the cached exact total of a state counted before (an undo) is found by digest.
    Bounded: about 250 bytes an entry."""

    def __init__(self, size: int = 20_000) -> None:
        self._data: OrderedDict[str, tuple[str, bool]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def put(self, digest: str, req: CountRequest) -> None:
        value = (req.identity, req.empty)
        with self._lock:
            self._data[digest] = value
            self._data.move_to_end(digest)
            while len(self._data) > self._size:
                self._data.popitem(last=False)

    def get(self, digest: str) -> tuple[str, bool] | None:
        with self._lock:
            return self._data.get(digest)


_totals = _TotalIndex()


def _shares(
    counter: Counter, cells: Sequence[Cell], requests: Sequence[CountRequest | None], model: str, use_cache: bool
) -> list[CellCount]:
    from .backends import offline

    info = registry.resolve(model)
    offline_frame = offline.frame_tokens(info)
    # an exact share needs the exact frame (offline mode shows estimates only)
    exact_frame = counter.known_frame(model) if use_cache else None
    share_reason = offline.qualify(OFFLINE_SHARE)
    deadline = time.monotonic() + counter.settings.estimate_timeout  # one time limit for all the shares
    out: list[CellCount] = []
    for cell, req in zip(cells, requests, strict=True):
        if req is None:
            out.append(CellCount(cell.id, 0, True, cell.cell_type, cell.index))
            continue
        hit = counter.cached(req) if exact_frame is not None else None
        if hit is not None and exact_frame is not None:
            out.append(CellCount(cell.id, max(0, hit.input_tokens - exact_frame), True, cell.cell_type, cell.index))
        else:
            est, low, high, rough = _memo.get(req, info, deadline)
            share = max(0, est - offline_frame)
            out.append(
                CellCount(
                    cell.id,
                    share,
                    False,
                    cell.cell_type,
                    cell.index,
                    f"{share_reason}; {rough}" if rough else share_reason,
                    low=max(0, low - offline_frame),
                    high=max(share, high - offline_frame),
                    rough=rough is not None,
                )
            )
    return out


def cell_shares(
    counter: Counter, cells: Sequence[Cell], requests: Sequence[CountRequest | None], model: str, *, mode: str
) -> list[CellCount]:
    """The shares of some of a notebook's cells (their requests given): an edit recomputes only the edited cells'.
    Blocking."""
    return _shares(counter, cells, requests, model, check_mode(mode) != "offline")


async def acount_cells(
    counter: Counter,
    cells: Sequence[Cell],
    model: str,
    *,
    include_outputs: bool = False,
    mode: str | None = None,
    deadline: float | None = None,
    cell_counts: bool = True,
    exact_total: bool = True,
) -> CellsResult:
    """The notebook's total (one request; ``deadline`` as in ``Counter.acount``) and every cell's share.
    ``exact_total=False`` (while typing) gives the cached exact total, else a quick estimate from the shares,
    ``pending`` (ask again with ``exact_total`` for the whole notebook's count). ``cell_counts=False`` queues no
    exact per-cell counts (e.g. a comparison across models)."""
    # building validates (images are decoded): off whichever loop this runs on
    nb = await asyncio.get_running_loop().run_in_executor(
        None, prepare, cells, model, include_outputs, counter.settings.max_request_bytes
    )
    return await acount_prepared(
        counter, nb, mode=mode, deadline=deadline, cell_counts=cell_counts, exact_total=exact_total
    )


async def acount_prepared(
    counter: Counter,
    nb: PreparedNotebook,
    *,
    mode: str | None = None,
    deadline: float | None = None,
    cell_counts: bool = True,
    exact_total: bool = True,
    shares: list[CellCount] | None = None,
) -> CellsResult:
    """``acount_cells`` for a prepared notebook. ``shares``: every cell's share, already known (the server's copy
    of an open notebook recomputes only the edited cells'); their costs are brought to the total's rate here."""
    mode = check_mode(mode or counter.settings.mode)
    model = nb.model
    info = registry.resolve(model)
    loop = asyncio.get_running_loop()
    total_task = None
    if exact_total:
        total_req = await loop.run_in_executor(None, nb.total_request)
        if mode != "offline" and counter.settings.key_configured:
            _totals.put(nb.digest, total_req)
        total_task = asyncio.ensure_future(counter.acount(total_req, mode, deadline))
    try:
        if shares is None:
            shares = await loop.run_in_executor(None, _shares, counter, nb.cells, nb.requests, model, mode != "offline")
    except BaseException:
        if total_task is not None:
            total_task.cancel()
        raise
    if total_task is not None:
        total = await total_task
    else:
        total = await loop.run_in_executor(None, _cached_total, counter, nb, mode)
        if total is None:
            n, low, high = _typing_total(shares, info)
            total = counter.result_for(
                model, n, exact=False, source="offline", reason=TYPING, pending=True, low=low, high=high
            )
    n = total.input_tokens
    # each share at the rate the whole request pays (a price band depends on the whole request's size); a share
    # whose cost is already right is kept as it is (the front end re-renders only the badges that changed)
    priced = [(c, pricing.cost(info, uncached=c.tokens, prompt_tokens=n)) for c in shares]
    shares = [c if c.cost_usd == cost else replace(c, cost_usd=cost) for c, cost in priced]
    by_type: dict[str, int] = {}
    for c in shares:
        by_type[c.cell_type] = by_type.get(c.cell_type, 0) + c.tokens
    queued = 0
    s = counter.settings
    if total.exact and s.cell_counts and cell_counts and mode != "offline":
        wanted = [r for r, c in zip(nb.requests, shares, strict=True) if r is not None and not c.exact]
        if wanted:
            probe = Counter.frame_probe(total.model)
            queued = counter.enqueue_background([probe, *wanted])
    return CellsResult(
        model=model,
        total=n,
        exact=total.exact,
        reason=total.reason,
        cells=shares,
        context_window=info.context_window,
        cost_usd=total.cost_usd,
        display_name=info.display_name,
        retry_after=total.retry_after,
        by_type=by_type,
        pending=total.pending,
        cells_pending=queued,
        low=total.low,
        high=total.high,
    )


def _cached_total(counter: Counter, nb: PreparedNotebook, mode: str) -> TokenCount | None:
    """The exact total of this content if it was counted before, found without building the total (typing)."""
    if mode == "offline":
        return None
    if nb.total_built:
        return counter.cached_result(nb.total_request())
    known = _totals.get(nb.digest)
    if known is None:
        return None
    identity, empty = known
    return counter.cached_identity(nb.model, identity, empty=empty)


def _typing_total(shares: list[CellCount], info: registry.ModelInfo) -> tuple[int, int, int]:
    """The total while typing, without tokenizing the whole notebook again (the share of the edited cell is new,
    the others are memoised): the shares, the frame and one token per join between cells, with the shares'
    ranges added up (wider than the whole's, never narrower). Marked ≈; the request after a pause counts (or
    estimates) the whole."""
    from .backends import offline

    joined = sum(1 for c in shares if c.tokens) - 1
    n = sum(c.tokens for c in shares) + offline.frame_tokens(info) + max(0, joined) * JOIN_TOKENS
    below = sum(c.tokens - (c.tokens if c.low is None else c.low) for c in shares)
    above = sum((c.tokens if c.high is None else c.high) - c.tokens for c in shares)
    return n, max(0, n - below), n + above


def count_cells(counter: Counter, cells: Sequence[Cell], model: str, **kwargs: Any) -> CellsResult:
    return counter.run(acount_cells(counter, cells, model, **kwargs))
