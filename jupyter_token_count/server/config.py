"""Traitlets configuration of the server extension, e.g. in ``jupyter_server_config.py``::

    c.TokenCountConfig.rpm = 100
    c.TokenCountConfig.mode = "offline"

or on the command line (``jupyter lab --TokenCountConfig.rpm=100``). Unset traits fall back to the same
environment variables ``Settings.from_env`` reads, then to the package defaults. The API key itself is
never configured here: only the name of the environment variable that holds it, so no config file, log
or ``--help-all`` output can ever contain it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

from traitlets import Bool, Enum, Float, Integer, Unicode, default, validate
from traitlets.config import Configurable

from ..config import (
    ENV_BASE_URL,
    ENV_MODE,
    ENV_MODEL,
    ENV_REDIS_URL,
    MODES,
    Settings,
    default_data_dir,
)
from ..config import default_model as _default_model

if TYPE_CHECKING:
    from ..hub import HubSettings


class TokenCountConfig(Configurable):
    """Settings of the jupyter-token-count server extension (one counter, cache and rate limit per server;
    with `redis_url`, a cache and a rate budget shared by all the servers of a hub)."""

    api_key_env = Unicode(
        "ANTHROPIC_API_KEY",
        config=True,
        help="Name of the environment variable holding the Anthropic API key (the key is read from the "
        "server's environment on each request and never sent to the browser).",
    )
    base_url = Unicode(
        None,
        allow_none=True,
        config=True,
        help=f"Base URL of the Anthropic API (default: ${ENV_BASE_URL}, else the SDK's default).",
    )
    default_model = Unicode(
        config=True,
        help=f"Default model for requests that name none (default: ${ENV_MODEL}, else the registry's default).",
    )
    mode = Enum(
        list(MODES),
        config=True,
        help="auto: exact counts through the API when a key is set, else the offline estimate (and the "
        "estimate, with its reason, when the API fails or the rate limit is reached); api: always the API, "
        f"errors are returned; offline: never call the API. Default: ${ENV_MODE}, else auto.",
    )
    rpm = Integer(
        Settings.rpm,
        config=True,
        help="Cap on count_tokens requests per minute for the whole server. The API's limit is per "
        "organisation (2,000/min on the lowest published tier): on a hub, share one budget with redis_url and "
        "hub_rpm (this cap still holds for each server, and alone while Redis is unavailable). A 429 halves the "
        "rate, which then grows back over two minutes. Above it, auto mode answers with the offline estimate.",
    )
    cache_dir = Unicode(
        config=True,
        help="Directory of the persistent count cache (SQLite, shared with kernels). Empty string: "
        "memory only. Default: $JUPYTER_TOKEN_COUNT_DATA_DIR, else <jupyter data dir>/jupyter_token_count.",
    )
    max_request_bytes = Integer(
        Settings.max_request_bytes,
        config=True,
        help="Largest request body accepted, in bytes (the API's limit is 32 MB). Larger bodies are "
        "rejected with 413 from their Content-Length, before they are read.",
    )
    timeout = Float(
        Settings.timeout,
        config=True,
        help="Seconds one count may take upstream, every retry included (one time budget, so retries never "
        "multiply the wait). Api mode answers 504 past it.",
    )
    max_retries = Integer(
        Settings.max_retries,
        config=True,
        help="Retries of a transient API failure (within `timeout`) before falling back.",
    )
    max_retry_wait = Float(
        Settings.max_retry_wait,
        config=True,
        help="Longest 429 retry-after waited out; longer pauses answer with the estimate (auto mode).",
    )
    max_concurrency = Integer(
        Settings.max_concurrency, config=True, help="Distinct count_tokens requests in flight at once."
    )
    deadline = Float(
        Settings.deadline,
        config=True,
        help="Auto mode: seconds a count may wait for the API before the offline estimate answers (marked "
        "pending); the exact count goes on in the background and lands in the cache. A request's deadline_ms "
        "overrides it. Api mode waits up to `timeout` and answers 504 past it.",
    )
    estimate_timeout = Float(
        Settings.estimate_timeout,
        config=True,
        help="Seconds an offline estimate may take (per answer). Past them, the text not tokenized yet is "
        "costed from its length, and the answer says so (≈, 'rough' in its reason): no input holds a thread "
        "of the server for longer.",
    )
    cell_counts = Bool(
        Settings.cell_counts,
        config=True,
        help="Count each cell exactly as background work, so badges lose their ≈ (the notebook total never "
        "waits for these). False: cell shares always come from the offline tokenizer.",
    )
    background_share = Float(
        Settings.background_share,
        config=True,
        help="Share of the rate cap (rpm) that background per-cell counts may use, from 0 to 1.",
    )
    redis_url = Unicode(
        config=True,
        help="JupyterHub: a Redis shared by all single-user servers (redis://[:password@]host:6379/0, rediss:// "
        "for TLS, unix:///path.sock). Servers that use the same API key then share exact counts, the rate cap "
        "`hub_rpm`, a 429's pause and one upstream call per request; servers with different keys share nothing "
        "(everything in Redis is namespaced by a keyed hash of the key, and its values are authenticated). Redis "
        f"down or slow never fails a count: each server goes on alone. Default: ${ENV_REDIS_URL}, else none. "
        "The password is never logged or shown.",
    )
    hub_rpm = Integer(
        0,
        config=True,
        help="With redis_url: count_tokens requests per minute for all the servers that use one API key, never "
        "exceeded in any 60 s (the API's limit is per organisation: set it to that limit less some headroom, "
        "divided by the keys of the organisation in use on the hub). Each server's own `rpm` still applies, and "
        "is all that applies while Redis is unavailable. 0: the same as rpm.",
    )
    redis_ttl_days = Float(7.0, config=True, help="With redis_url: days a shared count is kept in Redis.")
    redis_namespace = Unicode(
        "jupyter-token-count",
        config=True,
        help="With redis_url: prefix of every Redis key. Hubs sharing one Redis use different ones (within a "
        "namespace, each API key has its own entries and rate budget already).",
    )
    redis_timeout = Float(
        0.5, config=True, help="With redis_url: seconds one Redis call may take before Redis counts as unavailable."
    )
    notebook_copies = Integer(
        64,
        config=True,
        help="Notebooks whose cells the server keeps between two counts, so that an edit sends only the cells that "
        "changed (one copy per notebook open in a browser tab). The least recently used copy goes first; a browser "
        "whose copy is gone sends its notebook whole again.",
    )
    notebook_copies_mb = Float(
        256.0,
        config=True,
        help="Memory the kept notebook copies may take in all, in MB (estimated from their requests' sizes); above "
        "it the least recently used go. Each notebook is also held to max_request_bytes, as a whole post is.",
    )
    notebook_copy_minutes = Float(
        30.0,
        config=True,
        help="A kept notebook copy unused for this long is dropped (its browser sends the notebook whole again).",
    )
    models_refresh_minutes = Float(
        60.0,
        config=True,
        help="GET models refreshes context windows from the API's GET /v1/models at most this often "
        "(when a key is set).",
    )

    @default("base_url")
    def _base_url_default(self) -> str | None:
        return os.environ.get(ENV_BASE_URL) or None

    @default("default_model")
    def _model_default(self) -> str:
        return _default_model()

    @default("mode")
    def _mode_default(self) -> str:
        return os.environ.get(ENV_MODE) or "auto"

    @default("redis_url")
    def _redis_url_default(self) -> str:
        return os.environ.get(ENV_REDIS_URL, "").strip()

    @default("cache_dir")
    def _cache_dir_default(self) -> str:
        return str(default_data_dir())

    @validate("rpm", "max_request_bytes", "max_concurrency", "notebook_copies")
    def _positive_int(self, proposal: dict) -> int:
        if proposal["value"] < 1:
            raise ValueError(f"TokenCountConfig.{proposal['trait'].name} must be at least 1")
        return proposal["value"]

    @validate("hub_rpm")
    def _non_negative_rpm(self, proposal: dict) -> int:
        if proposal["value"] < 0:
            raise ValueError("TokenCountConfig.hub_rpm must not be negative (0: the same as rpm)")
        return proposal["value"]

    @validate("redis_namespace")
    def _namespace(self, proposal: dict) -> str:
        if not proposal["value"].strip():
            raise ValueError("TokenCountConfig.redis_namespace must not be empty")
        return proposal["value"].strip()

    @validate(
        "timeout",
        "models_refresh_minutes",
        "redis_ttl_days",
        "redis_timeout",
        "notebook_copies_mb",
        "notebook_copy_minutes",
        "estimate_timeout",
    )
    def _positive_float(self, proposal: dict) -> float:
        if not (math.isfinite(proposal["value"]) and proposal["value"] > 0):
            raise ValueError(f"TokenCountConfig.{proposal['trait'].name} must be a positive number (and finite)")
        return proposal["value"]

    @validate("deadline")
    def _deadline(self, proposal: dict) -> float:
        if not 0 <= proposal["value"] <= 60:
            raise ValueError("TokenCountConfig.deadline must be from 0 to 60 seconds")
        return proposal["value"]

    @validate("background_share")
    def _share(self, proposal: dict) -> float:
        if not 0 <= proposal["value"] <= 1:
            raise ValueError("TokenCountConfig.background_share must be from 0 to 1")
        return proposal["value"]

    @validate("max_retries")
    def _non_negative(self, proposal: dict) -> int:
        if proposal["value"] < 0:
            raise ValueError("TokenCountConfig.max_retries must not be negative")
        return proposal["value"]

    @validate("default_model")
    def _model_name(self, proposal: dict) -> str:
        if not proposal["value"].strip():
            raise ValueError("TokenCountConfig.default_model must be a model id such as 'claude-sonnet-5-5'")
        return proposal["value"].strip()

    def settings(self) -> Settings:
        """The core's settings from these traits (the key stays in the environment: ``Settings.api_key``
        reads ``api_key_env`` on each use, so a key exported after start-up is picked up)."""
        return Settings(
            api_key_env=self.api_key_env,
            base_url=self.base_url or None,
            model=self.default_model,
            mode=self.mode,
            rpm=self.rpm,
            data_dir=Path(self.cache_dir).expanduser() if self.cache_dir else None,
            max_request_bytes=self.max_request_bytes,
            timeout=self.timeout,
            max_retries=self.max_retries,
            max_retry_wait=self.max_retry_wait,
            max_concurrency=self.max_concurrency,
            deadline=self.deadline,
            estimate_timeout=self.estimate_timeout,
            cell_counts=self.cell_counts,
            background_share=self.background_share,
        )

    def hub_settings(self) -> HubSettings | None:
        """The shared level's settings, or None without ``redis_url``."""
        if not self.redis_url.strip():
            return None
        from ..hub import HubSettings

        return HubSettings(
            url=self.redis_url.strip(),
            ttl=self.redis_ttl_days * 86400,
            rpm=self.hub_rpm or self.rpm,
            namespace=self.redis_namespace,
            op_timeout=self.redis_timeout,
        )
