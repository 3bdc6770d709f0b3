"""One rate limiter per process (per server for the server extension): a requests-per-minute token
bucket that a 429's ``retry-after`` can pause. It never blocks on its own: callers decide whether to
wait (api mode) or to answer with an estimate now (auto mode)."""

from __future__ import annotations

import threading
import time


class RateLimiter:
    def __init__(self, rpm: int, clock: object = time.monotonic) -> None:
        if rpm <= 0:
            raise ValueError("rpm must be positive")
        self.rpm = rpm
        self._clock = clock  # type: ignore[assignment]
        self._capacity = float(rpm)
        self._tokens = float(rpm)
        self._rate = rpm / 60.0  # tokens per second
        self._stamp = self._now()
        self._paused_until = 0.0
        self._lock = threading.Lock()
        self.throttled = 0  # requests answered without an upstream call because of the limit

    def _now(self) -> float:
        return self._clock()  # type: ignore[operator,no-any-return]

    def _refill(self, now: float) -> None:
        self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now

    def try_acquire(self) -> float:
        """Take one request slot. Returns 0.0 when granted, else the seconds until one will be free."""
        with self._lock:
            now = self._now()
            if now < self._paused_until:
                return self._paused_until - now
            self._refill(now)
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) / self._rate

    def pause(self, seconds: float) -> None:
        """The API said to wait (429 ``retry-after``): no request leaves before then."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._now() + max(0.0, seconds))

    def note_throttled(self) -> None:
        with self._lock:
            self.throttled += 1

    def state(self) -> dict[str, object]:
        with self._lock:
            now = self._now()
            self._refill(now)
            paused = max(0.0, self._paused_until - now)
            return {
                "rpm": self.rpm,
                "available": int(self._tokens),
                "paused_for": round(paused, 3),
                "throttled": paused > 0 or self._tokens < 1.0,
                "throttled_requests": self.throttled,
            }
