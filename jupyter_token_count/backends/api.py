"""The exact backend: Anthropic's official SDK, ``client.messages.count_tokens``, or with betas
``client.beta.messages.count_tokens(betas=...)`` (which sends them as the ``anthropic-beta`` header, with the
token-counting beta it adds itself).

Retries are ours, not the SDK's (``max_retries=0``): the counter decides whether a 429 is worth
waiting out or should be answered with an estimate now, and its limiter must learn every retry-after.
"""

from __future__ import annotations

import math
import re
import time
from email.utils import parsedate_to_datetime
from typing import Any

import anthropic

from ..cache import MAX_TOKENS, Entry
from ..errors import (
    ApiAuthError,
    ApiBadResponse,
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
from ..limiter import MAX_PAUSE
from ..request import CountRequest

#: Body fields passed as the SDK's typed keyword arguments (of both count methods); anything else goes in
#: ``extra_body`` so that the bytes on the wire are exactly our body (``output_format`` is not typed any more).
_SDK_KWARGS = ("model", "messages", "system", "tools", "tool_choice", "thinking", "output_config", "cache_control")
#: further typed keyword arguments of ``beta.messages.count_tokens``
_BETA_KWARGS = ("context_management", "mcp_servers", "compaction", "billing_policy")

_KEY_PATTERN = re.compile(r"sk-ant-[A-Za-z0-9_\-]{8,}")


def redact(text: str, key: str | None = None) -> str:
    """Belt and braces: an error text must never carry a key, even if a proxy echoed one."""
    if key:
        text = text.replace(key, "[redacted]")
    return _KEY_PATTERN.sub("[redacted]", text)


def _beta(req: CountRequest) -> bool:
    """Whether ``req`` goes to the beta count endpoint: it has betas, or a field only that endpoint takes."""
    return bool(req.betas) or any(k in req.body for k in _BETA_KWARGS)


def _split(req: CountRequest) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the SDK's keyword arguments, ``extra_body``) for ``req``; betas and header fields are keyword arguments."""
    typed = (*_SDK_KWARGS, *_BETA_KWARGS) if _beta(req) else _SDK_KWARGS
    kwargs = {k: v for k, v in req.body.items() if k in typed}
    extra = {k: v for k, v in req.body.items() if k not in typed}
    kwargs.update(dict(req.headers))
    if req.betas:
        kwargs["betas"] = list(req.betas)
    return kwargs, extra


#: Longest wait a ``retry-after`` / ``retry-after-ms`` header can impose (seconds): the limiter's cap. A larger
#: value is capped to it, an infinite one too; a negative, NaN or unparsable one is ignored. One bad header must
#: not pause exact counting until the server restarts.
MAX_RETRY_AFTER = MAX_PAUSE

#: Largest ``input_tokens`` believed from the API (50 times the largest context window of any model), and from
#: every cache: a larger (or negative, fractional, non-numeric) answer is an ``ApiBadResponse``, never cached.
MAX_INPUT_TOKENS = MAX_TOKENS


def _seconds(value: str, scale: float) -> float | None:
    try:
        seconds = float(value) * scale
    except (TypeError, ValueError):
        if scale != 1.0:
            return None
        try:  # retry-after may be an HTTP date
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if math.isnan(seconds) or seconds < 0:
        return None
    return min(seconds, MAX_RETRY_AFTER)


def _retry_after(headers: Any) -> float | None:
    """Seconds to wait from ``retry-after-ms`` (preferred) or ``retry-after``, capped at MAX_RETRY_AFTER."""
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        seconds = _seconds(str(value).strip(), scale)
        if seconds is not None:
            return seconds
    return None


def checked_tokens(value: Any) -> int:
    """``input_tokens`` from a 200 answer, if believable; ApiBadResponse otherwise."""
    if value is None:
        raise ApiBadResponse("the API answered 200 without input_tokens")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiBadResponse(
            f"the API answered 200 with input_tokens = {str(value)[:40]!r} ({type(value).__name__}), not a whole number"
        )
    if not 0 <= value <= MAX_INPUT_TOKENS:
        raise ApiBadResponse(
            f"the API answered 200 with an impossible input_tokens = {value} "
            f"(believed between 0 and {MAX_INPUT_TOKENS:,})"
        )
    return value


def _answer(res: Any) -> Entry:
    """The SDK builds its response object without validating it: read the fields as sent. With context editing
    the answer also says what the request counted before its edits (``context_management.original_input_tokens``)."""
    fields = getattr(res, "__dict__", None)
    value = fields.get("input_tokens") if isinstance(fields, dict) else None
    if value is None and not isinstance(fields, dict):
        raise ApiBadResponse(f"the API answered 200 with a body that is not a JSON object ({type(res).__name__})")
    n = checked_tokens(value)
    cm = fields.get("context_management") if isinstance(fields, dict) else None
    cm_fields = cm if isinstance(cm, dict) else getattr(cm, "__dict__", None)
    original = cm_fields.get("original_input_tokens") if isinstance(cm_fields, dict) else None
    return Entry(n, None if original is None else checked_tokens(original))


def map_error(exc: Exception, key: str | None = None) -> ApiError:
    """SDK exception → our exception type, carrying the API's own message."""
    if isinstance(exc, anthropic.APIResponseValidationError):
        return ApiBadResponse(redact(f"the API answered {exc.status_code} with a body the SDK cannot read", key))
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

    def count(self, req: CountRequest) -> Entry:
        kwargs, extra = _split(req)
        messages = self.sync_client.beta.messages if _beta(req) else self.sync_client.messages
        try:
            res = messages.count_tokens(**kwargs, extra_body=extra or None)
        except anthropic.AnthropicError as exc:
            raise map_error(exc, self._key) from None
        except ValueError:  # the SDK parses a 200 declared as JSON without catching a decoding error
            raise ApiBadResponse("the API answered 200 with a body that is not valid JSON") from None
        return _answer(res)

    async def acount(self, req: CountRequest, timeout: float | None = None) -> Entry:
        """``timeout``: this attempt's share of the caller's time budget (default: the client's timeout)."""
        kwargs, extra = _split(req)
        if timeout is not None:
            kwargs["timeout"] = min(timeout, self._timeout)
        messages = self.async_client.beta.messages if _beta(req) else self.async_client.messages
        try:
            res = await messages.count_tokens(**kwargs, extra_body=extra or None)
        except anthropic.AnthropicError as exc:
            raise map_error(exc, self._key) from None
        except ValueError:  # the SDK parses a 200 declared as JSON without catching a decoding error
            raise ApiBadResponse("the API answered 200 with a body that is not valid JSON") from None
        return _answer(res)

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
