"""The exact backend: Anthropic's official SDK, ``client.messages.count_tokens``.

Retries are ours, not the SDK's (``max_retries=0``): the counter decides whether a 429 is worth
waiting out or should be answered with an estimate now, and its limiter must learn every retry-after.
"""

from __future__ import annotations

import re
from typing import Any

import anthropic

from ..errors import (
    ApiAuthError,
    ApiConnectionError,
    ApiError,
    ApiNotFound,
    ApiOverloaded,
    ApiRateLimited,
    ApiRequestTooLarge,
    ApiServerError,
    ApiTimeout,
    InvalidRequest,
)

#: Body fields passed as the SDK's typed keyword arguments; anything else goes in ``extra_body`` so that
#: the bytes on the wire are exactly our body (``output_format`` is typed as a Python class in the SDK).
_SDK_KWARGS = ("model", "messages", "system", "tools", "tool_choice", "thinking", "output_config", "cache_control")

_KEY_PATTERN = re.compile(r"sk-ant-[A-Za-z0-9_\-]{8,}")


def redact(text: str, key: str | None = None) -> str:
    """Belt and braces: an error text must never carry a key, even if a proxy echoed one."""
    if key:
        text = text.replace(key, "[redacted]")
    return _KEY_PATTERN.sub("[redacted]", text)


def _split(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    kwargs = {k: v for k, v in body.items() if k in _SDK_KWARGS}
    extra = {k: v for k, v in body.items() if k not in _SDK_KWARGS}
    return kwargs, extra


def _retry_after(headers: Any) -> float | None:
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) * scale)
        except ValueError:
            continue
    return None


def map_error(exc: Exception, key: str | None = None) -> ApiError:
    """SDK exception → our exception type, carrying the API's own message."""
    if isinstance(exc, anthropic.APITimeoutError):
        return ApiTimeout("the count_tokens request timed out")
    if isinstance(exc, anthropic.APIConnectionError):
        cause = exc.__cause__ or exc
        return ApiConnectionError(redact(f"cannot reach the API ({type(cause).__name__}: {cause})", key))
    if isinstance(exc, anthropic.APIStatusError):
        status = exc.status_code
        body = exc.body if isinstance(exc.body, dict) else {}
        err = body.get("error") if isinstance(body.get("error"), dict) else {}
        message = redact(str(err.get("message") or exc.message), key)
        etype = err.get("type")
        rid = getattr(exc, "request_id", None)
        ra = _retry_after(exc.response.headers)
        kwargs = {"status": status, "error_type": etype, "request_id": rid, "retry_after": ra}
        if status == 400:
            return InvalidRequest(message, **kwargs)
        if status in (401, 403):
            return ApiAuthError(message, **kwargs)
        if status == 404:
            return ApiNotFound(message, **kwargs)
        if status == 413:
            return ApiRequestTooLarge(message, **kwargs)
        if status == 429:
            return ApiRateLimited(message, **kwargs)
        if status == 529:
            return ApiOverloaded(message, **kwargs)
        if status >= 500:
            return ApiServerError(message, **kwargs)
        return ApiError(message, **kwargs)
    return ApiError(redact(f"{type(exc).__name__}: {exc}", key))


class ApiBackend:
    """Holds one sync and one async SDK client (created on first use) for a key and base URL."""

    name = "api"

    def __init__(self, api_key: str, base_url: str | None = None, timeout: float = 15.0) -> None:
        self._key = api_key
        self._base_url = base_url
        self._timeout = timeout
        self._sync: anthropic.Anthropic | None = None
        self._async: anthropic.AsyncAnthropic | None = None

    def __repr__(self) -> str:
        return f"ApiBackend(base_url={self._base_url!r})"

    def _client_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {"api_key": self._key, "max_retries": 0, "timeout": self._timeout}
        if self._base_url:
            kw["base_url"] = self._base_url
        return kw

    @property
    def sync_client(self) -> anthropic.Anthropic:
        if self._sync is None:
            self._sync = anthropic.Anthropic(**self._client_kwargs())
        return self._sync

    @property
    def async_client(self) -> anthropic.AsyncAnthropic:
        if self._async is None:
            self._async = anthropic.AsyncAnthropic(**self._client_kwargs())
        return self._async

    def count(self, body: dict[str, Any]) -> int:
        kwargs, extra = _split(body)
        try:
            res = self.sync_client.messages.count_tokens(**kwargs, extra_body=extra or None)
        except anthropic.AnthropicError as exc:
            raise map_error(exc, self._key) from None
        return int(res.input_tokens)

    async def acount(self, body: dict[str, Any], timeout: float | None = None) -> int:
        """``timeout``: this attempt's share of the caller's time budget (default: the client's timeout)."""
        kwargs, extra = _split(body)
        if timeout is not None:
            kwargs["timeout"] = min(timeout, self._timeout)
        try:
            res = await self.async_client.messages.count_tokens(**kwargs, extra_body=extra or None)
        except anthropic.AnthropicError as exc:
            raise map_error(exc, self._key) from None
        return int(res.input_tokens)

    def list_models(self) -> list[dict[str, Any]]:
        """``GET /v1/models``, every page (for sync callers: the CLI, the magics)."""
        try:
            return [m.model_dump(mode="json", exclude_none=True) for m in self.sync_client.models.list(limit=1000)]
        except anthropic.AnthropicError as exc:
            raise map_error(exc, self._key) from None

    async def alist_models(self) -> list[dict[str, Any]]:
        """``GET /v1/models``, every page."""
        out: list[dict[str, Any]] = []
        try:
            async for m in self.async_client.models.list(limit=1000):
                out.append(m.model_dump(mode="json", exclude_none=True))
        except anthropic.AnthropicError as exc:
            raise map_error(exc, self._key) from None
        return out
