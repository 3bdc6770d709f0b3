"""A JupyterHub's shared level on Redis (redis-py asyncio): one count cache, one rate budget and one
upstream call per distinct request for all the single-user servers of a hub.

- Counts: ``{ns}:count:{cache key}`` → the exact count, with a TTL. The cache key is the counter's (sha256 of
  the API origin, betas, model and canonical JSON: servers counting at different origins share nothing), so
  Redis holds hashes and numbers only, never a prompt; the API key never goes there.
- Rate budget: a sliding-window log (a sorted set of grant times, in a Lua script, so atomic across
  servers) that never grants more than ``rpm`` requests in any 60 s, with the local limiter's priorities:
  background work only takes a slot while ``reserve`` of the window stays free. A 429 seen by any server
  writes a shared pause (its ``retry-after``) and halves the shared rate, which grows back linearly.
- Single-flight: ``SET NX PX`` on ``{ns}:lock:{cache key}``, renewed while held; the other servers poll the
  count key and, past their own deadline, answer with the estimate (the counter's deadline does that).

Redis never stands between a user and an answer: every call has a short timeout; the first failure marks
Redis unavailable, logs ONE warning and makes every call answer "nothing shared" at once (the local cache
and limiter go on alone); a probe is retried with exponential backoff, and success logs the reconnection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .config import ENV_REDIS_URL
from .limiter import MAX_PAUSE

log = logging.getLogger(__name__)
T = TypeVar("T")

__all__ = ["ENV_REDIS_URL", "HubSettings", "RedisHub", "check_url", "safe_url"]
SCHEMES = ("redis", "rediss", "unix")
#: a counted value beyond this is not a count (a foreign or corrupted key): ignored
MAX_COUNT = 1 << 40
#: after a failure, the first probe waits this long, doubling up to BACKOFF_MAX (seconds)
BACKOFF_MIN = 1.0
BACKOFF_MAX = 30.0
#: consecutive timeouts that make Redis unavailable (one alone may be this server's own event loop lagging
#: under load; a refused or closed connection counts at once)
TIMEOUTS_TO_DOWN = 3

# KEYS: log (sorted set of grants), state (hash); ARGV: rpm, window ms, reserve, member, recover ms.
# Returns {granted 0/1, wait ms, grants in the window}. Redis's own clock: one clock for all servers.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rpm, window, reserve, recover = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[5])
local st = redis.call('HMGET', KEYS[2], 'paused_until', 'cut_limit', 'cut_at')
local paused = tonumber(st[1]) or 0
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local used = redis.call('ZCARD', KEYS[1])
if now < paused then return {0, paused - now, used, 1} end
local limit = rpm
if st[2] then limit = math.min(rpm, tonumber(st[2]) + (now - tonumber(st[3])) * rpm / recover) end
local allowed = math.floor(limit * (1 - reserve) + 1e-9)
if used < allowed then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], window * 2)
  return {1, 0, used + 1}
end
if allowed < 1 then return {0, 1000, used} end
local idx = used - allowed
local oldest = redis.call('ZRANGE', KEYS[1], idx, idx, 'WITHSCORES')
local wait = tonumber(oldest[2]) + window - now
if wait < 1 then wait = 1 end
return {0, wait, used}
"""

# KEYS: state; ARGV: pause ms, rpm, recover ms. Several servers hit by the same burst of 429s halve once.
_RATE_LIMITED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local pause, rpm, recover = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local st = redis.call('HMGET', KEYS[1], 'paused_until', 'cut_limit', 'cut_at')
local paused = math.max(tonumber(st[1]) or 0, now + pause)
redis.call('HSET', KEYS[1], 'paused_until', paused)
if not st[3] or now - tonumber(st[3]) > 1000 then
  local limit = rpm
  if st[2] then limit = math.min(rpm, tonumber(st[2]) + (now - tonumber(st[3])) * rpm / recover) end
  redis.call('HSET', KEYS[1], 'cut_limit', tostring(math.max(1, limit / 2)), 'cut_at', now)
