"""Issue 22: what a hub's Redis lets one user do to another. Everything shared belongs to an API key: users with
different keys share nothing and cannot tell whether a prompt was counted; a value written by anyone but a
holder of the key (who only has the Redis URL) is ignored, logged once and counted again; a 429 on one key
pauses that key only, for at most a minute. And a ``redis_url`` that points at something that is not Redis
costs bounded memory. Real ``redis-server``, real sockets, the stand-in behind the real SDK."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from live_server import LiveServer
from not_redis import SHAPES, NotRedis
from redis_proc import RedisProc, available
from standin import StandIn, standin_count
from test_hub import Hub, hub, redis_server, req  # noqa: F401 -- fixtures shared with the hub tests

from jupyter_token_count.cache import MAX_TOKENS, CountCache
from jupyter_token_count.config import Settings
from jupyter_token_count.counter import Counter
from jupyter_token_count.hub import HubSettings, RedisHub, _Credential
from jupyter_token_count.limiter import MAX_PAUSE

pytestmark = pytest.mark.skipif(not available(), reason="redis-server is not installed (scripts/test.sh installs it)")

OTHER_KEY = "test-key-of-another-organisation-9876543210"


def _dump(redis_server: RedisProc) -> dict[str, object]:
    out: dict[str, object] = {}
    for key in redis_server.command("KEYS", "*"):
        kind = redis_server.command("TYPE", key)
        out[key] = (
            redis_server.command("GET", key)
            if kind == "string"
            else redis_server.command("HGETALL", key)
            if kind == "hash"
            else redis_server.command("ZRANGE", key, "0", "-1")
        )
    return out


def _count_keys(redis_server: RedisProc) -> list[str]:
    return sorted(redis_server.command("KEYS", "*:count:*"))


# -- namespaces -------------------------------------------------------------------------------------------
def test_users_with_different_keys_share_nothing_and_learn_nothing(hub: Hub, standin: StandIn, redis_server: RedisProc):
    standin.accept_key(OTHER_KEY)
    alice, alice_again, mallory = hub.server(), hub.server(), hub.server(_api_key=OTHER_KEY)
    secret = req("alice's private prompt: the merger with Initech closes on Friday")

    assert alice.count(secret).source == "api"
    assert alice_again.count(secret).source == "cache"  # the same key shares
    assert len(standin.count_requests()) == 1

    # mallory guesses the prompt: no oracle, her count is her own request, never a hit
    guess = mallory.count(secret)
    assert guess.source == "api" and guess.exact
    assert mallory.shared.state()["shared_hits"] == 0
    assert len(standin.count_requests()) == 2

    # with the Redis URL only: no key in Redis is the request's hash (a guess cannot be looked up), no value is
    # the count, and nothing is the API key or derived from it in the clear
    dump = _dump(redis_server)
    names = " ".join(dump)
    values = " ".join(map(str, dump.values()))
    assert alice.key(secret) not in names and mallory.key(secret) not in names
    n = standin_count(secret.body)
    for name in _count_keys(redis_server):
        masked = str(dump[name]).split(".")[0]
        assert masked not in (str(n), f"{n:x}") and int(masked, 16) != n  # masked, not the count in any base
    for key in (standin.api_key, OTHER_KEY):
        assert key not in names and key not in values
    # two namespaces, one per key, each with its own count, lock-free now, and its own rate log
    tags = {name.split(":")[1] for name in dump}
    assert len(tags) == 2
    assert len(_count_keys(redis_server)) == 2


def test_a_credential_is_a_keyed_hash():
    a, b = _Credential.of("key-a"), _Credential.of("key-b")
    assert a.tag != b.tag and len(a.tag) == 32 and "key-a" not in a.tag
    assert a == _Credential.of("key-a")  # the same key, the same namespace, on every server
    assert a.entry("k") != b.entry("k") and a.entry("k") != a.entry("l")
    sealed = a.seal(a.entry("k"), 1234)
    assert "1234" not in sealed  # masked
    assert a.open(a.entry("k"), sealed) == 1234
    assert a.open(a.entry("l"), sealed) is None  # moved to another entry
    assert b.open(a.entry("k"), sealed) is None  # read under another key
    assert a.open(a.entry("k"), a.seal(a.entry("k"), MAX_TOKENS + 1)) is None  # out of range, even if sealed
    for raw in (None, "1234", "999999999999", "", ".", "x.y", sealed + "0", 1234):
        assert a.open(a.entry("k"), raw) is None


# -- forged values ----------------------------------------------------------------------------------------
def test_forged_values_are_ignored_logged_once_and_counted_again(
    hub: Hub, standin: StandIn, redis_server: RedisProc, caplog: pytest.LogCaptureFixture
):
    a = hub.server()
    prompts = [req(f"prompt number {i} for the forgery test") for i in range(4)]
    for p in prompts:
        assert a.count(p).source == "api"
    names = _count_keys(redis_server)
    assert len(names) == 4
    genuine = redis_server.command("GET", names[0])
    # someone with the Redis URL overwrites every count: the old plain form, a made-up seal, another entry's
    # genuine value, and a value sealed under another key
    forged = [
        "999999999999",
        "5f5e0ff.0123456789abcdef0123456789abcdef",
        genuine,
        _Credential.of(OTHER_KEY).seal(names[3].rsplit(":", 1)[1], 7),
    ]
    for name, value in zip(names, forged, strict=True):
        redis_server.command("SET", name, value)

    b = hub.server()  # a second server of the same user: nothing in its memory
    standin.reset()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="test-hub"):
        results = [b.count(p) for p in prompts]
    assert all(r.exact and r.source == "api" for r in results)  # counted again, never the forged number
    assert [r.input_tokens for r in results] == [standin_count(p.body) for p in prompts]
    assert len(standin.count_requests()) == 4
    assert b.shared.state()["rejected_values"] >= 4  # each read of each (the lock holder reads again)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "does not check out" in warnings[0], warnings
    # the recount put genuine values back: a third server is served from Redis again
    c = hub.server()
    assert all(c.count(p).source == "cache" for p in prompts)


def test_an_absurd_count_sealed_with_the_right_key_is_still_refused(
    hub: Hub, standin: StandIn, redis_server: RedisProc
):
    """A holder of the same key (who can seal) still cannot make a count over the API's own bound believed."""
    a = hub.server()
    p = req("the count a colleague tampers with")
    a.count(p)
    (name,) = _count_keys(redis_server)
    entry = name.rsplit(":", 1)[1]
    redis_server.command("SET", name, _Credential.of(standin.api_key).seal(entry, 999_999_999_999))
    b = hub.server()
    got = b.count(p)
    assert got.exact and got.input_tokens == standin_count(p.body) and got.source == "api"
    assert got.cost_usd is not None and got.cost_usd < 1


