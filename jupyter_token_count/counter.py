"""The counter: cache, single-flight, rate limit and fallback policy around the two backends.

It never parses notebooks or files (that is ``request``) and never renders (that is the surfaces).
Its core is asyncio; ``count()`` is a thread-safe sync wrapper that runs the core on the counter's own
loop thread, so a kernel, a widget's worker thread and a CLI can all share one counter.

Policy (``mode``):
- ``offline``: always the estimator.
- ``api``: always the API; errors are raised.
- ``auto`` (default): the API when a key is configured, else the estimator. A transient failure
  (network, timeout, 401/403, 429 after retries, 5xx, 529) answers with the estimate and the reason;
  a 400/404/413 is raised, since an estimate of a wrong request misleads.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections.abc import Coroutine
from concurrent.futures import Future as ConcurrentFuture
from typing import TYPE_CHECKING, Any, TypeVar

from . import registry
from .cache import CountCache
from .config import Settings, check_mode
from .errors import (
    ApiAuthError,
    ApiConnectionError,
    ApiError,
    ApiOverloaded,
    ApiRateLimited,
    ApiTimeout,
    ConfigError,
)
from .limiter import RateLimiter
from .request import CountRequest
from .result import TokenCount

if TYPE_CHECKING:
    from .backends.api import ApiBackend

log = logging.getLogger(__name__)
T = TypeVar("T")

#: the one-character message whose API count, minus its one content token, measures a model's frame
FRAME_PROBE = "."


def describe(exc: ApiError, settings: Settings) -> str:
    """Why an API failure left us with an estimate, in words a user can act on."""
    if isinstance(exc, ApiAuthError):
        return f"API key rejected ({exc.status}: {exc.message}); check {settings.api_key_env}"
    if isinstance(exc, ApiRateLimited):
        wait = f"; exact count in {exc.retry_after:.0f}s" if exc.retry_after else ""
        return f"rate limited by the API (429){wait}"
    if isinstance(exc, ApiOverloaded):
        return "the API is overloaded (529)"
    if isinstance(exc, ApiTimeout):
        return f"the API did not answer within {settings.timeout:g}s"
    if isinstance(exc, ApiConnectionError):
        return f"API unreachable: {exc.message}"
    return f"API error {exc.status}: {exc.message}"


class _LoopThread:
    """A daemon thread running an event loop, for sync callers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name="jupyter-token-count", daemon=True)
        self.thread.start()
        self._ready.wait()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._ready.set)
        self.loop.run_forever()


