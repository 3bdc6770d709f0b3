"""Claude token counts for prompts in Jupyter: exact through the count_tokens API, honest estimates offline.

    >>> from jupyter_token_count import count_tokens
    >>> count_tokens("Hello, Claude", model="claude-sonnet-5-5")

Surfaces import lazily so ``import jupyter_token_count`` stays cheap in a kernel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

try:
    from ._version import __version__
except ImportError:  # running from a source tree that was never built
    __version__ = "0.0.0+unknown"

if TYPE_CHECKING:
    from .api import count_tokens
    from .job import JobEstimate, estimate_job
    from .result import TokenCount
    from .widget import TokenCounter, watch

__all__ = ["JobEstimate", "TokenCount", "TokenCounter", "__version__", "count_tokens", "estimate_job", "watch"]

_LAZY = {
    "count_tokens": ("api", "count_tokens"),
    "build_request": ("request", "build_request"),
    "TokenCount": ("result", "TokenCount"),
    # job estimates (a dataset or a Message Batches file, before it runs)
    "estimate_job": ("job", "estimate_job"),
    "JobEstimate": ("job", "JobEstimate"),
    "TokenCounter": ("widget", "TokenCounter"),
    "watch": ("widget", "watch"),
    # the call meter
    "meter_calls": ("meter", "meter_calls"),
    "stop_metering": ("meter", "stop_metering"),
    "call_log": ("meter", "call_log"),
    "call_report": ("meter", "call_report"),
    "is_metering": ("meter", "is_metering"),
    "BudgetExceeded": ("meter", "BudgetExceeded"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(f".{module}", __name__), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext jupyter_token_count`` registers ``%count_tokens`` / ``%%count_tokens`` and ``%count_calls``."""
    from .magics import CallMeterMagics, TokenCountMagics

    ipython.register_magics(TokenCountMagics)
    ipython.register_magics(CallMeterMagics)


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter-token-count"}]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    return [{"module": "jupyter_token_count.server"}]