# -- the rate pause ---------------------------------------------------------------------------------------
def test_a_429_on_one_key_pauses_that_key_only_and_for_at_most_a_minute(
    hub: Hub, standin: StandIn, redis_server: RedisProc
):
    standin.accept_key(OTHER_KEY)
    mallory, mallory_again, alice = hub.server(_api_key=OTHER_KEY), hub.server(_api_key=OTHER_KEY), hub.server()
    standin.fail_next(429, retry_after=300)
    hit = mallory.count(req("mallory's request that is rate limited"))
    assert not hit.exact and hit.retry_after is not None and hit.retry_after <= MAX_PAUSE == 60
    # her other server is paused too (same key, same organisation) ...
    paused = mallory_again.count(req("mallory again"))
    assert not paused.exact and paused.retry_after is not None and 50 < paused.retry_after <= 60
    # ... alice's key is not
    got = alice.count(req("alice is not paused by someone else's 429"))
    assert got.exact and got.source == "api"
    assert alice.shared.state()["paused_for"] == 0


def test_a_pause_written_into_redis_is_capped_and_spoiled_state_is_survived(
    hub: Hub, standin: StandIn, redis_server: RedisProc
):
    a = hub.server()
    a.count(req("before the vandalism"))
    (state_key,) = redis_server.command("KEYS", "*:rate:log")
    state_key = state_key.replace(":rate:log", ":rate:state")
    far = str(10**15)  # milliseconds: thirty thousand years
    redis_server.command("HSET", state_key, "paused_until", far, "cut_limit", "garbage", "cut_at", "more garbage")
    got = a.count(req("after the vandalism"))
    assert not got.exact and got.retry_after is not None and got.retry_after <= MAX_PAUSE
    state = a.shared.state()
    assert state["connected"] is True and state["paused_for"] <= MAX_PAUSE  # not an outage, a bounded pause


# -- a peer that is not Redis -----------------------------------------------------------------------------
@pytest.mark.parametrize("shape", list(SHAPES))
def test_a_peer_that_is_not_redis_is_marked_down_with_bounded_memory(
    shape: str, api_settings: Settings, standin: StandIn
):
    peer = NotRedis(shape).start()
    try:
        shared = RedisHub(HubSettings(url=peer.url, op_timeout=0.3), logging.getLogger("test-hub"))
        counter = Counter(replace(api_settings, data_dir=None), cache=CountCache(None), shared=shared)
        for i in range(5):
            assert counter.count(req(f"a count with a wrong redis_url {i}")).exact  # the counts go on
        state = shared.state()
        assert state["connected"] is False
        error = state["error"] or ""
        # random bytes fail in random ways (an error reply, a closed connection); a web server answers and closes,
        # which we may see as its answer or as a write to a closed socket: both mark it down
        if shape not in ("garbage", "http"):
            assert "does not answer as Redis does" in error, error
        assert error
        # few connections: marked down at once, then probed with backoff (memory: the real server's test below)
        assert peer.connections <= 10
    finally:
        peer.stop()


def _rss_mb(server: LiveServer) -> float:
    return server.rss_kb() / 1024


@pytest.fixture(scope="module")
def not_redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, NotRedis, StandIn]]:
    standin = StandIn().start()
    peer = NotRedis("huge bulk").start()
    try:
        with LiveServer(
            Path(tmp_path_factory.mktemp("not-redis")),
            standin.url,
            standin.api_key,
            redis_url=peer.url,
            redis_timeout=0.5,
        ) as server:
            yield server, peer, standin
    finally:
        peer.stop()
        standin.stop()


def test_a_real_server_pointed_at_a_streaming_peer_stays_small(not_redis_server: tuple[LiveServer, NotRedis, StandIn]):
    """The server of the issue: ``redis_url`` naming a port that streams a gigabyte reply. Before, each Redis
    call read for its whole timeout (a gigabyte a second on loopback), and the server grew by gigabytes."""
    server, peer, _ = not_redis_server
    before = _rss_mb(server)
    peak = before
    started = time.monotonic()
    i = 0
    while time.monotonic() - started < 8:
        status, reply = server.call("POST", "count", req(f"count {i} with a broken hub").body)
        assert status == 200 and reply["exact"], reply
        peak = max(peak, _rss_mb(server))
        i += 1
    status, st = server.call("GET", "status")
    assert st["hub"]["connected"] is False and "does not answer as Redis does" in st["hub"]["error"]
    assert peak - before < 64, f"the server grew from {before:.0f} MB to {peak:.0f} MB"
    assert peer.connections <= 10, f"{peer.connections} connections in 8 s: reconnects are not bounded"
