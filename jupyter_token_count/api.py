"""The Python entry point: ``count_tokens(...)`` with one process-wide counter behind it."""

from __future__ import annotations

import threading
from typing import Any

from .config import Settings
from .counter import Counter
from .request import build_request
from .result import TokenCount

_lock = threading.Lock()
_default: Counter | None = None


def get_counter() -> Counter:
    """The process-wide counter (one cache, one rate limiter), created from the environment on first use."""
    global _default
    with _lock:
        if _default is None:
            _default = Counter(Settings.from_env())
        return _default


def configure(**settings: Any) -> Counter:
    """Replace the process-wide counter, e.g. ``configure(api_key=..., model="claude-opus-4-8", mode="offline")``.
    Fields are those of ``jupyter_token_count.config.Settings`` (``api_key``, ``base_url``, ``model``, ``mode``,
    ``rpm``, ``data_dir``, ``timeout``, ...)."""
    global _default
    counter = Counter(Settings.from_env(**settings))
    with _lock:
        _default = counter
    return counter


def count_tokens(
    messages: Any,
    *,
    model: str | None = None,
    system: Any = None,
    tools: Any = None,
    tool_choice: Any = None,
    thinking: Any = None,
    mode: str | None = None,
    include_outputs: bool = False,
) -> TokenCount:
    """Count the input tokens of a prompt for a Claude model.

    ``messages`` may be a string (one user message), a list of messages (dicts or SDK objects, including a
    ``Message`` returned by ``messages.create``), a full ``messages.create`` request dict, a path to an image,
    PDF, text, JSON or ``.ipynb`` file, bytes, a PIL image, an nbformat notebook, or a list of content parts.

    ``mode``: ``"auto"`` (exact through the API when a key is configured, else an estimate), ``"api"``
    or ``"offline"``; None means the configured mode (``JUPYTER_TOKEN_COUNT_MODE``, default ``"auto"``).
    The result says which it is: ``result.exact``, ``result.source``, ``result.reason``.
    """
    counter = get_counter()
    req = build_request(
        messages,
        model=model,
        system=system,
        tools=tools,
        tool_choice=tool_choice,
        thinking=thinking,
        include_outputs=include_outputs,
        max_bytes=counter.settings.max_request_bytes,
        default_model=counter.settings.model,
    )
    return counter.count(req, mode)
