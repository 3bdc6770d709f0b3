"""Memos bounded by the bytes they hold, for caches that live as long as the server: ``bounded_by_size``, an LRU
memo of a function of one big string or bytes argument (decoded attachments, PDF pages), and ``ByteBoundedCache``,
a two-generation dict for hot paths (token pieces, image tiles)."""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from functools import wraps
from typing import Any, NamedTuple, TypeVar


class ByteBoundedCache:
    """A memo holding at most about ``max_bytes`` of keys: two generations of dicts, the
    newer one filled until it holds half the budget, then the older one dropped. Lookups promote, so
    what keeps being used survives a turnover; no per-hit bookkeeping beyond a dict lookup."""

    __slots__ = ("_new", "_new_bytes", "_old", "entry", "half")

    def __init__(self, max_bytes: int, entry_bytes: int = 64) -> None:
        """``entry_bytes``: what an entry costs beyond its key (dict slot, value)."""
        self.half = max(1, max_bytes // 2)
        self.entry = entry_bytes
        self._new: dict[Any, Any] = {}
        self._old: dict[Any, Any] = {}
        self._new_bytes = 0

    def get(self, key: Any) -> Any:
        hit = self._new.get(key)
        if hit is None:
            hit = self._old.get(key)
            if hit is not None:
                self.put(key, hit)
        return hit

    def recall(self, key: Any) -> Any:
        """``get`` for a caller that has already missed in ``_new`` (hot loops look there inline)."""
        hit = self._old.get(key)
        if hit is not None:
            self.put(key, hit)
        return hit

    def put_ascii(self, key: str, value: Any) -> None:
        """``put`` of an ASCII str key, measured without asking: a compact str of n characters is
        49 + n bytes (CPython), and this is the hot path of a cold count."""
        self._new[key] = value
        self._new_bytes += 49 + len(key) + self.entry
        if self._new_bytes > self.half:
            self._old, self._new, self._new_bytes = self._new, {}, 0

    def put(self, key: Any, value: Any, size: int | None = None) -> None:
        """``size``: the key's bytes when it is not a str (a str key is measured)."""
        self._new[key] = value
        # values that grow with the key (streams) are paid for by the owner halving the budget
        self._new_bytes += (sys.getsizeof(key) if size is None else size) + self.entry
        if self._new_bytes > self.half:
            self._old, self._new, self._new_bytes = self._new, {}, 0

    def clear(self) -> None:
        self._new, self._old, self._new_bytes = {}, {}, 0

    def __len__(self) -> int:
        return len(self._new) + len(self._old)


K = TypeVar("K", str, bytes)
V = TypeVar("V")


def bounded_by_size(budget: int) -> Callable[[Callable[[K], V]], Callable[[K], V]]:
    """An LRU memo for functions of one big ``str``/``bytes`` argument, bounded by the bytes it keeps alive
    (argument plus a bytes result) rather than by a number of entries: a long-lived server seeing many
    attached images must stay small, while the same files re-checked on every recount stay cheap."""

    def decorate(fn: Callable[[K], V]) -> Callable[[K], V]:
        entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        lock = threading.Lock()
        used = hits = misses = 0

        @wraps(fn)
        def memo(arg: K) -> V:
            nonlocal used, hits, misses
            with lock:
                hit = entries.get(arg)
                if hit is not None:
                    entries.move_to_end(arg)
                    hits += 1
                    return hit[0]
                misses += 1
            value = fn(arg)  # errors are not cached: they are cheap to find again
            weight = len(arg) + (len(value) if isinstance(value, (bytes, str)) else 0)
            if weight <= budget:
                with lock:
                    if arg not in entries:
                        entries[arg] = (value, weight)
                        used += weight
                    while used > budget:
                        _, (_, w) = entries.popitem(last=False)
                        used -= w
            return value

        def cache_info() -> CacheInfo:
            with lock:
                return CacheInfo(hits, misses, len(entries), used)

        def known(arg: K) -> bool:
            """Whether ``arg``'s value is memoised (asking costs nothing, unlike calling)."""
            with lock:
                return arg in entries

        memo.cache_info = cache_info  # type: ignore[attr-defined]
        memo.known = known  # type: ignore[attr-defined]
        return memo

    return decorate


class CacheInfo(NamedTuple):
    hits: int
    misses: int
    entries: int
    bytes: int
