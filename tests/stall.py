"""How long a piece of work keeps every other thread of the process waiting: a heartbeat thread wakes every
millisecond and records the longest gap between two wakes. A C call that holds the GIL (NFC's sort of a long
run of marks, a regex over megabytes) shows as a gap as long as the call; pure-Python work, however long,
lets the heartbeat in every switch interval (5 ms). This is what a Jupyter server's event loop feels while
one of its threads counts."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class Measured(Generic[T]):
    result: T
    #: the longest time (s) the heartbeat thread could not run while the work ran
    longest_pause: float
    #: CPU seconds of the working thread (not disturbed by other processes on the machine)
    cpu: float
    wall: float


def measure(work: Callable[[], T]) -> Measured[T]:
    done = threading.Event()
    longest = [0.0]

    def heartbeat() -> None:
        last = time.perf_counter()
        while not done.is_set():
            time.sleep(0.001)
            now = time.perf_counter()
            longest[0] = max(longest[0], now - last)
            last = now

    beat = threading.Thread(target=heartbeat, daemon=True)
    beat.start()
    time.sleep(0.01)  # the heartbeat is running before the work starts
    cpu0, wall0 = time.thread_time(), time.perf_counter()
    try:
        result = work()
    finally:
        cpu, wall = time.thread_time() - cpu0, time.perf_counter() - wall0
        done.set()
        beat.join()
    return Measured(result, longest[0], cpu, wall)
