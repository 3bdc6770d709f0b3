"""Per-cell accounting: what a badge shows and how the notebook total is made.

A cell's tokens are its marginal cost: ``count(a message holding only this cell) − frame(model)``. The
notebook total is ``frame + Σ cells``. Because each cell is its own request, an edited cell costs one
request and every unchanged cell is a cache hit. Tokens that merge across a cell boundary make this
total differ slightly from counting the whole notebook as one request (see ``bench/cells_vs_whole.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from . import registry
from .counter import Counter
from .errors import InputError
from .request import Cell, CountRequest, build_request, cell_blocks


@dataclass(frozen=True)
class CellCount:
    id: str
    tokens: int
    exact: bool
    cell_type: str
    index: int
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "tokens": self.tokens, "exact": self.exact, "cell_type": self.cell_type}


@dataclass(frozen=True)
class CellsResult:
    model: str
    frame: int
    cells: list[CellCount]
    exact: bool
    reason: str | None
    context_window: int | None
    cost_usd: float | None
    display_name: str | None = None
    retry_after: float | None = None
    by_type: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.frame + sum(c.tokens for c in self.cells)

    @property
    def context_fraction(self) -> float | None:
        return self.total / self.context_window if self.context_window else None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "model": self.model,
            "display_name": self.display_name,
            "total": self.total,
            "exact": self.exact,
            "frame": self.frame,
            "reason": self.reason,
            "context_window": self.context_window,
            "context_fraction": self.context_fraction,
            "cost_usd": self.cost_usd,
            "by_type": self.by_type,
            "cells": [c.to_dict() for c in self.cells],
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


async def acount_cells(
    counter: Counter, cells: Sequence[Cell], model: str, *, include_outputs: bool = False, mode: str | None = None
) -> CellsResult:
    info = registry.resolve(model)
    requests = [cell_request(c, model, include_outputs) for c in cells]
    (api_frame, frame_exact) = await counter.aframe(model, mode)
    from .backends import offline

    offline_frame = offline.frame_tokens(info)
    results = await asyncio.gather(*(counter.acount(r, mode) for r in requests if r is not None))
    it = iter(results)
    counts: list[CellCount] = []
    reasons: list[str] = []
    retry: list[float] = []
    for cell, req in zip(cells, requests, strict=True):
        if req is None:
            counts.append(CellCount(cell.id, 0, True, cell.cell_type, cell.index))
            continue
        res = next(it)
        # subtract the frame measured the same way as this count, so exact and estimated cells add up; an
        # exact count less an estimated frame is an estimate
        cell_exact = res.exact and frame_exact
        frame = api_frame if cell_exact else offline_frame
        why = res.reason if not res.exact else (None if cell_exact else "the request frame is an offline estimate")
        counts.append(CellCount(cell.id, max(0, res.input_tokens - frame), cell_exact, cell.cell_type, cell.index, why))
        if why:
            reasons.append(why)
        if res.retry_after:
            retry.append(res.retry_after)
    exact = frame_exact and all(c.exact for c in counts)
    frame = api_frame if frame_exact else offline_frame
    by_type: dict[str, int] = {}
    for c in counts:
        by_type[c.cell_type] = by_type.get(c.cell_type, 0) + c.tokens
    total = frame + sum(c.tokens for c in counts)
    reason = None
    if not exact:
        reason = reasons[0] if reasons else ("offline mode" if mode == "offline" else "estimate")
        if len(set(reasons)) > 1:
            reason = f"{reason} (and {len(set(reasons)) - 1} other reason(s))"
    return CellsResult(
        model=model,
        frame=frame,
        cells=counts,
        exact=exact,
        reason=reason,
        context_window=info.context_window,
        cost_usd=info.cost_usd(total),
        display_name=info.display_name,
        retry_after=max(retry) if retry else None,
        by_type=by_type,
    )


def count_cells(counter: Counter, cells: Sequence[Cell], model: str, **kwargs: Any) -> CellsResult:
    return counter.run(acount_cells(counter, cells, model, **kwargs))
