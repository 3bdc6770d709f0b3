"""The Python entry point: ``count_tokens(...)`` with one process-wide counter behind it."""

from __future__ import annotations

import threading
import warnings
from dataclasses import replace
from typing import Any

from .config import Settings
from .counter import Counter
from .request import CountRequest, build_request
from .result import TokenCount


class UnknownModelWarning(UserWarning):
    """Counted for a model id nobody could confirm (offline): the estimate uses a guessed tokenizer."""


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
    betas: list[str] | None = None,
    mode: str | None = None,
    include_outputs: bool = False,
) -> TokenCount:
    """Count the input tokens of a prompt for a Claude model.

    ``messages`` may be a string (one user message), a list of messages (dicts or SDK objects, including a
    ``Message`` returned by ``messages.create``), a full ``messages.create`` request dict, a path to an image,
    PDF, text, JSON or ``.ipynb`` file, bytes, a PIL image, an nbformat notebook, or a list of content parts.

    ``betas``: ``anthropic-beta`` values to count with, as ``client.beta.messages.create(betas=...)`` takes them
    (added to a request dict's own ``betas``). A request that uses a beta feature (``context_management``,
    ``mcp_servers``, a Files-API ``file`` source, ``output_format``, ``compaction``) gets its beta added when none
    given enables it. With context editing, ``result.original_input_tokens`` is the count before the edits.

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
        betas=betas,
        include_outputs=include_outputs,
        max_bytes=counter.settings.max_request_bytes,
        default_model=counter.settings.model,
    )
    warning = _model_warning(req.model, counter, mode)
    return with_warning(count_request(counter, req, mode), warning)


def _model_warning(model: str, counter: Counter, mode: str | None) -> str | None:
    from .modelcheck import check_model

    warning = check_model(model, counter.settings, mode)
    if warning:
        warnings.warn(warning, UnknownModelWarning, stacklevel=3)
    return warning


def with_warning(result: TokenCount, warning: str | None) -> TokenCount:
    return replace(result, warnings=(*result.warnings, warning)) if warning else result


async def acount_request(counter: Counter, req: CountRequest, mode: str | None = None) -> TokenCount:
    """``counter.acount`` for any request this package builds, empty documents included."""
    return await counter.acount(req, mode)


def count_request(counter: Counter, req: CountRequest, mode: str | None = None) -> TokenCount:
    return counter.count(req, mode)
