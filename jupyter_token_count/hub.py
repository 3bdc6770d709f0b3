"""A JupyterHub's shared level on Redis (redis-py asyncio): one count cache, one rate budget and one
upstream call per distinct request for the single-user servers of a hub that use the same API key.

Everything in Redis belongs to a credential. Each API key gets a namespace, ``{ns}:{tag}:``, where ``tag`` is a
keyed hash of the key (HMAC-SHA256 of a fixed label, keyed by the API key: ``_Credential``), never the key:

- Counts: ``{ns}:{tag}:count:{entry}`` → a sealed value, with a TTL. ``entry`` is an HMAC of the counter's
  cache key (sha256 of the API origin, betas, model and canonical JSON: servers counting at different origins
  share nothing) under a key derived from the API key, so a name cannot be computed from a guessed prompt
  without the API key: nobody with another key (or only the Redis URL) can tell whether a
  given prompt was counted. The value is the count masked and authenticated (HMAC) under keys derived from
  the API key, and range checked as the API's answers are (``cache.MAX_TOKENS``): a forged, damaged or
  out-of-range value is ignored (logged once in five minutes), and the count is made again.
- Rate budget: a sliding-window log per credential (a sorted set of grant times, in a Lua script, so atomic
  across servers) that never grants more than ``rpm`` requests in any 60 s, with the local limiter's
  priorities: background work only takes a slot while ``reserve`` of the window stays free. The API's limit
  is per organisation and a key belongs to one organisation, so a credential never shares its budget with
  another's. A 429 seen by any server of the credential writes a pause (its ``retry-after``, at most
  ``limiter.MAX_PAUSE``) and halves that credential's rate, which grows back linearly.
- Single-flight: ``SET NX PX`` on ``{ns}:{tag}:lock:{entry}``, renewed while held; the other servers poll the
  count and, past their own deadline, answer with the estimate (the counter's deadline does that).

What someone who holds only the Redis URL can still do is deny service: delete or spoil entries (they are
counted again), hold locks (the others wait until their deadline), fill a rate log or write a pause (capped
when read). They cannot read a prompt, learn whether a prompt was counted, or have a wrong count believed.

Redis never stands between a user and an answer: every call has a short timeout; a failure marks Redis
unavailable, logs ONE warning and makes every call answer "nothing shared" at once (the local cache and
limiter go on alone); a probe is retried with exponential backoff, and success logs the reconnection. A peer
that is not Redis (a wrong port) is found out on its first reply: replies are parsed with size limits
(``MAX_REPLY_BYTES``), so memory stays bounded whatever it streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis._parsers import _AsyncRESP2Parser
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import InvalidResponse, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .cache import valid_count
from .config import ENV_REDIS_URL
from .limiter import MAX_PAUSE
from .ratelog import RateLimitedLog

log = logging.getLogger(__name__)
T = TypeVar("T")

__all__ = ["ENV_REDIS_URL", "HubSettings", "RedisHub", "check_url", "safe_url"]
SCHEMES = ("redis", "rediss", "unix")
#: the largest reply believed from Redis (ours are a few dozen bytes): a peer that sends more is not our Redis
MAX_REPLY_BYTES = 64 * 1024
#: the most elements of one reply (ours have four)
MAX_REPLY_ITEMS = 64
#: the label the per-key secrets are derived from (changing it orphans every stored count, harmlessly)
LABEL = b"jupyter-token-count hub v1"
#: after a failure, the first probe waits this long, doubling up to BACKOFF_MAX (seconds)
BACKOFF_MIN = 1.0
BACKOFF_MAX = 30.0
#: consecutive timeouts that make Redis unavailable (one alone may be this server's own event loop lagging
#: under load; a refused or closed connection counts at once)
TIMEOUTS_TO_DOWN = 3

# KEYS: log (sorted set of grants), state (hash); ARGV: rpm, window ms, reserve, member, recover ms, max pause ms.
# Returns {granted 0/1, wait ms, grants in the window}. Redis's own clock: one clock for all servers.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rpm, window, reserve, recover = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[5])
local st = redis.call('HMGET', KEYS[2], 'paused_until', 'cut_limit', 'cut_at')
-- what is stored is believed only within bounds: anyone with the URL can write it
local paused = math.min(tonumber(st[1]) or 0, now + tonumber(ARGV[6]))
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local used = redis.call('ZCARD', KEYS[1])
if now < paused then return {0, paused - now, used, 1} end
local limit = rpm
local cut, cut_at = tonumber(st[2]), tonumber(st[3])
if cut and cut_at then limit = math.min(rpm, math.max(1, cut) + math.max(0, now - cut_at) * rpm / recover) end
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

# KEYS: state; ARGV: pause ms, rpm, recover ms, max pause ms. Several servers hit by the same burst of 429s halve
# once.
_RATE_LIMITED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local pause, rpm, recover = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local st = redis.call('HMGET', KEYS[1], 'paused_until', 'cut_limit', 'cut_at')
local paused = math.max(math.min(tonumber(st[1]) or 0, now + tonumber(ARGV[4])), now + pause)
redis.call('HSET', KEYS[1], 'paused_until', paused)
local cut, cut_at = tonumber(st[2]), tonumber(st[3])
if not cut_at or now - cut_at > 1000 then
  local limit = rpm
  if cut and cut_at then limit = math.min(rpm, math.max(1, cut) + math.max(0, now - cut_at) * rpm / recover) end
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
class _Credential:
    """What the hub keeps of an API key: the tag of its namespace and two secrets, all derived from the key by
    HMAC-SHA256 (keyed by the API key, over a fixed label), so that none of them reveals the key."""

    tag: str
    names: bytes = b""
    values: bytes = b""

    @classmethod
    def of(cls, api_key: str) -> _Credential:
        root = hmac.new(api_key.encode(), LABEL, hashlib.sha256).digest()

        def derive(purpose: bytes) -> bytes:
            return hmac.new(root, purpose, hashlib.sha256).digest()

        return cls(derive(b"namespace").hex()[:32], derive(b"entry names"), derive(b"values"))

    def entry(self, cache_key: str) -> str:
        """An entry's name: without the API key, no guess of a prompt leads to it."""
        return hmac.new(self.names, cache_key.encode(), hashlib.sha256).hexdigest()[:40]

    def _mask(self, entry: str) -> int:
        return int.from_bytes(hmac.new(self.values, b"mask " + entry.encode(), hashlib.sha256).digest()[:8], "big")

    def _mac(self, entry: str, masked: str) -> str:
        return hmac.new(self.values, f"{entry}={masked}".encode(), hashlib.sha256).hexdigest()[:32]

    def seal(self, entry: str, n: int) -> str:
        """The stored form of a count: masked (its size is nobody else's business) and authenticated."""
        masked = f"{n ^ self._mask(entry):x}"
        return f"{masked}.{self._mac(entry, masked)}"

    def open(self, entry: str, raw: object) -> int | None:
        """The count in a stored value, or None when it is not one this credential sealed for this entry, or
        not a believable count."""
        if not isinstance(raw, str) or len(raw) > 80 or raw.count(".") != 1:
            return None
        masked, mac = raw.split(".")
        if not hmac.compare_digest(mac, self._mac(entry, masked)):
            return None
        try:
            n = int(masked, 16) ^ self._mask(entry)
        except ValueError:
            return None
        return n if valid_count(n) else None


