"""Where the meter meets the ``anthropic`` SDK: two class-level wraps, so every client sees them, including
clients created before the meter was switched on.

* ``BaseClient._build_request`` builds the ``httpx`` request of every attempt, sync or async: its ``content`` is
  the final JSON body, byte for byte what goes on the wire. The meter reads it there (and may refuse to let a
  call over budget go on); the request itself is returned as built.
* ``SyncAPIClient._attempt_request`` / ``AsyncAPIClient._attempt_request`` send one attempt and return the raw
  response whatever its status. The meter reads ``usage`` from it: at once for a read JSON body, else through a
  tee over the response's byte stream, which hands the SDK every chunk unchanged and follows the SSE events as
  they pass.
"""

from __future__ import annotations

import contextvars
import logging
import re
import zlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2  # the SDK's HTTP library; this module is imported only once the SDK is in use

log = logging.getLogger(__name__)

#: POST paths metered (the base URL may add a prefix); count_tokens and everything else pass untouched
METERED = ("/v1/messages", "/v1/messages/batches")

_RESULTS = re.compile(r"/v1/messages/batches/([^/]+)/results/?$")

_meter: Any = None  # the active Meter, or None
_originals: dict[str, Any] = {}
#: the handle of the attempt being made in this thread / task (set while building, read after sending)
_current: contextvars.ContextVar[Any] = contextvars.ContextVar("jtc_meter_current", default=None)


def _metered_path(path: str) -> str | None:
    path = path.rstrip("/")
    for p in METERED:
        if path.endswith(p):
            return p
    return None


def _build_request(self: Any, options: Any, *, retries_taken: int = 0) -> Any:
    request = _originals["build"](self, options, retries_taken=retries_taken)
    meter = _meter
    if meter is None:
        return request
    if request.method == "GET":  # a batch's results: usage for the records of its requests
        m = _RESULTS.search(request.url.path)
        if m is not None:
            _current.set(meter.results_handle(m.group(1)))
        return request
    path = _metered_path(request.url.path) if request.method == "POST" else None
    if path is None:
        return request
    from .core import BudgetExceeded

    try:
        handle = meter.before_send(
            self, request.content, path, getattr(options, "idempotency_key", None), retries_taken, request.headers
        )
    except BudgetExceeded:
        raise
    except Exception:  # the meter must never fail a call
        log.debug("call meter: could not read a request", exc_info=True)
        handle = None
    _current.set(handle)
    return request


def _after(handle: Any, response: Any) -> None:
    try:
        if response.status_code >= 400:
            handle.failed(f"API error {response.status_code}")
            return
        ctype = response.headers.get("content-type", "")
        if hasattr(response, "_content"):  # already read (not streamed): parse it now
            handle.answered_json(response.content)
            return
        decoder = _decoder(response.headers)
        if decoder is None:
            handle.failed_to_follow(f"cannot read a {response.headers.get('content-encoding')!r}-encoded answer")
            return
        if getattr(handle, "jsonl", False):
            tap: _Tap = _JSONLTap(handle, decoder)
        elif "text/event-stream" in ctype:
            tap = _SSETap(handle, decoder)
        else:
            tap = _JSONTap(handle, decoder)
        response.stream = (_AsyncTee if hasattr(response.stream, "__aiter__") else _SyncTee)(response.stream, tap)
    except Exception:
        log.debug("call meter: could not follow a response", exc_info=True)


def _attempt_sync(self: Any, *args: Any, **kwargs: Any) -> Any:
    token = _current.set(None)
    try:
        try:
            response, options = _originals["attempt_sync"](self, *args, **kwargs)
        except Exception as exc:
            handle = _current.get()
            if handle is not None:
                handle.failed(type(exc).__name__)
            raise
        handle = _current.get()
        if handle is not None:
            _after(handle, response)
        return response, options
    finally:
        _current.reset(token)


async def _attempt_async(self: Any, *args: Any, **kwargs: Any) -> Any:
    token = _current.set(None)
    try:
        try:
            response, options = await _originals["attempt_async"](self, *args, **kwargs)
        except Exception as exc:
            handle = _current.get()
            if handle is not None:
                handle.failed(type(exc).__name__)
            raise
        handle = _current.get()
        if handle is not None:
            _after(handle, response)
        return response, options
    finally:
        _current.reset(token)


class _Zlib:
    """Our own decoder for gzip/deflate bodies (the response's own decoder is stateful and the SDK's)."""

    def __init__(self) -> None:
        self._d = zlib.decompressobj(47)  # 32 + 15: gzip or zlib header, detected

    def decode(self, data: bytes) -> bytes:
        return self._d.decompress(data)

    def flush(self) -> bytes:
        return self._d.flush()


class _Identity:
    def decode(self, data: bytes) -> bytes:
        return data

    def flush(self) -> bytes:
        return b""


def _decoder(headers: Any) -> Any:
    encodings = [e.strip().lower() for e in headers.get("content-encoding", "").split(",") if e.strip()]
    encodings = [e for e in encodings if e != "identity"]
    if not encodings:
        return _Identity()
    if encodings in (["gzip"], ["deflate"]):
        return _Zlib()
    return None