class Counter:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        cache: CountCache | None = None,
        limiter: RateLimiter | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.settings = settings or Settings.from_env()
        self.cache = cache if cache is not None else CountCache(self.settings.data_dir)
        self.limiter = limiter or RateLimiter(self.settings.rpm)
        self._loop = loop
        self._loop_thread: _LoopThread | None = None
        self._thread_lock = threading.Lock()
        #: (cache key, mode) → the answer in flight; the mode is part of it because an estimate is an answer in
        #: auto mode only, and an error is one in api mode only
        self._inflight: dict[tuple[str, str], asyncio.Future[TokenCount]] = {}
        self._sem: asyncio.Semaphore | None = None
        self._backend: ApiBackend | None = None
        self._backend_for: tuple[str, str | None] | None = None
        self._frames: dict[str, int] = {}
        self.upstream_requests = 0
        self.fallbacks = 0

    # -- loops -------------------------------------------------------------------------------------
    def _home(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            with self._thread_lock:
                if self._loop is None:
                    self._loop_thread = _LoopThread()
                    self._loop = self._loop_thread.loop
        return self._loop

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the counter's loop from any other thread and wait for it."""
        loop = self._home()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            coro.close()
            raise RuntimeError("Counter.count() was called on the counter's own event loop; use `await counter.acount()`")
        fut: ConcurrentFuture[T] = asyncio.run_coroutine_threadsafe(coro, loop)
        return fut.result()

    async def arun(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await a coroutine on the counter's loop from any loop (CPU work then stays off the caller's loop)."""
        loop = self._home()
        if asyncio.get_running_loop() is loop:
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))

    # -- public API --------------------------------------------------------------------------------
    def count(self, request: CountRequest, mode: str | None = None) -> TokenCount:
        return self.run(self._count(request, mode))

    async def acount(self, request: CountRequest, mode: str | None = None) -> TokenCount:
        return await self.arun(self._count(request, mode))

    def estimate(self, request: CountRequest, reason: str = "offline mode") -> TokenCount:
        """The offline estimate, computed in the calling thread (no loop, no I/O)."""
        return self._estimate_sync(request, reason)

    def frame(self, model: str, mode: str | None = None) -> tuple[int, bool]:
        return self.run(self._frame(model, mode))

    async def aframe(self, model: str, mode: str | None = None) -> tuple[int, bool]:
        return await self.arun(self._frame(model, mode))

    @property
    def backend_name(self) -> str:
        mode = self.settings.mode
        return "api" if mode == "api" or (mode == "auto" and self.settings.key_configured) else "offline"

    def stats(self) -> dict[str, Any]:
        return {
            "cache": self.cache.stats(),
            "upstream_requests": self.upstream_requests,
            "fallbacks": self.fallbacks,
            "rate_limit": self.limiter.state(),
        }

    # -- internals ---------------------------------------------------------------------------------
    def _result(self, req: CountRequest, n: int, *, exact: bool, source: str, reason: str | None = None,
                retry_after: float | None = None, detail: dict[str, Any] | None = None) -> TokenCount:
        info = registry.resolve(req.model)
        return TokenCount(
            input_tokens=n,
            exact=exact,
            source=source,  # type: ignore[arg-type]
            model=req.model,
            reason=reason,
            cost_usd=info.cost_usd(n),
            context_window=info.context_window,
            display_name=info.display_name,
            retry_after=retry_after,
            detail=detail or {},
        )

    def _estimate_sync(self, req: CountRequest, reason: str, retry_after: float | None = None) -> TokenCount:
        from .backends import offline

        info = registry.resolve(req.model)
        est = offline.estimate(req.body, info)
        detail = {"parts": est.parts, "notes": list(est.notes), "estimator": offline.estimator_name()}
        return self._result(req, est.input_tokens, exact=False, source="offline", reason=reason,
                            retry_after=retry_after, detail=detail)

    async def _estimate(self, req: CountRequest, reason: str, retry_after: float | None = None) -> TokenCount:
        # CPU-bound: keep the loop (a server's, possibly) responsive
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._estimate_sync, req, reason, retry_after)

    def _api(self) -> ApiBackend:
        # imported here: the SDK takes seconds to import, and offline use never needs it
        from .backends.api import ApiBackend

        key = self.settings.api_key
        assert key
        ident = (key, self.settings.base_url)
        if self._backend is None or self._backend_for != ident:
            self._backend = ApiBackend(key, self.settings.base_url, self.settings.timeout)
            self._backend_for = ident
        return self._backend

    async def _count(self, req: CountRequest, mode: str | None) -> TokenCount:
        mode = check_mode(mode or self.settings.mode)
        if mode == "offline":
            return await self._estimate(req, "offline mode")
        key = req.cache_key()
        hit = self.cache.get(key)
        if hit is not None:
            return self._result(req, hit, exact=True, source="cache")
        if not self.settings.key_configured:
            if mode == "api":
                raise ConfigError(f"mode 'api' needs an API key: set {self.settings.api_key_env} or configure one")
            return await self._estimate(req, f"no API key (set {self.settings.api_key_env} for exact counts)")
        flight = (key, mode)
        shared = self._inflight.get(flight)
        if shared is not None:  # an identical request is already on its way: share its answer
            return await asyncio.shield(shared)
        fut: asyncio.Future[TokenCount] = asyncio.get_running_loop().create_future()
        self._inflight[flight] = fut
        try:
            result = await self._upstream(req, mode, key)
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # mark retrieved: with no followers it must not be reported as lost
            raise
        else:
            fut.set_result(result)
            return result
        finally:
            self._inflight.pop(flight, None)

    async def _upstream(self, req: CountRequest, mode: str, key: str) -> TokenCount:
        s = self.settings
        if self._sem is None:
            self._sem = asyncio.Semaphore(s.max_concurrency)
        attempt = 0
        waited = 0.0
        while True:
            wait = self.limiter.try_acquire()
            if wait > 0:
                if mode == "auto":
                    self.limiter.note_throttled()
                    self.fallbacks += 1
                    reason = f"rate limited ({s.rpm} requests/min cap); exact count in {wait:.0f}s"
                    return await self._estimate(req, reason, retry_after=wait)
                if waited + wait > max(s.max_retry_wait, 60.0):
                    raise ApiRateLimited(f"rate limit: next request slot in {wait:.0f}s", retry_after=wait)
                waited += wait
                await asyncio.sleep(wait)
                continue
            try:
                async with self._sem:
                    self.upstream_requests += 1
                    n = await self._api().acount(req.body)
            except ApiError as exc:
                pause = None
                if isinstance(exc, ApiRateLimited):
                    pause = exc.retry_after if exc.retry_after is not None else 2.0 ** attempt
                    self.limiter.pause(pause)
                retryable = exc.transient and not isinstance(exc, ApiAuthError) and attempt < s.max_retries
                if retryable and pause is not None and pause > s.max_retry_wait:
                    retryable = False  # too long to keep a user waiting
                if retryable:
                    attempt += 1
                    delay = pause if pause is not None else min(4.0, 0.5 * 2 ** (attempt - 1)) * (0.75 + random.random() / 2)
                    log.info("count_tokens %s; retrying in %.1fs (attempt %d)", type(exc).__name__, delay, attempt)
                    await asyncio.sleep(delay)
                    continue
                if exc.transient and mode == "auto":
                    self.fallbacks += 1
                    return await self._estimate(req, describe(exc, s), retry_after=pause)
                raise
            self.cache.put(key, req.model, n)
            return self._result(req, n, exact=True, source="api")

    async def _frame(self, model: str, mode: str | None) -> tuple[int, bool]:
        """Tokens every one-message request pays before its content, and whether that is exact. With the
        API: count(".") − 1 (a lone full stop is one token in every Claude tokenizer), measured once per model."""
        from .backends import offline

        info = registry.resolve(model)
        mode = check_mode(mode or self.settings.mode)
        offline_frame = offline.frame_tokens(info)
        if mode == "offline" or (mode == "auto" and not self.settings.key_configured):
            return offline_frame, False
        if model in self._frames:
            return self._frames[model], True
        probe = CountRequest({"model": model, "messages": [{"role": "user", "content": FRAME_PROBE}]})
        res = await self._count(probe, mode)
        if not res.exact:
            return offline_frame, False
        frame = max(0, res.input_tokens - offline.text_tokens(FRAME_PROBE, info))
        self._frames[model] = frame
        return frame, True
