"""A time limit on an offline estimate, enforced from outside the thread that computes it.

An estimate is pure CPU work in whichever thread asked for it (a server's executor, a kernel, the CLI). Work
linear in the text can still be long (32 MB of newlines is minutes of tiling), and a thread cannot be
cancelled; so one watchdog thread raises ``EstimateTimeout`` *inside* the estimating thread when its deadline
passes (``PyThreadState_SetAsyncExc``), and the estimator answers with a rough figure that says so. The
exception is delivered between two bytecodes, which is prompt because no C call of the estimator runs long
(``normal.py`` keeps normalisation in short slices). It derives from ``BaseException`` so that no ``except
Exception`` on the way (ours or ctok's) mistakes it for a failure of its own.
"""

from __future__ import annotations

import ctypes
import heapq
import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class EstimateTimeout(BaseException):  # an interruption, not an error of the estimator
    """The estimate's deadline passed while it was being computed."""


def _raise_in(thread: int, exc: type[BaseException] | None) -> None:
    """Make ``exc`` pending in ``thread`` (None: withdraw what is pending and not delivered yet)."""
    arg = None if exc is None else ctypes.py_object(exc)  # None is NULL: withdraw
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread), arg)


class _Armed:
    """One limit. ``lock`` is the entry's own: the watchdog only ever *tries* it, so work that is finishing
    (and holds it) is never interrupted in its bookkeeping, and a lock left held by a late delivery belongs to
    an entry nobody uses again."""

    __slots__ = ("fired", "live", "lock", "thread")

    def __init__(self, thread: int) -> None:
        self.thread = thread
        self.live = True
        self.fired = False
        self.lock = threading.Lock()


class _Watchdog:
    """One daemon thread for every limit of the process: a heap of deadlines, each firing at most once."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Armed]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, deadline: float) -> _Armed:
        entry = _Armed(threading.get_ident())
        with self._cond:
            heapq.heappush(self._heap, (deadline, next(self._seq), entry))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="jupyter-token-count-watchdog", daemon=True)
                self._thread.start()
            self._cond.notify()
        return entry

    @staticmethod
    def disarm(entry: _Armed) -> None:
        entry.lock.acquire()
        entry.live = False
        if entry.fired:
            _raise_in(entry.thread, None)  # fired and perhaps not delivered yet (the work ended in between)
        entry.lock.release()

    def _run(self) -> None:
        with self._cond:
            while True:
                while self._heap and not self._heap[0][2].live:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                deadline, _, entry = self._heap[0]
                left = deadline - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue
                heapq.heappop(self._heap)
                if entry.lock.acquire(blocking=False):  # else the work is finishing now: let it
                    try:
                        if entry.live:
                            entry.fired = True
                            _raise_in(entry.thread, EstimateTimeout)
                    finally:
                        entry.lock.release()


_watchdog = _Watchdog()
_local = threading.local()


@contextmanager
def limit(deadline: float | None) -> Iterator[None]:
    """Run the body until ``deadline`` (``time.monotonic()``; None: no limit), else raise ``EstimateTimeout`` in
    it. A limit inside another in the same thread keeps the outer one (it is the caller's promise)."""
    if deadline is None or getattr(_local, "armed", False):
        yield
        return
    if deadline <= time.monotonic():
        raise EstimateTimeout
    _local.armed = True
    entry = _watchdog.arm(deadline)
    try:
        yield
    finally:
        try:
            _watchdog.disarm(entry)
        finally:  # even when the timeout lands in the bookkeeping above
            _local.armed = False
