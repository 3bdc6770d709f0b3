"""Our exception types. Every message is one line a user can act on; none ever contains the API key."""

from __future__ import annotations

from typing import Protocol

__all__ = [
    "ApiAuthError",
    "ApiBadResponse",
    "ApiConnectionError",
    "ApiError",
    "ApiNotFound",
    "ApiOverloaded",
    "ApiRateLimited",
    "ApiRequestTooLarge",
    "ApiServerError",
    "ApiTimeout",
    "ConfigError",
    "InputError",
    "InvalidRequest",
    "TokenCountError",
    "UnknownModel",
    "shown",
]


#: the CLI's exit codes (``jupyter-token-count``): every input counted and within its budgets; counted, but over a
#: budget; bad input (a file, a cell, an option); a count could not be made (the API, the configuration)
EXIT_OK, EXIT_OVER_BUDGET, EXIT_BAD_INPUT, EXIT_COULD_NOT_COUNT = 0, 1, 2, 3
#: interrupted with Ctrl-C (128 + SIGINT, as shells report it)
EXIT_INTERRUPTED = 130

#: the most characters of a value from the input that a message quotes (a 1 MB model id is not echoed whole)
MAX_SHOWN = 80
#: the most characters of a message and of its place: a net under every message built from input
MAX_MESSAGE = 2000


def shown(value: object, limit: int = MAX_SHOWN) -> str:
    """``repr(value)`` for a message, cut to about ``limit`` characters (saying how long a long string was)."""
    text = repr(value)
    if len(text) <= limit:
        return text
    size = f" ({len(value):,} characters)" if isinstance(value, str) else ""
    return f"{text[: limit - 1]}…{size}"


class ErrorSettings(Protocol):
    """What an error's words name of the configuration (``config.Settings`` is one): the variable the key is read
    from, the rate cap and the timeout. Named here so that errors, which everything imports, import nothing."""

    @property
    def api_key_env(self) -> str: ...
    @property
    def rpm(self) -> int: ...
    @property
    def timeout(self) -> float: ...


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


class TokenCountError(Exception):
    """Base of everything this package raises on purpose. Each class says, once, how every surface answers it:
    the server's HTTP status and error type, the CLI's exit code, and the words a user reads."""

    #: the server's answer (openapi.yaml's error ``type`` values)
    http_status: int = 500
    http_type: str = "internal_error"
    #: the CLI's exit code
    exit_code: int = EXIT_COULD_NOT_COUNT

    def user_message(self, settings: ErrorSettings | None = None) -> str:
        """One line a user can act on (what the server answers and the widgets show)."""
        return str(self)

    def reply_type(self) -> str:
        return self.http_type