class _BoundedParser(_AsyncRESP2Parser):
    """RESP2 replies of at most ``MAX_REPLY_BYTES`` and ``MAX_REPLY_ITEMS`` elements each: a peer that is not
    Redis (or a Redis that answers what we never ask) is refused before its reply is held in memory. Without
    this, a bulk header announcing a gigabyte is read to the end."""

    _left = MAX_REPLY_BYTES

    async def read_response(self, disable_decoding: bool = False) -> Any:
        self._left = MAX_REPLY_BYTES
        return await super().read_response(disable_decoding=disable_decoding)

    async def _readline(self) -> bytes:
        line = await super()._readline()
        self._spend(len(line) + 2)
        kind = line[:1]
        if kind in (b"$", b"*"):
            try:
                size = int(line[1:])
            except ValueError:
                raise InvalidResponse(f"not a Redis reply: {line[:40]!r}") from None
            if (kind == b"$" and size > self._left) or (kind == b"*" and size > MAX_REPLY_ITEMS):
                raise InvalidResponse(f"a reply of {size:,} {'bytes' if kind == b'$' else 'elements'}: not our Redis")
        return line

    async def _read(self, length: int) -> bytes:
        self._spend(length + 2)
        return await super()._read(length)

    def _spend(self, n: int) -> None:
        self._left -= n
        if self._left < 0:
            raise InvalidResponse(f"a reply over {MAX_REPLY_BYTES:,} bytes: not our Redis")


