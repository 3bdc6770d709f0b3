"""The Jupyter server extension: REST endpoints under ``{base_url}jupyter-token-count/`` that count
tokens for the JupyterLab front end, so the API key stays on the server and every open notebook shares
one cache and one rate limit. Enabled on install by ``jupyter-config/jupyter_server_config.d``."""

from __future__ import annotations

import gc
import threading
from typing import Any

from .config import TokenCountConfig
from .handlers import setup_handlers
from .service import TokenCountService

__all__ = ["TokenCountConfig", "TokenCountService"]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    # owned by the server app, so c.TokenCountConfig.* from any Jupyter config source applies
    config = TokenCountConfig(parent=serverapp)
    service = TokenCountService(config, log=serverapp.log)
    setup_handlers(serverapp.web_app, service)
    threading.Thread(target=_warm_up, args=(service,), name="jupyter-token-count-warm-up", daemon=True).start()
    s = service.settings
    serverapp.log.info(
        "jupyter-token-count: mode %s, backend %s (key %s in $%s), %d requests/min, cache %s",
        s.mode,
        service.counter.backend_name,
        "set" if s.key_configured else "not set",
        s.api_key_env,
        s.rpm,
        s.data_dir or "in memory only",
    )
    if service.hub is not None:
        from ..hub import safe_url

        h = service.hub.settings
        serverapp.log.info(
            "jupyter-token-count: sharing counts and a %d requests/min budget through Redis at %s",
            h.rpm,
            safe_url(h.url),
        )


def _warm_up(service: TokenCountService) -> None:
    """Load the default model's offline tokenizer now rather than on the first keystroke, then freeze what is
    alive: the vocabulary is hundreds of thousands of long-lived objects, and without the freeze every full
    garbage collection scans them, a 200+ ms pause in whichever request triggers it (measured in
    bench/browser_latency.py)."""
    from .. import registry
    from ..backends import offline

    try:
        offline.estimate(
            {"model": service.settings.model, "messages": [{"role": "user", "content": "warm up"}]},
            registry.resolve(service.settings.model),
        )
        if service.settings.mode != "offline":
            # the SDK takes seconds to import: not in the first count's deadline
            from ..backends import api  # noqa: F401
    except Exception as exc:  # never let a warm-up failure touch the server; counting will report it
        service.log.debug("jupyter-token-count: warm-up failed: %s", exc)
        return
    gc.collect()
    gc.freeze()
