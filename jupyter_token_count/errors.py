"""Our exception types. Every message is one line a user can act on; none ever contains the API key."""

from __future__ import annotations

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
]


class TokenCountError(Exception):
    """Base of everything this package raises on purpose."""


class InputError(TokenCountError, ValueError):
    """What the user gave us cannot become a valid count request. ``where`` names the place:
    ``messages[2].content[1]``, ``cell 4 (id 'abc')``, ``file 'scan.png'``."""

    def __init__(self, message: str, where: str | None = None) -> None:
        self.message = message
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)

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


class ApiError(TokenCountError):
    """The count_tokens endpoint answered with an error, or could not be reached."""

    #: a transient failure: in ``auto`` mode we answer with the offline estimate instead
    transient: bool = False
    status: int | None = None

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


class InvalidRequest(ApiError):
    """400: the request itself is wrong. Never replaced by an estimate: an estimate of a wrong request misleads."""

    status = 400


class ApiAuthError(ApiError):
    """401/403: the key is missing, wrong, or lacks permission."""

    status = 401
    transient = True  # the request is fine; in auto mode an estimate is still useful


class ApiNotFound(ApiError):
    """404: usually an unknown model id."""

    status = 404


class ApiRequestTooLarge(ApiError):
    status = 413


class ApiRateLimited(ApiError):
    status = 429
    transient = True


class ApiServerError(ApiError):
    status = 500
    transient = True


class ApiOverloaded(ApiError):
    status = 529
    transient = True


class ApiTimeout(ApiError):
    transient = True


class ApiConnectionError(ApiError):
    transient = True


class ApiBadResponse(ApiError):
    """A 2xx whose body is not a believable answer (not JSON, no ``input_tokens``, not a non-negative
    integer of sane size). Transient: it is never believed or cached; auto mode answers with the estimate."""

    status = 200
    transient = True