@dataclass(frozen=True)
class HubSettings:
    url: str
    #: seconds a shared count lives in Redis (renewed by nothing: a count of the same bytes never changes)
    ttl: float = 7 * 86400
    #: requests per minute for the servers of one API key (the organisation's count_tokens limit, less headroom)
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

    def __init__(
        self,
        settings: HubSettings,
        logger: logging.Logger | None = None,
        credential: Callable[[], str | None] | None = None,
    ) -> None:
        """``credential``: the API key in use, asked at each call (the counter binds its own, ``bind``)."""
        self.settings = settings
        self.log = logger or log
        self._warn = RateLimitedLog(self.log)
        self._credential = credential
        self._known: tuple[str, _Credential] | None = None
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
        self.window_requests: int | None = None  # grants in the last 60 s to this key's servers, at the last acquire
        self.paused_until = 0.0  # time.monotonic() of the shared pause's end, as last seen
        self.failures = 0
        self.rejected = 0  # stored values that did not check out (forged, damaged, out of range): ignored
        self._timeouts = 0
        self._reconnector: asyncio.Task[None] | None = None
        if self.error:
            self.log.warning("jupyter-token-count: not sharing counts through Redis: %s", self.error)

    # -- the credential ------------------------------------------------------------------------------
    def bind(self, credential: Callable[[], str | None]) -> None:
        self._credential = credential

    def _cred(self) -> _Credential | None:
        key = self._credential() if self._credential is not None else None
        if not key:
            return None  # no key, nothing shared
        known = self._known
        if known is None or not hmac.compare_digest(known[0], key):
            known = self._known = (key, _Credential.of(key))
        return known[1]

    def _prefix(self, cred: _Credential) -> str:
        return f"{self.settings.namespace}:{cred.tag}:"

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
                protocol=2,
                parser_class=_BoundedParser,
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
        if isinstance(exc, (InvalidResponse, ValueError)):  # a reply no Redis sends (a line over 64 KB is one)
            return f"the peer does not answer as Redis does ({type(exc).__name__}: {text[:100]})"
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
        cred = self._cred()
        if cred is None:
            return None
        entry = cred.entry(key)
        try:
            raw = await self._run(lambda r: r.get(f"{self._prefix(cred)}count:{entry}"))
        except _Down:
            return None
        n = cred.open(entry, raw)
        if n is None:
            self.misses += 1
            if raw is not None:
                self.rejected += 1
                self._warn.warning(
                    "rejected",
                    "jupyter-token-count: ignored a count in Redis at %s that does not check out under this API "
                    "key (forged, damaged or out of range); counting again",
                    safe_url(self.settings.url),
                )
        else:
            self.hits += 1
        return n

    async def put(self, key: str, n: int) -> None:
        cred = self._cred()
        if cred is None or not valid_count(n):
            return
        entry = cred.entry(key)
        value = cred.seal(entry, int(n))
        try:
            await self._run(
                lambda r: r.set(f"{self._prefix(cred)}count:{entry}", value, px=int(self.settings.ttl * 1000))
            )
            self.writes += 1
        except _Down:
            pass

    # -- the shared rate budget ---------------------------------------------------------------------
    def _rate_keys(self, cred: _Credential) -> list[str]:
        return [f"{self._prefix(cred)}rate:log", f"{self._prefix(cred)}rate:state"]

    async def acquire(self, reserve: float) -> float | None:
        s = self.settings
        cred = self._cred()
        if cred is None:
            return None
        member = secrets.token_hex(8)  # unique: two grants in the same millisecond are two entries
        try:
            granted, wait_ms, used, *paused = await self._run(
                lambda r: self._scripts["acquire"](
                    keys=self._rate_keys(cred),
                    args=[
                        s.rpm,
                        int(s.window_seconds * 1000),
                        max(0.0, min(1.0, reserve)),
                        member,
                        int(s.recover_seconds * 1000),
                        int(MAX_PAUSE * 1000),
                    ],
                    client=r,
                )
            )
        except _Down:
            # down: the local limiter decides alone; one failed call while Redis still counts as up: no grant
            # (the script may have run without us hearing), ask again shortly
            return None if not self.available else 0.05
        try:
            used, wait = int(used), min(MAX_PAUSE, max(0.0, int(wait_ms) / 1000))
        except (TypeError, ValueError):
            return None  # not what our script returns: the local limiter decides
        self.window_requests = used
        if paused:
            self.paused_until = time.monotonic() + wait
        if int(granted) == 1:
            self.grants += 1
            return 0.0
        self.denials += 1
        return max(0.001, wait)

    async def rate_limited(self, pause: float) -> None:
        s = self.settings
        cred = self._cred()
        if cred is None:
            return
        pause = MAX_PAUSE if not math.isfinite(pause) else min(MAX_PAUSE, max(0.0, pause))
        try:
            left = await self._run(
                lambda r: self._scripts["rate_limited"](
                    keys=self._rate_keys(cred)[1:],
                    args=[int(pause * 1000), s.rpm, int(s.recover_seconds * 1000), int(MAX_PAUSE * 1000)],
                    client=r,
                )
            )
            self.paused_until = time.monotonic() + min(MAX_PAUSE, max(0.0, int(left) / 1000))
        except (_Down, TypeError, ValueError):
            pass

    # -- one upstream call per request for the hub (per key) -----------------------------------------
    async def single_flight(self, key: str, fetch: Callable[[], Awaitable[int]], wait_limit: float) -> tuple[int, bool]:
        cred = self._cred()
        if cred is None:
            return await fetch(), False
        lock = f"{self._prefix(cred)}lock:{cred.entry(key)}"
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
            "rejected_values": self.rejected,
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