# -- taps: follow the body as the SDK reads it ---------------------------------------------------------
class _Tap:
    def __init__(self, handle: Any, decoder: Any) -> None:
        self.handle = handle
        self.decoder = decoder
        self.closed = False

    def chunk(self, raw: bytes) -> None:
        try:
            self.feed(self.decoder.decode(raw))
        except Exception:
            log.debug("call meter: could not decode a chunk", exc_info=True)

    def end(self, complete: bool) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.feed(self.decoder.flush())
            self.finish(complete)
        except Exception:
            log.debug("call meter: could not read the answer", exc_info=True)

    def feed(self, data: bytes) -> None:
        raise NotImplementedError

    def finish(self, complete: bool) -> None:
        raise NotImplementedError


class _JSONTap(_Tap):
    def __init__(self, handle: Any, decoder: Any) -> None:
        super().__init__(handle, decoder)
        self.parts: list[bytes] = []

    def feed(self, data: bytes) -> None:
        self.parts.append(data)

    def finish(self, complete: bool) -> None:
        self.handle.answered_json(b"".join(self.parts))


class _JSONLTap(_Tap):
    """JSON Lines, handed over one line at a time (a batch's results can be large)."""

    def __init__(self, handle: Any, decoder: Any) -> None:
        super().__init__(handle, decoder)
        self.buf = b""

    def feed(self, data: bytes) -> None:
        self.buf += data
        *lines, self.buf = self.buf.split(b"\n")
        for line in lines:
            if line.strip():
                self.handle.result_line(line)

    def finish(self, complete: bool) -> None:
        if self.buf.strip():
            self.handle.result_line(self.buf)
        self.handle.results_done()


class _SSETap(_Tap):
    def __init__(self, handle: Any, decoder: Any) -> None:
        super().__init__(handle, decoder)
        from .usage import SSEUsage

        self.sse = SSEUsage()

    def feed(self, data: bytes) -> None:
        self.sse.feed(data)

    def finish(self, complete: bool) -> None:
        s = self.sse
        self.handle.answered(s.usage or None, complete=complete and s.finished, error=s.error)


class _SyncTee(httpx2.SyncByteStream):  # httpx checks the stream's type before iterating it
    """The response's byte stream, unchanged, with a tap on each chunk."""

    def __init__(self, inner: Any, tap: _Tap) -> None:
        self._inner = inner
        self._tap = tap

    def __iter__(self) -> Iterator[bytes]:
        complete = False
        try:
            for chunk in self._inner:
                self._tap.chunk(chunk)
                yield chunk
            complete = True
        finally:
            self._tap.end(complete)

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._tap.end(False)


class _AsyncTee(httpx2.AsyncByteStream):
    def __init__(self, inner: Any, tap: _Tap) -> None:
        self._inner = inner
        self._tap = tap

    async def __aiter__(self) -> AsyncIterator[bytes]:
        complete = False
        try:
            async for chunk in self._inner:
                self._tap.chunk(chunk)
                yield chunk
            complete = True
        finally:
            self._tap.end(complete)

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            self._tap.end(False)


# -- switching on and off --------------------------------------------------------------------------------
def install(meter: Any) -> None:
    """Make ``meter`` the active one (wrapping the SDK classes the first time)."""
    global _meter
    import anthropic
    from anthropic import _base_client as bc

    from ..errors import ConfigError

    seams = (getattr(bc, "BaseClient", None), getattr(bc, "SyncAPIClient", None), getattr(bc, "AsyncAPIClient", None))
    if not (
        seams[0]
        and hasattr(seams[0], "_build_request")
        and all(c is not None and hasattr(c, "_attempt_request") for c in seams[1:])
    ):
        raise ConfigError(
            f"the call meter does not know this anthropic SDK ({anthropic.__version__}): it needs the "
            "request-building and sending methods of 2.14; try `pip install -U anthropic`"
        )
    if not _originals:
        _originals["build"] = bc.BaseClient._build_request
        _originals["attempt_sync"] = bc.SyncAPIClient._attempt_request
        _originals["attempt_async"] = bc.AsyncAPIClient._attempt_request
        bc.BaseClient._build_request = _build_request  # type: ignore[method-assign]
        bc.SyncAPIClient._attempt_request = _attempt_sync  # type: ignore[method-assign,assignment]
        bc.AsyncAPIClient._attempt_request = _attempt_async  # type: ignore[method-assign,assignment]
    _meter = meter


def uninstall() -> None:
    """Stop metering and put the SDK's own methods back (unless someone wrapped them after us)."""
    global _meter
    _meter = None
    if not _originals:
        return
    from anthropic import _base_client as bc

    ours = (
        bc.BaseClient._build_request is _build_request
        and bc.SyncAPIClient._attempt_request is _attempt_sync
        and bc.AsyncAPIClient._attempt_request is _attempt_async
    )
    if ours:
        bc.BaseClient._build_request = _originals.pop("build")  # type: ignore[method-assign]
        bc.SyncAPIClient._attempt_request = _originals.pop("attempt_sync")  # type: ignore[method-assign]
        bc.AsyncAPIClient._attempt_request = _originals.pop("attempt_async")  # type: ignore[method-assign]


def active() -> Any:
    return _meter
