"""The interface between the counter and a level shared by several processes (a hub's Redis, ``hub.py``).

The counter knows nothing of Redis: it asks this interface for a count another server already has, for a
slot of the shared rate budget, and to make one upstream call for the hub (for the servers of one key).
Every method degrades on its own: when the shared level is unavailable it answers "nothing shared" (None, or
calling ``fetch`` itself), never raises, so the counter goes on with its local cache and limiter.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol


class SharedLevel(Protocol):
    """Everything shared belongs to a credential: the counter binds the API key it uses (``bind``), and every
    method acts within that key's namespace, so servers with the same key share counts, single-flight and the
    rate budget, and servers with different keys share nothing and cannot find each other's entries."""

    def bind(self, credential: Callable[[], str | None]) -> None:
        """The API key in use, asked at each call (None: nothing is shared)."""
        ...

    async def get(self, key: str) -> int | None:
        """The exact count stored under this cache key by any server, or None (a miss, or unavailable)."""
        ...

    async def put(self, key: str, n: int) -> None:
        """Share an exact count (an API answer, never an estimate)."""
        ...

    async def acquire(self, reserve: float) -> float | None:
        """One slot of the shared rate budget, leaving ``reserve`` of it to foreground requests: 0.0 when
        granted, the seconds until one may be free when not, None when the shared budget is unavailable
        (the local limiter then decides alone)."""
        ...

    async def rate_limited(self, pause: float) -> None:
        """The API answered 429: every server pauses ``pause`` seconds and slows down."""
        ...

    async def single_flight(self, key: str, fetch: Callable[[], Awaitable[int]], wait_limit: float) -> tuple[int, bool]:
        """One server of the hub calls ``fetch`` for this key; the others wait for its answer (at most
        ``wait_limit`` seconds, then fetch themselves). Returns the count and whether it came from another
        server."""
        ...

    def state(self) -> dict[str, Any]:
        """For ``GET status``: whether sharing works now, and why not."""
        ...
