"""One rate limiter per process (per server for the server extension): a requests-per-minute token
bucket that a 429's ``retry-after`` can pause. It never blocks on its own: callers decide whether to
wait (api mode) or to answer with an estimate now (auto mode).

Two priorities share the bucket: foreground requests (a notebook's total, a count someone waits for)
may take any slot; background requests (exact per-cell counts) only take a slot while a reserve of the
bucket stays free for the foreground, so they use at most ``1 - reserve`` of the budget.

It adapts to the API: a 429 halves the request rate (and empties the bucket, so no burst follows), then
the rate grows back linearly to the configured cap over ``recover_seconds``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

#: the longest pause a 429's ``retry-after`` can impose (seconds); longer values are capped, not trusted. A rate
#: window is a minute, and the official SDK does not wait out a retry-after above 60 s either
MAX_PAUSE = 60.0


class RateLimiter:
    def __init__(self, rpm: int, clock: Callable[[], float] = time.monotonic, recover_seconds: float = 120.0) -> None:
        if rpm <= 0:
            raise ValueError("rpm must be positive")
        self.rpm = rpm
        self._clock = clock
        self._capacity = float(rpm)
        self._tokens = float(rpm)
        self._full_rate = rpm / 60.0  # tokens per second
        self._min_rate = min(self._full_rate, 1 / 60.0)  # never below one request a minute
        self._cut_rate = self._full_rate  # the rate right after the last 429
        self._cut_at = -math.inf
        self._recover = recover_seconds
        self._stamp = self._clock()
        self._paused_until = 0.0
        self._lock = threading.Lock()
        self.throttled = 0  # requests answered without an upstream call because of the limit
        self.rate_limited = 0  # 429s seen

    def _rate(self, now: float) -> float:
        grown = self._cut_rate + (now - self._cut_at) * (self._full_rate / self._recover)
        return min(self._full_rate, grown)

    def _refill(self, now: float) -> None:
        self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * self._rate(now))
        self._stamp = now

    def try_acquire(self, reserve: float = 0.0) -> float:
        """Take one request slot, leaving ``reserve`` (a fraction of the bucket) to other callers. Returns 0.0
        when granted, else the seconds until one will be free."""
        with self._lock:
            now = self._clock()
            if now < self._paused_until:
                return self._paused_until - now
            self._refill(now)
            need = 1.0 + reserve * self._capacity
            if self._tokens >= need:
                self._tokens -= 1.0
                return 0.0
            return (need - self._tokens) / self._rate(now)

    def refund(self) -> None:
        """Give back a slot taken by ``try_acquire`` but not used (another limiter, a hub's, said no)."""
        with self._lock:
            self._tokens = min(self._capacity, self._tokens + 1.0)

    def pause(self, seconds: float) -> None:
        """The API said to wait (429 ``retry-after``): no request leaves before then. Capped at MAX_PAUSE so
        that an absurd header cannot stop exact counting until a restart."""
        if not math.isfinite(seconds):
            seconds = MAX_PAUSE
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + min(MAX_PAUSE, max(0.0, seconds)))

    def on_rate_limited(self, retry_after: float | None) -> None:
        """A 429: pause as told, halve the rate and drop the burst; the rate then recovers gradually."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            self._cut_rate = max(self._min_rate, self._rate(now) / 2)
            self._cut_at = now
            self._tokens = 0.0
            self.rate_limited += 1
        self.pause(retry_after if retry_after is not None else 1.0)

    def note_throttled(self) -> None:
        with self._lock:
            self.throttled += 1

    def state(self) -> dict[str, object]:
        with self._lock:
            now = self._clock()
            self._refill(now)
            paused = max(0.0, self._paused_until - now)
            return {
                "rpm": self.rpm,
                "current_rpm": round(self._rate(now) * 60, 1),
                "available": int(self._tokens),
                "paused_for": round(paused, 3),
                "throttled": paused > 0 or self._tokens < 1.0,
                "throttled_requests": self.throttled,
                "rate_limited_responses": self.rate_limited,
            }
