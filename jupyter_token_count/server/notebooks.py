"""The server's copy of each notebook open in a browser, so that an edit sends only the cells that changed.

The protocol (POST cells, ``openapi.yaml``): the whole notebook sent with ``keep: true`` is stored as a new state,
owned by the Jupyter user who sent it, and the answer names it (``state: {id, version}``). Later posts send
``base`` (that id and the version of the last answer received), the cells that changed since (``changes``) and,
only when cells were added, removed or moved, the ids in their new ``order``; that answer's ``cells`` holds only
the shares that changed (``delta: true``). Every answer moves the version on. A base the server cannot follow is
a 409 ``state_conflict`` and the browser sends the whole notebook again: the server restarted, the state expired or
was evicted, it belongs to another user, it was made for another model or outputs switch, or the browser missed an
answer (its version is not the state's).

Work per edit is what the edited cells cost: unchanged cells keep their request and share, and the whole notebook's
request is built only when its total is counted (after a pause), once per content. A failed post changes nothing:
an edit is applied to a draft that replaces the state only when its answer is ready.

Bounds: at most ``max_states`` notebooks and ``max_bytes`` in all (what a state holds is estimated from its
requests' sizes), each dropped after ``ttl`` seconds unused, least recently used first; each notebook is held to the
size a whole notebook may have in one request (``max_request_bytes``).
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..cells import CellCount, CellsResult, PreparedNotebook, cell_request, cell_shares, prepare
from ..errors import InputError, TokenCountError
from ..request import Cell, CountRequest, cells_from_json

#: what one cell costs to hold beyond its request's bytes (objects, dict slots, its share)
CELL_OVERHEAD = 600
#: a request's bytes are held about three times: the cell as sent, the request's body, its canonical JSON
HELD_COPIES = 3


class StateConflict(TokenCountError):
    """The server cannot apply these changes to its copy of the notebook: the browser must send it whole."""

    http_status = 409
    http_type = "state_conflict"
    exit_code = 3

    def __init__(self, message: str) -> None:
        super().__init__(f"{message}; send the whole notebook (cells) again")


class NotebookTooLarge(TokenCountError):
    http_status = 413
    http_type = "request_too_large"
    exit_code = 2


@dataclass
class Draft:
    """A state's content after an edit, not yet answered."""

    nb: PreparedNotebook
    order: list[str]
    cells: dict[str, Cell]
    requests: dict[str, CountRequest | None]
    #: cells whose request is new: their shares are computed afresh
    changed: set[str]
    content_bytes: int


