"""What one Jupyter server shares between all its open notebooks: one ``Counter`` (so one cache, one
single-flight table and one rate limiter) and the model list refreshed from the API now and then."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from .. import __version__, registry
from ..backends.api import ApiBackend, redact
from ..counter import Counter
from ..errors import ApiError
from .config import TokenCountConfig
from .notebooks import NotebookStates

#: after a failed GET /v1/models, try again no sooner than this (seconds), however long the refresh interval
RETRY_FAILED_REFRESH = 60.0


class TokenCountService:
    def __init__(self, config: TokenCountConfig, log: logging.Logger | None = None) -> None:
        self.config = config
        self.settings = config.settings()
        self.log = log or logging.getLogger(__name__)
        hub_settings = config.hub_settings()
        self.hub = None
        if hub_settings is not None:
            from ..hub import RedisHub  # redis-py only when a hub uses it

            self.hub = RedisHub(hub_settings, self.log)
        self.counter = Counter(self.settings, shared=self.hub)
        #: the cells of the notebooks open in browsers, so that an edit sends only what changed
        self.notebooks = NotebookStates(
            config.notebook_copies, int(config.notebook_copies_mb * 2**20), config.notebook_copy_minutes * 60
        )
        self.models_requests = 0
        self._models_lock: asyncio.Lock | None = None
        self._refreshed_at: float | None = None  # time.time() of the last successful refresh
        self._next_refresh = 0.0  # time.monotonic() before which no refresh is attempted
        self._refresh_error: str | None = None
        self._api_models: list[str] = []  # ids the API listed, newest first
        self._refreshed_for: tuple[str, str | None] | None = None

    # -- models ------------------------------------------------------------------------------------
    def _refresh_wanted(self) -> bool:
        s = self.settings
        return s.mode != "offline" and s.key_configured

    async def refresh_models(self) -> None:
        """GET /v1/models at most every ``models_refresh_minutes``; one call however many ask at once."""
        if not self._refresh_wanted():
            return
        key = self.settings.api_key
        assert key
        ident = (key, self.settings.origin)
        if self._refreshed_for is not None and self._refreshed_for != ident:
            self._next_refresh = 0.0  # a different key or URL may see different models
        if time.monotonic() < self._next_refresh:
            return
        if self._models_lock is None:
            self._models_lock = asyncio.Lock()
        async with self._models_lock:
            if time.monotonic() < self._next_refresh:  # refreshed while we waited for the lock
                return
            backend = ApiBackend(key, self.settings.origin, self.settings.timeout)
            self.models_requests += 1
            try:
                listed = await backend.alist_models()
            except ApiError as exc:
                self._refresh_error = redact(str(exc), key)
                self._next_refresh = time.monotonic() + min(
                    RETRY_FAILED_REFRESH, self.config.models_refresh_minutes * 60
                )
                self.log.warning("jupyter-token-count: could not refresh models from the API: %s", self._refresh_error)
                return
            finally:
                await backend.async_client.close()
            changed = registry.update_from_api(listed)
            self._api_models = [m["id"] for m in listed if isinstance(m.get("id"), str)]
            self._refreshed_at = time.time()
            self._refreshed_for = ident
            self._refresh_error = None
            self._next_refresh = time.monotonic() + self.config.models_refresh_minutes * 60
            self.log.debug(
                "jupyter-token-count: %d models from the API, %d registry records updated", len(listed), changed
            )

    def api_model_ids(self) -> list[str] | None:
        """The ids the API listed at the last refresh, or None when there is no fresh list to trust."""
        return list(self._api_models) if self._refreshed_at is not None and self._refresh_wanted() else None

    def models(self) -> dict[str, Any]:
        entries = [m.to_dict() for m in registry.all_models()]
        listed_here = {e["id"] for e in entries} | {a for e in entries for a in e["aliases"]}
        fresh = self._refreshed_at is not None and self._refresh_wanted()
        if fresh:
            # models the account can use that the bundled registry does not know yet (newer releases)
            extra = [registry.resolve(mid).to_dict() for mid in self._api_models if mid not in listed_here]
            entries = extra + entries
        out: dict[str, Any] = {
            "default_model": self.settings.model,
            "refreshed_from_api": fresh,
            "models": entries,
        }
        if fresh:
            out["refreshed_at"] = self._refreshed_at
        if self._refresh_error and self._refresh_wanted():
            out["refresh_error"] = self._refresh_error
        return out

    # -- status ------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        from ..backends import offline

        s = self.settings
        stats = self.counter.stats()
        return {
            "backend": self.counter.backend_name,
            "mode": s.mode,
            "key_configured": s.key_configured,
            "api_key_env": s.api_key_env,
            "default_model": s.model,
            "estimator": offline.estimator_name(),
            "cache": stats["cache"],
            "upstream_requests": stats["upstream_requests"],
            "fallbacks": stats["fallbacks"],
            "rate_limit": stats["rate_limit"],
            "hub": stats["hub"],
            "models_requests": self.models_requests,
            "notebooks": self.notebooks.stats(),
            "max_request_bytes": s.max_request_bytes,
            "version": __version__,
        }