class InputError(TokenCountError, ValueError):
    """What the user gave us cannot become a valid count request. ``where`` names the place:
    ``messages[2].content[1]``, ``cell 4 (id 'abc')``, ``file 'scan.png'``."""

    http_status = 400
    http_type = "invalid_request_error"
    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, where: str | None = None) -> None:
        self.message = _cut(message, MAX_MESSAGE)
        self.where = _cut(where, MAX_MESSAGE // 4) if where else where
        super().__init__(f"{self.where}: {self.message}" if self.where else self.message)

    def at(self, outer: str) -> InputError:
        """The same error, located inside ``outer`` (a file, a cell, a CLI input)."""
        where = f"{outer}, {self.where}" if self.where else outer
        return InputError(self.message, where)


class UnknownModel(InputError):
    """A model id that neither the registry nor the API's model list knows; the message names the closest ids."""

    def __init__(self, message: str, model: str = "", suggestions: list[str] | None = None) -> None:
        super().__init__(message)  # defaults: an exception is re-created from its message when unpickled
        self.model = model
        self.suggestions = suggestions or []

    def at(self, outer: str) -> InputError:
        located = UnknownModel(self.message, self.model, self.suggestions)
        located.where = outer
        located.args = (f"{outer}: {self.message}",)
        return located


class ConfigError(TokenCountError):
    """The configuration cannot do what was asked (e.g. ``mode='api'`` with no key)."""

    http_status = 400
    http_type = "config_error"


class ApiError(TokenCountError):
    """The count_tokens endpoint answered with an error, or could not be reached. The server answers these only
    in mode ``api``; auto mode answers a transient one with the estimate and ``reason()``."""

    #: a transient failure: in ``auto`` mode we answer with the offline estimate instead
    transient: bool = False
    status: int | None = None
    http_status = 502
    http_type = "upstream_error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_type: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.message = message
        if status is not None:
            self.status = status
        self.error_type = error_type
        self.request_id = request_id
        self.retry_after = retry_after
        prefix = f"{self.status} {error_type}" if self.status and error_type else (str(self.status or ""))
        super().__init__(f"{prefix}: {message}" if prefix else message)

    def reason(self, settings: ErrorSettings) -> str:
        """Why this failure left us with an estimate, in words a user can act on."""
        return f"API error {self.status}: {self.message}"

    def user_message(self, settings: ErrorSettings | None = None) -> str:
        return self.reason(settings) if settings is not None else self.message

    @property
    def reply_retry_after(self) -> float | None:
        """The ``Retry-After`` of the server's answer (429 and 503 only)."""
        return self.retry_after if self.http_status in (429, 503) else None


class InvalidRequest(ApiError):
    """400: the request itself is wrong. Never replaced by an estimate: an estimate of a wrong request misleads."""

    status = 400
    http_status = 400
    http_type = "invalid_request_error"
    exit_code = EXIT_BAD_INPUT

    def user_message(self, settings: ErrorSettings | None = None) -> str:
        return f"the API rejected the request: {self.message}"

    def reply_type(self) -> str:
        return self.error_type or self.http_type


class ApiAuthError(ApiError):
    """401/403: the key is missing, wrong, or lacks permission."""

    status = 401
    transient = True  # the request is fine; in auto mode an estimate is still useful
    http_type = "upstream_auth_error"

    def reason(self, settings: ErrorSettings) -> str:
        return f"API key rejected ({self.status}: {self.message}); check {settings.api_key_env}"


class ApiNotFound(ApiError):
    """404: usually an unknown model id."""

    status = 404
    http_status = 404
    http_type = "not_found_error"

    def user_message(self, settings: ErrorSettings | None = None) -> str:
        return f"the API answered 404: {self.message}"

    def reply_type(self) -> str:
        return self.error_type or self.http_type


class ApiRequestTooLarge(ApiError):
    status = 413
    http_status = 413
    http_type = "request_too_large"
    exit_code = EXIT_BAD_INPUT

    def user_message(self, settings: ErrorSettings | None = None) -> str:
        return f"the API says the request is too large: {self.message}"


class ApiRateLimited(ApiError):
    """429 from the API, or this process's own cap (no request id, no error type: nothing was sent)."""

    status = 429
    transient = True
    http_status = 429
    http_type = "rate_limit_error"

    @property
    def own_cap(self) -> bool:
        return self.request_id is None and self.error_type is None

    def reason(self, settings: ErrorSettings) -> str:
        wait = f"; exact count in {self.retry_after:.0f}s" if self.retry_after else ""
        if self.own_cap:
            return f"rate limited ({settings.rpm} requests/min cap){wait}"
        return f"rate limited by the API (429){wait}"

    def user_message(self, settings: ErrorSettings | None = None) -> str:
        if settings is not None and self.own_cap:
            return f"this server's rate limit ({settings.rpm} requests/min, TokenCountConfig.rpm): {self.message}"
        return super().user_message(settings)


class ApiServerError(ApiError):
    status = 500
    transient = True


class ApiOverloaded(ApiError):
    status = 529
    transient = True
    http_status = 503
    http_type = "overloaded_error"

    def reason(self, settings: ErrorSettings) -> str:
        return "the API is overloaded (529)"


class ApiTimeout(ApiError):
    transient = True
    http_status = 504
    http_type = "timeout_error"

    def reason(self, settings: ErrorSettings) -> str:
        return f"the API did not answer within {settings.timeout:g}s"


class ApiConnectionError(ApiError):
    transient = True
    http_type = "upstream_unreachable"

    def reason(self, settings: ErrorSettings) -> str:
        return f"API unreachable: {self.message}"


class ApiBadResponse(ApiError):
    """A 2xx whose body is not a believable answer (not JSON, no ``input_tokens``, not a non-negative
    integer of sane size). Transient: it is never believed or cached; auto mode answers with the estimate."""

    status = 200
    transient = True

    def reason(self, settings: ErrorSettings) -> str:
        return f"the API's answer could not be used: {self.message}"

    def user_message(self, settings: ErrorSettings | None = None) -> str:
        return f"the API's answer could not be used: {self.message}"