class NotebookState:
    """One notebook as the server holds it for one browser tab (cells in order, each cell's request and share)."""

    def __init__(self, owner: str, nb: PreparedNotebook, max_request_bytes: int) -> None:
        self.id = secrets.token_urlsafe(16)
        self.owner = owner
        self.model = nb.model
        self.include_outputs = nb.include_outputs
        self.max_request_bytes = max_request_bytes
        self.version = 0
        self.nb = nb
        self.order = [c.id for c in nb.cells]
        self.cells = {c.id: c for c in nb.cells}
        self.requests = {c.id: r for c, r in zip(nb.cells, nb.requests, strict=True)}
        self.positions = {cid: i for i, cid in enumerate(self.order)}
        #: each cell's share as the last answer gave it (the browser's copy)
        self.shares: dict[str, CellCount] = {}
        self.content_bytes = sum(r.size_bytes for r in nb.requests if r is not None)
        self.last_used = 0.0
        self.lock = asyncio.Lock()

    @property
    def held_bytes(self) -> int:
        """About what this state keeps in memory: its cells and requests, and the whole notebook's request once
        it was built (its body and canonical JSON)."""
        total = 2 * self.nb.total_request().size_bytes if self.nb.total_built else 0
        return total + HELD_COPIES * self.content_bytes + CELL_OVERHEAD * len(self.order)

    def check(self, model: str, include_outputs: bool, version: int) -> None:
        if version != self.version:
            raise StateConflict(
                f"the server's copy of this notebook is at version {self.version}, not {version} (an answer was missed)"
            )
        if model != self.model or include_outputs != self.include_outputs:
            outputs = "with" if self.include_outputs else "without"
            raise StateConflict(f"the server's copy of this notebook was made for {self.model} {outputs} outputs")

    def draft(self, changes: Sequence[Any], order: Sequence[str] | None) -> Draft:
        """The content after ``changes`` (raw cells, validated here) and the new ``order`` (None: unchanged).
        Blocking (cells are validated and their requests built); the state itself is not touched."""
        new_order = list(order) if order is not None else self.order
        positions = self.positions if order is None else {cid: i for i, cid in enumerate(new_order)}
        if order is not None and len(positions) != len(new_order):
            dup = next(cid for i, cid in enumerate(new_order) if positions[cid] != i)
            raise InputError(f"cell id {dup!r} appears more than once", "order")
        cells = self.cells if order is None else {}
        requests = self.requests if order is None else {}
        if order is not None:
            for i, cid in enumerate(new_order):
                old = self.cells.get(cid)
                if old is None:
                    continue  # a new cell: it must be among the changes (checked below)
                cells[cid] = old if old.index == i else replace(old, index=i)
                requests[cid] = self.requests[cid]
        else:
            cells, requests = dict(cells), dict(requests)
        changed: set[str] = set()
        content = self.content_bytes if order is None else sum(r.size_bytes for r in requests.values() if r is not None)
        for j, raw in enumerate(changes):
            if not isinstance(raw, dict):
                raise InputError("expected a cell (an object with id, cell_type and source)", f"changes[{j}]")
            cid = raw.get("id")
            if not isinstance(cid, str):
                got = "missing" if "id" not in raw else f"not a string ({type(cid).__name__})"
                raise InputError(f"each changed cell needs its id, a string: {got}", f"changes[{j}]")
            if cid in changed:
                raise InputError(f"cell id {cid!r} appears more than once", "changes")
            pos = positions.get(cid)
            if pos is None:
                if order is not None:
                    raise InputError(f"cell {cid!r} is not in order", f"changes[{j}]")
                raise StateConflict(f"cell {cid!r} is not in the server's copy of this notebook")
            [cell] = cells_from_json([raw], strict=True, start=pos)
            req = cell_request(cell, self.model, self.include_outputs)
            old = requests.get(cid)
            if cid in requests and old is not None:
                content -= old.size_bytes
            content += req.size_bytes if req is not None else 0
            cells[cid], requests[cid] = cell, req
            changed.add(cid)
        if order is not None:
            missing = next((cid for cid in new_order if cid not in cells), None)
            if missing is not None:
                raise StateConflict(f"cell {missing!r} in order is not in the server's copy of this notebook")
        if content > self.max_request_bytes:
            raise NotebookTooLarge(
                f"the notebook is now {content / 2**20:.1f} MB as a request; this server accepts at most "
                f"{self.max_request_bytes / 2**20:.1f} MB (TokenCountConfig.max_request_bytes)"
            )
        nb = self.nb
        if changed or order is not None:
            ordered = [cells[cid] for cid in new_order]
            nb = PreparedNotebook(
                ordered, [requests[cid] for cid in new_order], self.model, self.include_outputs, nb.max_bytes
            )
        return Draft(nb, new_order, cells, requests, changed, content)

    def shares_for(self, draft: Draft, counter: Any, mode: str, *, recheck: bool, settle: bool) -> list[CellCount]:
        """Every cell's share for the draft: the changed cells' computed, the others' kept (``recheck``: shares
        that are not exact yet are looked up again, their exact count may have come in; ``settle``, after a pause:
        shares cut short by the estimate's time limit are estimated again, a busy moment is not kept). Blocking."""
        redo = [cid for cid in draft.order if cid in draft.changed or cid not in self.shares]
        if recheck or settle:
            redo += [
                cid
                for cid, c in self.shares.items()
                if ((recheck and not c.exact) or (settle and c.rough))
                and cid not in draft.changed
                and cid in draft.cells
            ]
        fresh = dict(
            zip(
                redo,
                cell_shares(
                    counter, [draft.cells[c] for c in redo], [draft.requests[c] for c in redo], self.model, mode=mode
                ),
                strict=True,
            )
        )
        out = []
        for cid in draft.order:
            share = fresh.get(cid) or self.shares[cid]
            index = draft.cells[cid].index
            out.append(share if share.index == index else replace(share, index=index))
        return out

    def first_answer(self, result: CellsResult) -> None:
        """The whole notebook was answered: the browser has every share."""
        self.shares = {c.id: c for c in result.cells}
        self.version = 1

    def commit(self, draft: Draft, result: CellsResult) -> list[CellCount]:
        """Make the draft the state's content and the result its last answer; the shares the browser does not have."""
        if draft.order is not self.order:
            self.positions = {cid: i for i, cid in enumerate(draft.order)}
        self.order, self.cells, self.requests, self.nb = draft.order, draft.cells, draft.requests, draft.nb
        self.content_bytes = draft.content_bytes
        before = self.shares
        self.shares = {c.id: c for c in result.cells}
        self.version += 1
        return [c for c in result.cells if before.get(c.id) != c]


