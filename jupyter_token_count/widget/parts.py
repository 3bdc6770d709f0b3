"""Attribution: how a count splits between the parts of a request (system, prompt, each file, tools,
framing). An estimate carries its own split; an exact total gets the estimator's split scaled to it."""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from dataclasses import dataclass, field

from ..counter import Counter
from ..request import CountRequest
from ..result import TokenCount


def _scale(groups: dict[str, int], total: int) -> dict[str, int]:
    """Scale part sizes to sum to ``total`` (largest remainder), keeping their proportions."""
    current = sum(groups.values())
    if current <= 0 or current == total:
        return dict(groups)
    raw = {k: v * total / current for k, v in groups.items()}
    out = {k: math.floor(v) for k, v in raw.items()}
    left = total - sum(out.values())
    for k in sorted(raw, key=lambda k: raw[k] - out[k], reverse=True)[: max(left, 0)]:
        out[k] += 1
    return out


_CONTENT = re.compile(r"^/messages/(\d+)/content(?:/(\d+))?")


def _part_group(path: str) -> str:
    """A JSON-pointer part of the estimator → a coarse group name."""
    if path.startswith("/system"):
        return "system"
    if path.startswith(("/tools", "/tool_overhead", "/tool_choice")):
        return "tools"
    if path == "/frame":
        return "frame"
    return path if path.startswith("/messages") else "other"


@dataclass
class _Parts:
    """Tokens per part, and whether the split is the estimator's own or scaled to an exact total."""

    tokens: dict[str, int]
    scaled: bool
    notes: list[str] = field(default_factory=list)


def _estimate_parts(
    res: TokenCount, req: CountRequest, counter: Counter, cache: OrderedDict[str, tuple[dict[str, int], list[str]]]
) -> _Parts:
    if not res.exact:
        parts = dict(res.detail.get("parts") or {})
        return _Parts(parts, scaled=False, notes=list(res.detail.get("notes") or []))
    key = req.identity
    hit = cache.get(key)
    if hit is None:
        est = counter.estimate(req, "attribution of an exact total")
        hit = (dict(est.detail.get("parts") or {}), list(est.detail.get("notes") or []))
        cache[key] = hit
        while len(cache) > 16:
            cache.popitem(last=False)
    return _Parts(_scale(hit[0], res.input_tokens), scaled=True)
