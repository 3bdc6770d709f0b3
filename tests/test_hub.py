"""JupyterHub sharing through a real ``redis-server`` (started on a free port with its own directory, no
fake Redis): several counters, each with its own memory cache, limiter and event loop (as separate
single-user servers have), share one Redis; requests go to the local stand-in through the real SDK."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest
from redis_proc import RedisProc, available
from standin import StandIn, standin_count

from jupyter_token_count.cache import CountCache
from jupyter_token_count.config import Settings
from jupyter_token_count.counter import Counter
from jupyter_token_count.hub import HubSettings, RedisHub, check_url, safe_url
from jupyter_token_count.request import CountRequest

pytestmark = pytest.mark.skipif(not available(), reason="redis-server is not installed (scripts/test.sh installs it)")

M = "claude-sonnet-4-5"
PASSWORD = "hub-redis-secret-pw-5309"


def req(text: str, model: str = M) -> CountRequest:
    return CountRequest({"model": model, "messages": [{"role": "user", "content": text}]})


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisProc]:
    server = RedisProc(tmp_path / "redis", password=PASSWORD).start()
    yield server
    server.stop()


class Hub:
    """Counters sharing one Redis, like the single-user servers of a hub."""

    def __init__(self, settings: Settings, url: str, **hub: object) -> None:
        self.settings = settings
        self.url = url
        self.hub = hub
        self.counters: list[Counter] = []
        self.logger = logging.getLogger("test-hub")

    def server(self, **settings: object) -> Counter:
        shared = RedisHub(HubSettings(url=self.url, **self.hub), self.logger)  # type: ignore[arg-type]
        counter = Counter(replace(self.settings, data_dir=None, **settings), cache=CountCache(None), shared=shared)
        self.counters.append(counter)
        return counter


@pytest.fixture
def hub(api_settings: Settings, redis_server: RedisProc) -> Iterator[Hub]:
    h = Hub(api_settings, redis_server.url, op_timeout=0.3)
    yield h
    for counter in h.counters:  # no background work may outlive its test (and reach the next one's stand-in)
        counter.run(_stop(counter))


async def _stop(counter: Counter) -> None:
    counter._queue.clear()
    if counter._worker is not None:
        counter._worker.cancel()
    for task in list(counter._inflight.values()):
        task.cancel()
    assert isinstance(counter.shared, RedisHub)
    await counter.shared.aclose()


def _no_secrets_in_redis(redis_server: RedisProc, standin: StandIn, *texts: str) -> None:
    keys = redis_server.command("KEYS", "*")
    assert keys
    dump = " ".join(keys)
    for key in keys:
        kind = redis_server.command("TYPE", key)
        if kind == "string":
            dump += " " + str(redis_server.command("GET", key))
        elif kind == "hash":
            dump += " " + str(redis_server.command("HGETALL", key))
        elif kind == "zset":
            dump += " " + str(redis_server.command("ZRANGE", key, "0", "-1"))
    for secret in (standin.api_key, *texts):
        assert secret not in dump


def test_second_server_reuses_a_count_made_on_the_first(hub: Hub, standin: StandIn, redis_server: RedisProc):
    a, b = hub.server(), hub.server()
    text = "a prompt with a distinctive phrase: purple elephants"
    first = a.count(req(text))
    assert first.exact and first.source == "api"
    assert len(standin.count_requests()) == 1

    second = b.count(req(text))
    assert second.exact and second.source == "cache"
    assert second.input_tokens == first.input_tokens == standin_count(req(text).body)
    assert len(standin.count_requests()) == 1  # no upstream request from the second server
    assert b.shared.state()["shared_hits"] == 1
    assert b.count(req(text)).source == "cache"  # now from b's own memory: Redis is asked once
    assert b.shared.state()["shared_hits"] == 1
    # a different model is a different count
    assert b.count(req(text, "claude-opus-4-5")).source == "api"
    _no_secrets_in_redis(redis_server, standin, "purple elephants", "distinctive")
    ttl = int(redis_server.command("PTTL", next(k for k in redis_server.command("KEYS", "*:count:*"))))
    assert 0 < ttl <= 7 * 86400 * 1000


def test_three_servers_with_concurrent_identical_requests_make_one_upstream_call(hub: Hub, standin: StandIn):
    servers = [hub.server() for _ in range(3)]
    for i, s in enumerate(servers):  # warm: the SDK's import and connections must not stagger the arrivals
        s.count(req(f"warm-up {i}"))
    standin.reset()
    standin.delay = 0.4  # the first request stays in flight while the others arrive
    r = req("the same course notebook opened by a whole class at once")
    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(lambda i: servers[i % 3].count(r, "api"), range(12)))
    assert len(standin.count_requests()) == 1
    assert {x.input_tokens for x in results} == {standin_count(r.body)}
    assert all(x.exact for x in results)
    assert sum(s.shared.state()["remote_results"] for s in servers) >= 1  # served by another server's call


def test_the_shared_cap_holds_across_servers(hub: Hub, standin: StandIn):
    hub.hub["rpm"] = 6
    servers = [hub.server(rpm=1000) for _ in range(3)]  # each server alone would allow far more
    results = [servers[i % 3].count(req(f"distinct prompt number {i}")) for i in range(15)]
    assert len(standin.count_requests()) == 6  # within one minute: exactly the hub's budget, no more
    assert sum(x.exact for x in results) == 6
    late = results[-1]
    assert not late.exact and "rate limited" in (late.reason or "")
    assert servers[2].shared.state()["window_requests"] == 6
    assert sum(s.shared.state()["rate_denials"] for s in servers) == 9


def test_background_work_keeps_the_reserve_of_the_shared_budget(hub: Hub, standin: StandIn):
    hub.hub["rpm"] = 8
    a, b = hub.server(rpm=1000, background_share=0.25), hub.server(rpm=1000)
    a.run(_enqueue(a, [req(f"cell {i}") for i in range(6)]))
    _wait(lambda: len(standin.count_requests()) >= 2)
    time.sleep(0.3)
    assert len(standin.count_requests()) == 2  # a quarter of 8: background stops there
    # the foreground of another server still has the rest of the budget
    assert all(b.count(req(f"foreground {i}")).exact for i in range(6))
    assert not b.count(req("one too many")).exact
    assert len(standin.count_requests()) == 8


async def _enqueue(counter: Counter, requests: list[CountRequest]) -> int:
    return counter.enqueue_background(requests)


def _wait(cond, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def test_a_429_on_one_server_pauses_the_others(hub: Hub, standin: StandIn, redis_server: RedisProc):
    a, b = hub.server(), hub.server()
    standin.fail_next(429, retry_after=30)
    first = a.count(req("asked first"))
    assert not first.exact and first.retry_after == 30
    assert len(standin.count_requests()) == 1

    t0 = time.monotonic()
    other = b.count(req("asked on another server"))
    assert time.monotonic() - t0 < 1.0  # the estimate at once, not a wait
    assert not other.exact and other.retry_after is not None and 25 < other.retry_after <= 30
    assert len(standin.count_requests()) == 1  # b sent nothing: the pause is hub-wide
    state = b.shared.state()
    assert 25 < state["paused_for"] <= 30
    # and the hub's rate is halved (it grows back over two minutes)
    (state_key,) = redis_server.command("KEYS", "jupyter-token-count:*:rate:state")  # the key's namespace
    assert float(redis_server.command("HGET", state_key, "cut_limit")) == 250
    # and a server that joins later learns the pause as well
    assert not hub.server().count(req("a third server")).exact
    assert len(standin.count_requests()) == 1


def test_redis_killed_slow_and_back(
    hub: Hub, standin: StandIn, redis_server: RedisProc, caplog: pytest.LogCaptureFixture
):
    a, b = hub.server(), hub.server()
    assert a.count(req("before the outage")).source == "api"
    assert b.count(req("before the outage")).source == "cache"
    assert len(standin.count_requests()) == 1

    redis_server.stop()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="test-hub"):
        t0 = time.monotonic()
        for i in range(5):
            got = b.count(req(f"during the outage {i}"))
            assert got.exact and got.source == "api"  # b asks the API itself, with its own limiter
        assert a.count(req("before the outage")).source == "cache"  # the local cache goes on
        assert time.monotonic() - t0 < 5
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "test-hub"]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]  # one warning, not one per request
    assert "unavailable" in warnings[0].getMessage()
    assert PASSWORD not in caplog.text
    state = b.shared.state()
    assert state["connected"] is False and state["error"] and state["down_since"]
    assert PASSWORD not in str(state)

    # back on the same port, empty (restarted): sharing resumes by itself after the backoff, with no count
    # asking for it
    redis_server.start()
    with caplog.at_level(logging.INFO, logger="test-hub"):
        _wait(lambda: a.shared.state()["connected"] and b.shared.state()["connected"], 15)
    assert "back" in caplog.text
    n = len(standin.count_requests())
    assert a.count(req("after the outage")).source == "api"
    assert b.count(req("after the outage")).source == "cache"
    assert len(standin.count_requests()) == n + 1

    # slow: a Redis that takes connections but never answers costs one short timeout, then nothing
    redis_server.pause()
    try:
        t0 = time.monotonic()
        assert a.count(req("while redis hangs")).exact
        assert time.monotonic() - t0 < 3
        assert a.shared.state()["connected"] is False
        assert "TimeoutError" in (a.shared.state()["error"] or "")
    finally:
        redis_server.resume()


def test_a_full_redis_is_an_outage_too(hub: Hub, standin: StandIn, redis_server: RedisProc):
    a = hub.server()
    redis_server.command("CONFIG", "SET", "maxmemory-policy", "noeviction")
    redis_server.command("CONFIG", "SET", "maxmemory", "1")
    got = a.count(req("redis is full"))
    assert got.exact  # the count itself goes on
    state = a.shared.state()
    assert state["connected"] is False and "OutOfMemoryError" in (state["error"] or "")


def test_urls_and_passwords():
    assert check_url("redis://:pw@host:6379/0") is None
    assert check_url("rediss://user:pw@host/1") is None
    assert check_url("unix:///run/redis.sock") is None
    assert "must start with redis://" in (check_url("http://host:6379") or "")
    assert "no host" in (check_url("redis://") or "")
    assert "not a URL" in (check_url("redis://host:port/0") or "")
    assert safe_url("redis://user:pw@host:6379/0") == "redis://***@host:6379/0"
    assert "pw" not in repr(HubSettings(url="redis://:pw@host:6379/0"))


def test_an_invalid_url_only_disables_sharing(
    api_settings: Settings, standin: StandIn, caplog: pytest.LogCaptureFixture
):
    with caplog.at_level(logging.WARNING):
        shared = RedisHub(HubSettings(url="http://:topsecret@somewhere:6379"))
    assert "must start with redis://" in caplog.text and "topsecret" not in caplog.text
    counter = Counter(replace(api_settings, data_dir=None), cache=CountCache(None), shared=shared)
    assert counter.count(req("still counted")).exact
    assert shared.state()["connected"] is False and "topsecret" not in str(shared.state())


def test_a_server_waiting_on_another_answers_with_the_estimate_at_its_deadline(hub: Hub, standin: StandIn):
    a, b = hub.server(), hub.server()
    for i, s in enumerate((a, b)):
        s.count(req(f"warm {i}"))
        s.estimate(req("warm"))  # the offline tokenizer loads once, not within the deadline below
    standin.reset()
    standin.delay = 1.5
    r = req("a slow count started on the first server")
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(a.count, r)
        time.sleep(0.3)  # a holds the hub's lock now
        t0 = time.monotonic()
        waiting = b.count(r, deadline=0.3)
        assert time.monotonic() - t0 < 1.0
        assert not waiting.exact and waiting.pending
        assert first.result().exact
    # b's own wait goes on in the background and lands in its cache, still without a request of its own
    _wait(lambda: b.cached(r) is not None, 5)
    assert b.count(r).source == "cache"
    assert len(standin.count_requests()) == 1


def test_servers_counting_at_other_origins_share_nothing(
    hub: Hub, standin: StandIn, redis_server: RedisProc, tmp_path: Path
):
    a = hub.server()
    r = req("counted through one gateway")
    assert a.count(r).source == "api"
    other = StandIn(api_key=standin.api_key).start()
    try:
        b = hub.server(base_url=other.url)  # the same Redis, another API origin (a gateway, a proxy)
        assert b.count(r).source == "api" and len(other.count_requests()) == 1
        assert len(redis_server.command("KEYS", "*:count:*")) == 2  # one entry per origin
    finally:
        other.stop()


def test_a_count_with_context_editing_is_shared_with_its_count_before_the_edits(hub: Hub, standin: StandIn):
    from test_betas import CLEAR, TOOL, tool_loop

    from jupyter_token_count.request import build_request

    r = build_request({"model": M, "messages": tool_loop(), "tools": [TOOL], "context_management": {"edits": [CLEAR]}})
    a, b = hub.server(), hub.server()
    first = a.count(r)
    assert first.source == "api" and first.original_input_tokens is not None
    second = b.count(r)
    assert second.source == "cache" and len(standin.count_requests()) == 1
    assert (second.input_tokens, second.original_input_tokens) == (first.input_tokens, first.original_input_tokens)


def test_a_server_waiting_on_another_gets_the_count_before_the_edits_too(hub: Hub, standin: StandIn):
    from test_betas import CLEAR, TOOL, tool_loop

    from jupyter_token_count.request import build_request

    servers = [hub.server() for _ in range(3)]
    for i, s in enumerate(servers):  # warm: the SDK's import and connections must not stagger the arrivals
        s.count(req(f"warm-up {i}"))
    standin.reset()
    standin.delay = 0.4
    r = build_request({"model": M, "messages": tool_loop(3), "tools": [TOOL], "context_management": {"edits": [CLEAR]}})
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda i: servers[i % 3].count(r, "api"), range(6)))
    assert len(standin.count_requests()) == 1
    assert sum(s.shared.state()["remote_results"] for s in servers) >= 1
    assert {(x.input_tokens, x.original_input_tokens) for x in results} == {
        (results[0].input_tokens, standin_count(standin.count_requests()[0].json))
    }
