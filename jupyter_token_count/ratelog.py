"""Warnings that can repeat (every write to a broken cache fails; every forged value read is another) logged once
per kind and interval, with how many were held back: a log that says something once instead of 618 times."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable


class RateLimitedLog:
    """``warning(kind, msg, *args)`` logs the first of its kind at once, then at most once every ``every``
    seconds, saying how many of that kind were not logged in between."""

    def __init__(
        self, logger: logging.Logger, every: float = 300.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.logger = logger
        self.every = every
        self._clock = clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def warning(self, kind: str, msg: str, *args: object) -> bool:
        """Log (True) or count (False) one occurrence of ``kind``."""
        now = self._clock()
        with self._lock:
            last = self._last.get(kind)
            if last is not None and now - last < self.every:
                self._held[kind] = self._held.get(kind, 0) + 1
                return False
            held = self._held.pop(kind, 0)
            self._last[kind] = now
        if held and last is not None:
            msg += f" ({held} more like this in the last {now - last:.0f}s, not logged)"
        self.logger.warning(msg, *args)
        return True
