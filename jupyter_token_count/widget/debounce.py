"""The debounced recount worker behind the panel and ``watch``: every edit bumps a generation number and
pushes a deadline out; one worker thread counts once the edits stop, and exits when idle."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import Settings
    from ..counter import Counter
    from ..result import TokenCount

log = logging.getLogger(__name__)

#: seconds after the last edit before a recount starts
DEBOUNCE = 0.3
#: an idle worker thread exits after this long (a new edit starts another)
IDLE_EXIT = 30.0
#: how long the text/plain fallback waits for a first count before showing an estimate
TEXT_WAIT = 0.5


def count_wait(settings: Settings) -> float:
    """How long ``wait()`` blocks by default: the time budget every try of one count shares, and a margin."""
    return settings.timeout + 5


class _BackgroundCount:
    """What the panel and ``Watch`` share: a count kept current by a ``_Debouncer``, its counter (the one
    passed in, else the process-wide one) and a way to wait for the count to catch up."""

    _sched: _Debouncer
    _counter: Counter | None
    _result: TokenCount | None

    def _active_counter(self) -> Counter:
        from ..api import get_counter

        return self._counter or get_counter()

    @property
    def result(self) -> TokenCount | None:
        """The ``TokenCount`` for the current content (waits for a pending recount); None if nothing to count."""
        self.wait()
        return self._result

    def wait(self, timeout: float | None = None) -> TokenCount | None:
        """Block until the count matches the current content (or ``timeout`` seconds pass)."""
        if timeout is None:
            timeout = count_wait(self._active_counter().settings)
        self._sched.wait_idle(timeout)
        return self._result


class _Debouncer:
    """Runs ``job(generation)`` on a worker thread once ``delay`` seconds pass without a ``poke``.

    ``lock`` is shared with the owner: a result is applied under it only while ``current(gen)``, and
    ``poke`` takes it too, so an edit and the application of an older answer can never interleave."""

    def __init__(self, job: Callable[[int], None], name: str) -> None:
        self.lock = threading.RLock()
        self._cv = threading.Condition(self.lock)
        self._job = job
        self._name = name
        self.gen = 0
        self._due: float | None = None
        self._busy = False
        self._closed = False
        self._thread: threading.Thread | None = None

    def poke(self, delay: float = DEBOUNCE) -> int:
        with self._cv:
            self.gen += 1
            if self._closed:
                return self.gen
            self._due = time.monotonic() + delay
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._cv.notify_all()
            return self.gen

    def current(self, gen: int) -> bool:
        return gen == self.gen and not self._closed

    @property
    def idle(self) -> bool:
        return self._due is None and not self._busy

    def in_worker(self) -> bool:
        return threading.current_thread() is self._thread

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._closed:
                    if self._due is None:
                        if not self._cv.wait(IDLE_EXIT) and self._due is None:
                            self._thread = None  # idle: exit; the next poke starts a new thread
                            return
                        continue
                    left = self._due - time.monotonic()
                    if left <= 0:
                        break
                    self._cv.wait(left)
                if self._closed:
                    self._thread = None
                    self._cv.notify_all()
                    return
                self._due = None
                self._busy = True
                gen = self.gen
            try:
                self._job(gen)
            except Exception:  # the job reports its own errors; this only guards the thread
                log.exception("token count refresh failed")
            finally:
                with self._cv:
                    self._busy = False
                    self._cv.notify_all()

    def wait_idle(self, timeout: float | None) -> bool:
        """Block until nothing is scheduled or running; False on timeout. Never blocks the worker itself."""
        if self.in_worker():
            return self.idle
        end = None if timeout is None else time.monotonic() + timeout
        with self._cv:
            while not self.idle and not self._closed:
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cv.wait(left)
            return True

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._due = None
            self._cv.notify_all()
