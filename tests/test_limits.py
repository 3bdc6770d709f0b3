"""The limiter (priorities, adaptation to 429s, capped pauses) and the counter's deadlines and time budget,
against the local stand-in through the real SDK."""

from __future__ import annotations

import math
import time
from dataclasses import replace

import pytest
from standin import StandIn

import jupyter_token_count.backends.api  # noqa: F401  (the SDK's import takes seconds: not what is timed here)
from jupyter_token_count.config import Settings
from jupyter_token_count.counter import Counter
from jupyter_token_count.errors import ApiTimeout
from jupyter_token_count.limiter import MAX_PAUSE, RateLimiter
from jupyter_token_count.request import build_request

M = "claude-sonnet-4-5"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_background_takes_slots_only_above_the_reserve():
    clock = Clock()
    lim = RateLimiter(8, clock=clock)
    granted = 0
    while lim.try_acquire(reserve=0.75) == 0:  # background keeps 6 of 8 for the foreground
        granted += 1
    assert granted == 2
    assert all(lim.try_acquire() == 0 for _ in range(6))  # the foreground still has its six
    assert lim.try_acquire() > 0


def test_a_429_halves_the_rate_and_it_grows_back():
    clock = Clock()
    lim = RateLimiter(60, clock=clock, recover_seconds=120)
    lim.on_rate_limited(2.0)
    assert lim.try_acquire() == pytest.approx(2.0)  # paused as told
    clock.now += 2.0
    # the bucket was emptied; during the pause it refilled at the halved rate (30/min: one slot in 2 s)
    assert lim.try_acquire() == 0
    assert lim.try_acquire() == pytest.approx(2.0, rel=0.1)  # (the rate has begun to grow back)
    assert lim.state()["current_rpm"] == pytest.approx(31, abs=1)
    clock.now += 120
    assert lim.state()["current_rpm"] == 60  # recovered over recover_seconds
    assert lim.state()["rate_limited_responses"] == 1


@pytest.mark.parametrize("seconds", [1e12, math.inf, float("nan"), -5.0])
def test_pauses_are_capped_and_finite(seconds: float):
    clock = Clock()
    lim = RateLimiter(10, clock=clock)
    lim.pause(seconds)
    paused = lim.state()["paused_for"]
    assert 0 <= paused <= MAX_PAUSE and math.isfinite(paused)


def _counter(settings: Settings, **kw: object) -> Counter:
    return Counter(replace(settings, **kw))


def test_auto_deadline_answers_with_a_pending_estimate_then_the_exact_count_lands(
    api_settings: Settings, standin: StandIn
):
    counter = _counter(api_settings, timeout=5.0)
    counter.count(build_request("warm the tokenizer", model=M), mode="offline")
    standin.hang_next(1.0)
    req = build_request("a prompt the API is slow to count", model=M)
    t0 = time.monotonic()
    res = counter.count(req, deadline=0.2)
    assert time.monotonic() - t0 < 0.9
    assert not res.exact and res.pending and "in progress" in (res.reason or "")
    assert counter.in_flight(req)
    time.sleep(1.3)
    again = counter.count(req, deadline=0.2)
    assert again.exact and again.source == "cache" and len(standin.count_requests()) == 1


def test_retries_share_one_time_budget(api_settings: Settings, standin: StandIn):
    counter = _counter(api_settings, timeout=0.6, max_retries=2)
    standin.hang_next(2.0, times=3)
    t0 = time.monotonic()
    with pytest.raises(ApiTimeout):
        counter.count(build_request("hanging", model=M), mode="api")
    assert time.monotonic() - t0 < 1.2  # not 3 × 0.6 s
    res = _counter(api_settings, timeout=0.6, max_retries=2).count(build_request("hanging too", model=M))
    assert not res.exact  # auto mode: the estimate, with the reason
