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
import importlib
import logging
import math
import random
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Coroutine
from concurrent.futures import Future as ConcurrentFuture
from typing import TYPE_CHECKING, Any, TypeVar

from . import pricing, registry
from .cache import CountCache, Entry
from .config import Settings, check_mode
from .errors import (
    ApiAuthError,
    ApiError,
    ApiRateLimited,
    ApiTimeout,
    ConfigError,
)
from .limiter import MAX_PAUSE, RateLimiter
from .request import EMPTY_PROBE_TOKENS, CountRequest
from .result import TokenCount

if TYPE_CHECKING:
    from .backends.api import ApiBackend
    from .shared import SharedLevel

log = logging.getLogger(__name__)
T = TypeVar("T")

#: the one-character message whose API count, minus its one content token, measures a model's frame
FRAME_PROBE = "."
#: why a count is an estimate while its document is being edited
TYPING = "estimate while you type; the exact count follows when typing pauses"
#: exact counts waiting for a background slot, at most (the oldest are dropped: their notebook moved on)
BACKGROUND_QUEUE = 2000


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
        shared: SharedLevel | None = None,
    ) -> None:
        self.settings = settings or Settings.from_env()
        self.cache = cache if cache is not None else CountCache(self.settings.data_dir)
        self.limiter = limiter or RateLimiter(self.settings.rpm)
        #: a level shared with other servers (a hub's Redis, ``hub.py``): cache, rate budget, single-flight; what it
        #: shares belongs to the API key this counter uses
        self.shared = shared
        if shared is not None:
            shared.bind(lambda: self.settings.api_key)
        self._loop = loop
        self._loop_thread: _LoopThread | None = None
        self._thread_lock = threading.Lock()
        #: cache key → the upstream count in flight (single-flight), whoever started it
        self._inflight: dict[str, asyncio.Task[Entry]] = {}
        self._sem: asyncio.Semaphore | None = None
        self._backend: ApiBackend | None = None
        self._backend_for: tuple[str, str | None] | None = None
        #: foreground upstream requests under way; background work waits for none
        self._foreground = 0
        self._idle: asyncio.Event | None = None
        self._queue: OrderedDict[str, CountRequest] = OrderedDict()
        self._worker: asyncio.Task[None] | None = None
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
            raise RuntimeError(
                "Counter.count() was called on the counter's own event loop; use `await counter.acount()`"
            )
        fut: ConcurrentFuture[T] = asyncio.run_coroutine_threadsafe(coro, loop)
        return fut.result()

    async def arun(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await a coroutine on the counter's loop from any loop (CPU work then stays off the caller's loop)."""
        loop = self._home()
        if asyncio.get_running_loop() is loop:
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))

    # -- public API --------------------------------------------------------------------------------
    def count(self, request: CountRequest, mode: str | None = None, deadline: float | None = None) -> TokenCount:
        return self.run(self._count(request, mode, deadline))

    async def acount(self, request: CountRequest, mode: str | None = None, deadline: float | None = None) -> TokenCount:
        """Count ``request``. In auto mode, ``deadline`` (seconds) bounds the wait: past it the estimate answers,
        marked ``pending``, and the exact count goes on and lands in the cache."""
        return await self.arun(self._count(request, mode, deadline))

    def estimate(self, request: CountRequest, reason: str = "offline mode") -> TokenCount:
        """The offline estimate, computed in the calling thread (no loop, no I/O)."""
        return self._estimate_sync(request, reason)

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
            "hub": self.shared.state() if self.shared is not None else {"enabled": False},
        }

    def result_of(self, req: CountRequest, n: int, **kwargs: Any) -> TokenCount:
        """A result for ``req`` with ``n`` tokens (cost and window from the registry); ``kwargs`` as TokenCount."""
        return self._result(req, n, **kwargs)

    def result_for(self, model: str, n: int, *, empty: bool = False, **kwargs: Any) -> TokenCount:
        """``result_of`` for a request that was not built (a notebook's total while typing): its model, and whether
        it stands for an empty notebook or file."""
        return self._result_for(model, empty, n, **kwargs)

    # -- exact counts: keyed by where they were counted ------------------------------------------------
    def key(self, req: CountRequest) -> str:
        """The key of ``req``'s exact count in every cache level: the request (betas, model, body) as counted by
        this counter's API origin. An answer from one origin is never served for another."""
        return req.cache_key(self.settings.origin)

    def cached(self, req: CountRequest) -> Entry | None:
        """``req``'s exact count from the local cache, or None. A process without a key gets None: it talks to
        no API, so no count is exact for it (whoever stored one)."""
        if not self.settings.key_configured:
            return None
        return self.cache.entry(self.key(req))

    def cached_result(self, req: CountRequest) -> TokenCount | None:
        """``req``'s exact count from the local cache as a result (``source`` cache), or None."""
        hit = self.cached(req)
        return None if hit is None else self._exact(req, hit, "cache")

    def cached_identity(self, model: str, identity: str, *, empty: bool = False) -> TokenCount | None:
        """``cached_result`` for a request known by its ``identity`` only (see ``cells.PreparedNotebook.digest``)."""
        if not self.settings.key_configured:
            return None
        hit = self.cache.entry(CountRequest.key_of(self.settings.origin, identity))
        if hit is None:
            return None
        return self._result_for(
            model, empty, hit.input_tokens, exact=True, source="cache", original=hit.original_input_tokens
        )

    # -- internals ---------------------------------------------------------------------------------
    def _result(self, req: CountRequest, n: int, **kwargs: Any) -> TokenCount:
        return self._result_for(req.model, req.empty, n, **kwargs)

    def _result_for(
        self,
        model: str,
        empty: bool,
        n: int,
        *,
        exact: bool,
        source: str,
        reason: str | None = None,
        retry_after: float | None = None,
        detail: dict[str, Any] | None = None,
        pending: bool = False,
        low: int | None = None,
        high: int | None = None,
        original: int | None = None,
    ) -> TokenCount:
        info = registry.resolve(model)
        if not exact:
            from .backends import offline

            reason = offline.qualify(reason)
        if empty:
            # an empty notebook or file is sent as a one-token probe (the API refuses an empty message): what
            # it stands for is the request frame alone
            n = max(0, n - EMPTY_PROBE_TOKENS)
            low = None if low is None else max(0, low - EMPTY_PROBE_TOKENS)
            high = None if high is None else max(n, high - EMPTY_PROBE_TOKENS)
            original = None
            detail = {**(detail or {}), "empty": True}
        return TokenCount(
            input_tokens=n,
            exact=exact,
            source=source,  # type: ignore[arg-type]
            model=model,
            reason=reason,
            low=low,
            high=high,
            cost_usd=pricing.cost(info, uncached=n),
            context_window=info.context_window,
            display_name=info.display_name,
            retry_after=retry_after,
            pending=pending,
            original_input_tokens=original,
            detail=detail or {},
        )

    def _exact(self, req: CountRequest, entry: Entry, source: str) -> TokenCount:
        return self._result(req, entry.input_tokens, exact=True, source=source, original=entry.original_input_tokens)

    def _estimate_sync(
        self, req: CountRequest, reason: str, retry_after: float | None = None, pending: bool = False
    ) -> TokenCount:
        from .backends import offline

        info = registry.resolve(req.model)
        est = offline.estimate(req.body, info, deadline=time.monotonic() + self.settings.estimate_timeout)
        detail = {"parts": est.parts, "notes": list(est.notes), "estimator": offline.estimator_name()}
        if est.uncounted:
            # what the estimate leaves out is part of why it is only an estimate: never a silently smaller number
            reason = f"{reason}; offline, {'; '.join(est.uncounted)}"
        if est.rough:
            reason = f"{reason}; {est.rough}"  # the answer says the estimate was cut short
        return self._result(
            req,
            est.input_tokens,
            exact=False,
            source="offline",
            reason=reason,
            retry_after=retry_after,
            detail=detail,
            pending=pending,
            low=est.low,
            high=est.high,
        )

    async def _estimate(
        self, req: CountRequest, reason: str, retry_after: float | None = None, pending: bool = False
    ) -> TokenCount:
        # CPU-bound: keep the loop (a server's, possibly) responsive
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._estimate_sync, req, reason, retry_after, pending)

    def _api(self) -> ApiBackend:
        # imported here: the SDK takes seconds to import, and offline use never needs it
        from .backends.api import ApiBackend

        key = self.settings.api_key
        assert key
        ident = (key, self.settings.origin)
        if self._backend is None or self._backend_for != ident:
            self._backend = ApiBackend(key, self.settings.origin, self.settings.timeout)
            self._backend_for = ident
        return self._backend

    async def _aapi(self) -> ApiBackend:
        """``_api()`` without blocking the loop on the SDK's first import (seconds): deadlines keep running."""
        if "jupyter_token_count.backends.api" not in sys.modules:
            await asyncio.get_running_loop().run_in_executor(
                None, importlib.import_module, "jupyter_token_count.backends.api"
            )
        return self._api()

    async def _count(self, req: CountRequest, mode: str | None, deadline: float | None = None) -> TokenCount:
        mode = check_mode(mode or self.settings.mode)
        if mode == "offline":
            return await self._estimate(req, self._why_offline(mode))
        if not self.settings.key_configured:  # before any cache: without a key nothing is exact for us
            if mode == "api":
                raise ConfigError(f"mode 'api' needs an API key: set {self.settings.api_key_env} or configure one")
            return await self._estimate(req, self._why_offline(mode))
        key = self.key(req)
        hit = self.cache.entry(key) or await self._shared_get(req, key)
        if hit is not None:
            return self._exact(req, hit, "cache")
        fetch = self._fetch(req, key, max_wait=self._slot_wait(mode))
        try:
            if mode == "auto" and deadline is not None:
                # the answer is due by the deadline; the request goes on and caches its count when it lands
                entry = await asyncio.wait_for(asyncio.shield(fetch), max(0.0, deadline))
            else:
                entry = await asyncio.shield(fetch)
        except asyncio.TimeoutError:
            self.fallbacks += 1
            wait = "" if deadline == 0 else f"not answered within {deadline:g}s; "
            return await self._estimate(req, f"exact count in progress ({wait}the API is being asked)", pending=True)
        except ApiError as exc:
            if exc.transient and mode == "auto":
                self.fallbacks += 1
                if isinstance(exc, ApiRateLimited) and exc.own_cap:
                    self.limiter.note_throttled()
                return await self._estimate(req, exc.reason(self.settings), retry_after=exc.retry_after)
            raise
        return self._exact(req, entry, "api")

    async def atyping(self, req: CountRequest, mode: str | None = None) -> TokenCount:
        """The count while its document is being typed, without asking the API: the cached exact count, else
        the estimate, marked ``pending`` when asking (``acount``) would give the exact count."""
        mode = check_mode(mode or self.settings.mode)
        if mode != "offline":
            hit = self.cached(req)
            if hit is not None:
                return self._exact(req, hit, "cache")
        if mode == "offline" or not self.settings.key_configured:
            return await self.arun(self._estimate(req, self._why_offline(mode)))
        return await self.arun(self._estimate(req, TYPING, pending=True))

    def _slot_wait(self, mode: str) -> float:
        """How long a request may wait for this process's own rate limiter before it gives up."""
        s = self.settings
        return max(s.max_retry_wait, 60.0) if mode == "api" else s.max_retry_wait

    def _why_offline(self, mode: str) -> str:
        return "offline mode" if mode == "offline" else f"no API key (set {self.settings.api_key_env} for exact counts)"

    def in_flight(self, req: CountRequest) -> bool:
        """Whether an exact count of this request is on its way (its answer will be in the cache)."""
        task = self._inflight.get(self.key(req))
        return task is not None and not task.done()

    def _fetch(self, req: CountRequest, key: str, *, max_wait: float, background: bool = False) -> asyncio.Task[Entry]:
        """The one upstream count of ``req`` in flight (single-flight): identical requests share it, whatever
        their mode; each caller then applies its own policy to the outcome (auto: an error becomes the
        estimate; api: it is raised)."""
        task = self._inflight.get(key)
        if task is not None:
            return task
        task = asyncio.get_running_loop().create_task(self._flight(req, key, max_wait, background))
        self._inflight[key] = task

        def done(t: asyncio.Task[Entry]) -> None:
            self._inflight.pop(key, None)
            if not t.cancelled():
                t.exception()  # retrieved: a count nobody waits for any more must not be logged as lost

        task.add_done_callback(done)
        return task

    async def _upstream(self, req: CountRequest, key: str, max_wait: float, background: bool) -> Entry:
        """Send ``req`` (waiting for a rate-limit slot, retrying transient failures) within one time budget:
        ``settings.timeout`` bounds the upstream attempts together, so retries never multiply the wait."""
        s = self.settings
        if self._sem is None:
            self._sem = asyncio.Semaphore(s.max_concurrency)
        loop = asyncio.get_running_loop()
        reserve = 1.0 - s.background_share if background else 0.0
        waited = 0.0
        while True:
            if background:
                await self._foreground_idle()
            wait = await self._acquire(reserve)
            if wait == 0:
                break
            if not background and waited + wait > max_wait:
                raise ApiRateLimited(f"rate limit: next request slot in {wait:.0f}s", retry_after=wait)
            wait = min(wait, 1.0) if background else wait  # background re-checks often: the foreground goes first
            waited += wait
            await asyncio.sleep(wait)
        if not background:
            self._foreground += 1
        try:
            return await self._attempts(req, key, loop.time() + s.timeout)
        finally:
            if not background:
                self._foreground -= 1
                if self._foreground == 0 and self._idle is not None:
                    self._idle.set()

    async def _attempts(self, req: CountRequest, key: str, until: float) -> Entry:
        s = self.settings
        loop = asyncio.get_running_loop()
        assert self._sem is not None
        attempt = 0
        while True:
            left = until - loop.time()
            if left <= 0:
                raise ApiTimeout("the count_tokens request timed out")
            try:
                backend = await self._aapi()
                async with self._sem:
                    self.upstream_requests += 1
                    entry = await backend.acount(req, timeout=left)
            except ApiError as exc:
                pause = None
                if isinstance(exc, ApiRateLimited):
                    pause = exc.retry_after if exc.retry_after is not None else 2.0**attempt
                    self.limiter.on_rate_limited(pause)
                    if self.shared is not None:
                        await self.shared.rate_limited(pause)  # one server's 429 pauses every server of its key
                    pause = min(pause, MAX_PAUSE)
                    exc.retry_after = pause
                retryable = exc.transient and not isinstance(exc, ApiAuthError) and attempt < s.max_retries
                if retryable and pause is not None and pause > s.max_retry_wait:
                    retryable = False  # too long to keep a user waiting
                if retryable:
                    attempt += 1
                    delay = (
                        pause
                        if pause is not None
                        else min(4.0, 0.5 * 2 ** (attempt - 1)) * (0.75 + random.random() / 2)
                    )
                    if loop.time() + delay >= until:
                        raise  # no time left for another try: the caller answers now
                    log.info("count_tokens %s; retrying in %.1fs (attempt %d)", type(exc).__name__, delay, attempt)
                    await asyncio.sleep(delay)
                    continue
                raise
            self.cache.put(key, req.model, *entry)
            return entry

    # -- the level shared with other servers (issue 10; a no-op without ``shared``) -------------------
    async def _shared_get(self, req: CountRequest, key: str) -> Entry | None:
        """A count another server stored (copied into the local cache), or None. The keys are this counter's
        (origin and betas included), so a hub shares counts only between servers that count at one origin."""
        if self.shared is None or not self.settings.key_configured:
            return None
        n = await self.shared.get(key)
        if n is None:
            return None
        original = None
        if "context_management" in req.body:  # its answer has two numbers: without the second it is a miss
            original = await self.shared.get(_original_key(key))
            if original is None:
                return None
        entry = Entry(n, original)
        self.cache.put(key, req.model, *entry)
        return entry

    async def _flight(self, req: CountRequest, key: str, max_wait: float, background: bool) -> Entry:
        """``_upstream``, made once for the hub (per key): another server asking the same thing answers for us."""
        shared = self.shared
        if shared is None:
            return await self._upstream(req, key, max_wait, background)
        wait_limit = math.inf if background else max_wait + self.settings.timeout
        mine: list[Entry] = []

        async def fetch() -> int:
            entry = await self._upstream(req, key, max_wait, background)
            if entry.original_input_tokens is not None:  # shared before the count: a waiter finding one finds both
                await shared.put(_original_key(key), entry.original_input_tokens)
            mine.append(entry)
            return entry.input_tokens

        n, remote = await shared.single_flight(key, fetch, wait_limit)
        if not remote and mine:
            return mine[0]
        original = await shared.get(_original_key(key)) if "context_management" in req.body else None
        entry = Entry(n, original)
        self.cache.put(key, req.model, *entry)
        return entry

    async def _acquire(self, reserve: float) -> float:
        """A slot of this server's limiter and then of the shared budget (both caps hold; when the shared one
        is unavailable, the local one alone)."""
        wait = self.limiter.try_acquire(reserve)
        if wait or self.shared is None:
            return wait
        shared_wait = await self.shared.acquire(reserve)
        if shared_wait:
            self.limiter.refund()
            return shared_wait
        return 0.0

    # -- background: exact per-cell counts ----------------------------------------------------------
    async def _foreground_idle(self) -> None:
        while self._foreground > 0:
            if self._idle is None:
                self._idle = asyncio.Event()
            self._idle.clear()
            await self._idle.wait()

    def enqueue_background(self, requests: list[CountRequest]) -> int:
        """Queue exact counts that nobody waits for (lowest priority: after every foreground request, within
        ``background_share`` of the rate budget). Newest first: the notebook being edited now goes first.
        Returns how many are queued or in flight. Call on the counter's loop."""
        if not self.settings.key_configured:
            return 0
        for req in requests:
            key = self.key(req)
            if key in self._queue:
                self._queue.move_to_end(key)
            elif key not in self._inflight:
                self._queue[key] = req
        while len(self._queue) > BACKGROUND_QUEUE:
            self._queue.popitem(last=False)
        if self._queue and (self._worker is None or self._worker.done()):
            self._worker = asyncio.get_running_loop().create_task(self._drain())
        return len(self._queue) + sum(1 for r in requests if self.in_flight(r))

    async def _drain(self) -> None:
        while self._queue:
            key, req = self._queue.popitem(last=True)
            if self.cache.entry(key) is not None or await self._shared_get(req, key) is not None:
                continue
            try:
                await self._fetch(req, key, max_wait=math.inf, background=True)
            except ApiError as exc:
                if not exc.transient:
                    continue  # a request the API rejects keeps its estimate
                log.info("background count stopped: %s", exc)
                self._queue.clear()  # the API is unhappy: the next recount queues again
                return

    # -- the request frame ----------------------------------------------------------------------------
    @staticmethod
    def frame_probe(model: str) -> CountRequest:
        """The request whose exact count, less its one content token, is the model's one-message frame."""
        return CountRequest({"model": model, "messages": [{"role": "user", "content": FRAME_PROBE}]})

    def known_frame(self, model: str) -> int | None:
        """The model's exact frame if its probe was ever counted (memory or disk cache), else None. Never
        asks the API: measuring it is background work (``enqueue_background``)."""
        from .backends import offline

        hit = self.cached(self.frame_probe(model))
        if hit is None:
            return None
        return max(0, hit.input_tokens - offline.text_tokens(FRAME_PROBE, registry.resolve(model)))


def _original_key(key: str) -> str:
    """Where a shared level keeps the count before context editing of the request keyed ``key``."""
    return f"{key}:original"
