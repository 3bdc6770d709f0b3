"""Settings shared by every surface: where the key comes from, which model and mode, limits, cache place.

Read from the environment by default; the server extension and magics override fields from traitlets.
The key itself is held privately and never appears in a repr, a log line or an error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import registry
from .errors import ConfigError, InputError, shown

MODES: tuple[str, ...] = ("auto", "api", "offline")

ENV_MODEL = "JUPYTER_TOKEN_COUNT_MODEL"
ENV_MODE = "JUPYTER_TOKEN_COUNT_MODE"
ENV_DATA_DIR = "JUPYTER_TOKEN_COUNT_DATA_DIR"
ENV_BASE_URL = "ANTHROPIC_BASE_URL"
#: JupyterHub: the Redis every single-user server shares (server extension only, see ``hub.py``)
ENV_REDIS_URL = "JUPYTER_TOKEN_COUNT_REDIS_URL"

#: The API's request-size limit on standard endpoints.
MAX_REQUEST_BYTES = 32 * 1024 * 1024

#: where the SDK sends requests when no base URL is set
DEFAULT_BASE_URL = "https://api.anthropic.com"


def api_origin(base_url: str | None) -> str:
    """The API a base URL reaches, in one spelling: scheme and host lower-cased, no trailing slash; None means
    what the SDK would use (``$ANTHROPIC_BASE_URL``, else Anthropic's API). Exact counts are kept apart by it."""
    from urllib.parse import urlsplit, urlunsplit

    url = (base_url or os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL).strip()
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rsplit("@", 1)
        netloc[-1] = netloc[-1].lower()
        url = urlunsplit((parts.scheme.lower(), "@".join(netloc), parts.path, parts.query, ""))
    except ValueError:
        pass  # not a URL: the SDK will say so when asked; as a key it is just a string
    return url.rstrip("/")


def check_mode(mode: str) -> str:
    # an InputError (a ValueError too): count_tokens(mode=...) is the caller's input, answered as any other
    if not isinstance(mode, str) or mode not in MODES:
        raise InputError(f"expected one of {', '.join(MODES)}, got {shown(mode)}", "mode")
    return mode


def default_model() -> str:
    """The model of a request that names none: ``$JUPYTER_TOKEN_COUNT_MODEL``, else the registry's default."""
    return os.environ.get(ENV_MODEL) or registry.default_model()


def default_data_dir() -> Path:
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env).expanduser()
    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()) / "jupyter_token_count"


@dataclass(frozen=True)
class Settings:
    api_key_env: str = "ANTHROPIC_API_KEY"
    base_url: str | None = None
    model: str = field(default_factory=registry.default_model)
    mode: str = "auto"
    #: requests per minute to the count endpoint from this process. The endpoint's limit is per organisation
    #: (2,000/min on the lowest published tier, 2026); a server keeps to a quarter of that, and halves its
    #: rate on a 429 before growing back
    rpm: int = 500
    data_dir: Path | None = None  # None: no persistent cache
    max_request_bytes: int = MAX_REQUEST_BYTES
    timeout: float = 15.0
    #: retries of a transient failure before giving up (auto mode then answers with an estimate)
    max_retries: int = 2
    #: the longest a 429's retry-after is waited out; longer pauses answer with an estimate (auto mode)
    max_retry_wait: float = 10.0
    #: identical requests in flight at once share one call; this bounds distinct ones
    max_concurrency: int = 8
    #: auto mode, the server's answers: seconds a count may wait for the API before the estimate answers
    #: (the exact count goes on in the background and lands in the cache)
    deadline: float = 2.0
    #: seconds an offline estimate may take; past them the rest of its text is costed from its length and the
    #: answer says so (no input holds a thread, or the server, longer)
    estimate_timeout: float = 10.0
    #: exact per-cell counts as background work (after every notebook total, within ``background_share``)
    cell_counts: bool = True
    #: the share of the rate budget background work may use
    background_share: float = 0.25
    _api_key: str | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        mode = os.environ.get(ENV_MODE) or "auto"
        if mode not in MODES:  # a configuration problem, not a bad argument: say which variable
            raise ConfigError(f"${ENV_MODE} must be one of {', '.join(MODES)}, not {mode!r}")
        s = cls(
            base_url=os.environ.get(ENV_BASE_URL) or None,
            model=default_model(),
            mode=mode,
            data_dir=default_data_dir(),
        )
        api_key = overrides.pop("api_key", None)
        s = replace(s, **overrides)  # type: ignore[arg-type]
        if api_key is not None:
            s = s.with_api_key(str(api_key))
        return s

    def with_api_key(self, key: str | None) -> Settings:
        return replace(self, _api_key=key or None)

    @property
    def api_key(self) -> str | None:
        """The explicit key, else the environment variable named by ``api_key_env`` (read each time, so a
        key exported after start-up is picked up)."""
        return self._api_key or os.environ.get(self.api_key_env) or None

    @property
    def key_configured(self) -> bool:
        return bool(self.api_key)

    @property
    def origin(self) -> str:
        """The API this configuration counts with (its base URL, normalised): see ``api_origin``."""
        return api_origin(self.base_url)

    def __repr__(self) -> str:  # never show the key, only whether there is one
        fields = ", ".join(
            f"{k}={getattr(self, k)!r}"
            for k in ("api_key_env", "base_url", "model", "mode", "rpm", "data_dir", "max_request_bytes")
        )
        return f"Settings({fields}, key_configured={self.key_configured})"