end
redis.call('PEXPIRE', KEYS[1], math.max(paused - now, recover) + 60000)
return paused - now
"""

# only the holder (its random token) extends or deletes a lock
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
_EXTEND = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"


class _Down(Exception):
    """Redis is unavailable for this call (already reported)."""


def check_url(url: str) -> str | None:
    """Why ``url`` cannot be a Redis URL, or None when it looks usable."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 — raises on a port that is not a number
    except ValueError as exc:
        return f"redis_url is not a URL ({exc})"
    if parts.scheme not in SCHEMES:
        got = parts.scheme + "://" if parts.scheme else "nothing"
        return f"redis_url must start with redis://, rediss:// or unix://, not {got}"
    if parts.scheme != "unix" and not parts.hostname:
        return "redis_url names no host (redis://host:6379/0)"
    return None


def safe_url(url: str) -> str:
    """The URL without its credentials, for logs and ``GET status``."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        if parts.username or parts.password:
            host = f"***@{host}"
        return urlunsplit((parts.scheme, host, parts.path, "", ""))
    except ValueError:
        return "(invalid URL)"


@dataclass(frozen=True)
class HubSettings:
    url: str
    #: seconds a shared count lives in Redis (renewed by nothing: a count of the same bytes never changes)
    ttl: float = 7 * 86400
    #: requests per minute for the whole hub (the organisation's count_tokens limit, less some headroom)
    rpm: int = 500
    #: key prefix: hubs (or organisations, whose rate limits differ) sharing one Redis use different ones
    namespace: str = "jupyter-token-count"
    #: seconds any one Redis call may take before Redis counts as unavailable
    op_timeout: float = 0.5
    #: a single-flight lock's life (ms), renewed every third of it while its holder works
    lock_ms: int = 10_000
    recover_seconds: float = 120.0
    #: the sliding window of the shared budget: a minute, plus a margin for the time between a grant and the
    #: request reaching the API (a loaded server takes a while), so no minute *at the API* sees more than rpm
    window_seconds: float = 62.0

    def __repr__(self) -> str:  # never the password
        return (
            f"HubSettings(url={safe_url(self.url)!r}, rpm={self.rpm}, ttl={self.ttl:g}, namespace={self.namespace!r})"
        )


class RedisHub:
    """The ``SharedLevel`` on Redis. Use it from one event loop (the counter's)."""

    def __init__(self, settings: HubSettings, logger: logging.Logger | None = None) -> None:
        self.settings = settings
        self.log = logger or log
        ns = settings.namespace
        self._count_prefix = f"{ns}:count:"
        self._lock_prefix = f"{ns}:lock:"
        self._rate_keys = [f"{ns}:rate:log", f"{ns}:rate:state"]
        self._client: aioredis.Redis | None = None
        self._scripts: dict[str, Any] = {}
        self.error: str | None = check_url(settings.url)
        self.available = self.error is None
        self.down_since: float | None = None if self.available else time.time()
        self._retry_at = math.inf if self.error else 0.0  # an invalid URL never becomes valid
        self._backoff = BACKOFF_MIN
        self._probing = False
        self.hits = 0
        self.misses = 0
        self.writes = 0
        self.remote_results = 0  # counts another server fetched while this one waited
        self.waits = 0  # upstream calls this server did not make because another server was making them
        self.grants = 0
        self.denials = 0
        self.window_requests: int | None = None  # grants in the last 60 s, hub-wide, at the last acquire
        self.paused_until = 0.0  # time.monotonic() of the shared pause's end, as last seen
        self.failures = 0
        self._timeouts = 0
        self._reconnector: asyncio.Task[None] | None = None
        if self.error:
            self.log.warning("jupyter-token-count: not sharing counts through Redis: %s", self.error)

    # -- connection and health ----------------------------------------------------------------------
    def _redis(self) -> aioredis.Redis:
        if self._client is None:
            t = self.settings.op_timeout
            # one immediate retry, on a new connection: an idle pool's connections to a Redis that restarted are
            # dead without our knowing; more is our own backoff's job (and wait_for bounds the whole call)
            self._client = aioredis.Redis.from_url(
                self.settings.url,
                socket_timeout=t,
                socket_connect_timeout=t,
                retry=Retry(NoBackoff(), 1),
                decode_responses=True,
                max_connections=64,
            )
            for name, src in (
                ("acquire", _ACQUIRE),
                ("rate_limited", _RATE_LIMITED),
                ("release", _RELEASE),
                ("extend", _EXTEND),
            ):
                self._scripts[name] = self._client.register_script(src)
        return self._client

    def _describe(self, exc: BaseException) -> str:
        text = str(exc) or type(exc).__name__
        parts = urlsplit(self.settings.url)
        for secret in (parts.password, parts.username):
            if secret:
                text = text.replace(secret, "***")
        if isinstance(exc, (asyncio.TimeoutError, TimeoutError)) and not str(exc):
            text = f"no answer within {self.settings.op_timeout:g}s"
        return f"{type(exc).__name__}: {text}"[:300]

    async def _run(self, op: Callable[[aioredis.Redis], Awaitable[T]]) -> T:
        """One Redis call under the timeout; raises ``_Down`` (already logged) when Redis is unavailable."""
        probe = False
        if not self.available:
            if self._probing or time.monotonic() < self._retry_at:
                raise _Down
            self._probing = probe = True  # one probe at a time; the others go on locally meanwhile
        try:
            result = await asyncio.wait_for(op(self._redis()), self.settings.op_timeout)
        except (RedisError, OSError, asyncio.TimeoutError, ValueError) as exc:
            self._failed(exc)
            raise _Down from None
        finally:
            if probe:
                self._probing = False
        self._timeouts = 0
        if not self.available:
            self.log.info(
                "jupyter-token-count: Redis at %s is back after %.0fs; sharing counts and the rate budget again",
                safe_url(self.settings.url),
                time.time() - (self.down_since or time.time()),
            )
            self.available = True
            self.error = None
            self.down_since = None
            self._backoff = BACKOFF_MIN
        return result

    def _failed(self, exc: BaseException) -> None:
        self.failures += 1
        timeout = isinstance(exc, (asyncio.TimeoutError, TimeoutError, RedisTimeoutError))
        self._timeouts = self._timeouts + 1 if timeout else 0
        if self.available and timeout and self._timeouts < TIMEOUTS_TO_DOWN:
            return  # this call goes on without Redis; the next ones still try it
        if self._client is not None:
            # the pool's other connections are as dead as this one (a restarted Redis): start afresh
            old, self._client = self._client, None
            asyncio.get_running_loop().create_task(_close_quietly(old))
        self.error = self._describe(exc)
        if self.available:
            self.available = False
            self.down_since = time.time()
            self._backoff = BACKOFF_MIN
            # one warning per outage: every later failure is silent until Redis is back
            self.log.warning(
                "jupyter-token-count: Redis at %s unavailable (%s); going on with this server's own "
                "cache and rate limit, retrying in the background",
                safe_url(self.settings.url),
                self.error,
            )
            # reconnect even if no count asks for Redis meanwhile (status then tells the truth)
            self._reconnector = asyncio.get_running_loop().create_task(self._reconnect())
        else:
            self._backoff = min(BACKOFF_MAX, self._backoff * 2)
        self._retry_at = time.monotonic() + self._backoff

    async def _reconnect(self) -> None:
        while not self.available:
            await asyncio.sleep(max(0.05, self._retry_at - time.monotonic()))
            with contextlib.suppress(_Down):
                await self._run(lambda r: r.ping())

    # -- counts -------------------------------------------------------------------------------------
    async def get(self, key: str) -> int | None:
        try:
            raw = await self._run(lambda r: r.get(self._count_prefix + key))
        except _Down:
            return None
        n = _as_count(raw)
        if n is None:
            self.misses += 1
        else:
            self.hits += 1
        return n

    async def put(self, key: str, n: int) -> None:
        try:
            await self._run(lambda r: r.set(self._count_prefix + key, int(n), px=int(self.settings.ttl * 1000)))
            self.writes += 1
        except _Down:
            pass

    # -- the shared rate budget ---------------------------------------------------------------------
    async def acquire(self, reserve: float) -> float | None:
        s = self.settings
        member = secrets.token_hex(8)  # unique: two grants in the same millisecond are two entries
        try:
            granted, wait_ms, used, *paused = await self._run(
                lambda r: self._scripts["acquire"](
                    keys=self._rate_keys,
                    args=[
                        s.rpm,
                        int(s.window_seconds * 1000),
                        max(0.0, min(1.0, reserve)),
                        member,
                        int(s.recover_seconds * 1000),
                    ],
                    client=r,
                )
            )
        except _Down:
            # down: the local limiter decides alone; one failed call while Redis still counts as up: no grant
            # (the script may have run without us hearing), ask again shortly
            return None if not self.available else 0.05
        self.window_requests = int(used)
        if paused:
            self.paused_until = time.monotonic() + int(wait_ms) / 1000
        if int(granted):
            self.grants += 1
            return 0.0
        self.denials += 1
        return max(0.001, int(wait_ms) / 1000)

    async def rate_limited(self, pause: float) -> None:
        s = self.settings
        pause = MAX_PAUSE if not math.isfinite(pause) else min(MAX_PAUSE, max(0.0, pause))
        try:
            left = await self._run(
                lambda r: self._scripts["rate_limited"](
                    keys=self._rate_keys[1:], args=[int(pause * 1000), s.rpm, int(s.recover_seconds * 1000)], client=r
                )
            )
            self.paused_until = time.monotonic() + int(left) / 1000
        except _Down:
            pass

    # -- one upstream call per request for the whole hub --------------------------------------------
    async def single_flight(self, key: str, fetch: Callable[[], Awaitable[int]], wait_limit: float) -> tuple[int, bool]:
        lock = self._lock_prefix + key
        token = secrets.token_hex(12)
        loop = asyncio.get_running_loop()
        give_up = loop.time() + wait_limit
        delay = 0.02
        waited = False
        while True:
            try:
                got = await self._run(lambda r: r.set(lock, token, nx=True, px=self.settings.lock_ms))
            except _Down:
                return await fetch(), False
            if got:
                return await self._hold(key, lock, token, fetch)
            # another server is asking the API for this very request: its answer will be in the count key
            if not waited:
                waited = True
                self.waits += 1
            n = await self.get(key)
            if n is not None:
                self.remote_results += 1
                return n, True
            if loop.time() >= give_up:
                return await fetch(), False  # too long: ask ourselves (the lock holder may be stuck)
            await asyncio.sleep(delay)
            delay = min(0.2, delay * 1.5)

    async def _hold(self, key: str, lock: str, token: str, fetch: Callable[[], Awaitable[int]]) -> tuple[int, bool]:
        try:
            # the holder before us may have stored its answer between our miss and our lock
            n = await self.get(key)
            if n is not None:
                self.remote_results += 1
                return n, True
            keeper = asyncio.get_running_loop().create_task(self._keep(lock, token))
            try:
                n = await fetch()
            finally:
                keeper.cancel()
            await self.put(key, n)  # before the release: whoever locks next finds the answer
            return n, False
        finally:
            with contextlib.suppress(_Down):  # else the lock expires by itself
                await self._run(lambda r: self._scripts["release"](keys=[lock], args=[token], client=r))

    async def _keep(self, lock: str, token: str) -> None:
        """Renew the lock while its fetch waits for a rate slot or the API (a dead server's lock expires)."""
        ms = self.settings.lock_ms
        while True:
            await asyncio.sleep(ms / 3000)
            with contextlib.suppress(_Down):
                await self._run(lambda r: self._scripts["extend"](keys=[lock], args=[token, ms], client=r))

    # -- status -------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        paused = max(0.0, self.paused_until - time.monotonic())
        return {
            "enabled": True,
            "url": safe_url(self.settings.url),
            "namespace": self.settings.namespace,
            "connected": self.available,
            "error": self.error,
            "down_since": self.down_since,
            "rpm": self.settings.rpm,
            "window_requests": self.window_requests,
            "paused_for": round(paused, 3),
            "ttl_seconds": self.settings.ttl,
            "shared_hits": self.hits,
            "shared_misses": self.misses,
            "shared_writes": self.writes,
            "remote_results": self.remote_results,
            "waited_for_other_servers": self.waits,
            "rate_grants": self.grants,
            "rate_denials": self.denials,
            "failures": self.failures,
        }

    async def aclose(self) -> None:
        if self._reconnector is not None:
            self._reconnector.cancel()
        if self._client is not None:
            client, self._client = self._client, None
            with contextlib.suppress(RedisError, OSError):
                await client.aclose()


async def _close_quietly(client: aioredis.Redis) -> None:
    with contextlib.suppress(RedisError, OSError, asyncio.TimeoutError):
        await asyncio.wait_for(client.aclose(), 1.0)


def _as_count(raw: object) -> int | None:
    """A stored count, or None for a miss or anything that is not one (never trusted blindly)."""
    if raw is None:
        return None
    try:
        n = int(raw)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
    return n if 0 <= n < MAX_COUNT else None
