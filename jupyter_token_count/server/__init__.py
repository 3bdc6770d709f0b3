"""The Jupyter server extension: REST endpoints under ``{base_url}jupyter-token-count/`` that count
tokens for the JupyterLab front end, so the API key stays on the server and every open notebook shares
one cache and one rate limit. Enabled on install by ``jupyter-config/jupyter_server_config.d``."""

from __future__ import annotations

from typing import Any

from .config import TokenCountConfig
from .handlers import setup_handlers
from .service import TokenCountService

__all__ = ["TokenCountConfig", "TokenCountService", "load_jupyter_server_extension"]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    return [{"module": "jupyter_token_count.server"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    # owned by the server app, so c.TokenCountConfig.* from any Jupyter config source applies
    config = TokenCountConfig(parent=serverapp)
    service = TokenCountService(config, log=serverapp.log)
    setup_handlers(serverapp.web_app, service)
    s = service.settings
    serverapp.log.info(
        "jupyter-token-count: mode %s, backend %s (key %s in $%s), %d requests/min, cache %s",
        s.mode, service.counter.backend_name, "set" if s.key_configured else "not set", s.api_key_env,
        s.rpm, s.data_dir or "in memory only",
    )


# the name jupyter_server < 2 and `jupyter serverextension` looked for
load_jupyter_server_extension = _load_jupyter_server_extension