class NotebookStates:
    """The states of the notebooks open in browsers, by owner and id, within bounds."""

    def __init__(
        self,
        max_states: int = 64,
        max_bytes: int = 256 * 2**20,
        ttl: float = 1800.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_states = max_states
        self.max_bytes = max_bytes
        self.ttl = ttl
        self._clock = clock
        self._states: OrderedDict[tuple[str, str], NotebookState] = OrderedDict()
        self._bytes: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self.evicted = 0
        self.expired = 0

    def get(self, owner: str, state_id: str) -> NotebookState:
        """The caller's state ``state_id``; a state of another owner is as unknown as one that never was."""
        with self._lock:
            self._expire()
            state = self._states.get((owner, state_id))
            if state is None:
                raise StateConflict(
                    "this server holds no copy of that notebook (it restarted, or the copy expired or was evicted)"
                )
            state.last_used = self._clock()
            self._states.move_to_end((owner, state_id))
            return state

    def put(self, state: NotebookState) -> None:
        """Add or re-measure ``state`` (after an answer), then evict others until the bounds hold again."""
        held = state.held_bytes
        with self._lock:
            key = (state.owner, state.id)
            state.last_used = self._clock()
            self._states[key] = state
            self._states.move_to_end(key)
            self._bytes[key] = held
            self._expire()
            while len(self._states) > self.max_states or (
                sum(self._bytes.values()) > self.max_bytes and len(self._states) > 1
            ):
                old, _ = self._states.popitem(last=False)
                if old == key:  # never evict the state being answered: it is the newest
                    self._states[key] = state
                    break
                self._bytes.pop(old, None)
                self.evicted += 1

    def drop(self, owner: str, state_id: str) -> None:
        with self._lock:
            if self._states.pop((owner, state_id), None) is not None:
                self._bytes.pop((owner, state_id), None)

    def _expire(self) -> None:
        cutoff = self._clock() - self.ttl
        for key in [k for k, s in self._states.items() if s.last_used < cutoff]:
            del self._states[key]
            self._bytes.pop(key, None)
            self.expired += 1

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "notebooks": len(self._states),
                "bytes": sum(self._bytes.values()),
                "evicted": self.evicted,
                "expired": self.expired,
            }


def new_state(owner: str, cells: Sequence[Cell], model: str, include_outputs: bool, max_bytes: int) -> NotebookState:
    """A state for a whole notebook (blocking: every cell's request is built)."""
    return NotebookState(owner, prepare(cells, model, include_outputs, max_bytes), max_bytes)
