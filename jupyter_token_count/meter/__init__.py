"""The call meter: every Claude Messages call the ``anthropic`` SDK makes from this kernel, counted and priced
before it goes, with its actual ``usage`` after, shown as one line in the calling cell.

    >>> import jupyter_token_count as jtc
    >>> jtc.meter_calls(budget_usd=0.50)      # or: %count_calls on --budget-usd 0.50
    >>> client.messages.create(...)           # a line shows input tokens, cost, window share, then usage
    >>> jtc.call_log()[-1].to_dict()
    >>> jtc.stop_metering()

Modules: ``hooks`` (the SDK seam), ``core`` (prediction, budgets, cache ledger, display), ``record`` (records and
the line), ``usage`` (reading ``usage`` from JSON and SSE); prices are the package's ``pricing``.
"""

from __future__ import annotations

import math
import threading
from typing import Any

from .core import BudgetExceeded, Meter
from .record import CallLine, CallRecord
from .report import CallReport

__all__ = [
    "BudgetExceeded",
    "CallLine",
    "CallRecord",
    "CallReport",
    "call_log",
    "call_report",
    "is_metering",
    "meter_calls",
    "stop_metering",
]

_lock = threading.Lock()
_log: list[CallRecord] = []  # every record of this kernel, across on/off


def _check_budget(name: str, value: Any, kind: type) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
        # nan compares false with everything: a nan budget would never stop a call
        raise ValueError(f"{name} must be a finite number above 0, not {value!r}")
    if kind is int and value != int(value):
        raise ValueError(f"{name} must be a whole number of tokens, not {value!r}")
    return kind(value)


def meter_calls(
    budget_tokens: int | None = None,
    budget_usd: float | None = None,
    per_call: bool = False,
    show: bool = True,
    strict: bool = False,
) -> Meter:
    """Switch the call meter on (again: with new budgets). ``budget_tokens`` / ``budget_usd`` stop a call before it
    is sent when its predicted input (``per_call=True``) or the session's total with it would pass them; a stopped
    call raises ``BudgetExceeded`` and nothing reaches the API. ``strict=True`` checks an estimated prediction by
    the top of its range (the real count is below it nine times in ten) instead of the estimate itself.
    ``show=False`` records without showing lines."""
    from . import hooks

    meter = Meter(
        _check_budget("budget_tokens", budget_tokens, int),
        _check_budget("budget_usd", budget_usd, float),
        bool(per_call),
        bool(show),
        strict=bool(strict),
    )
    meter.records = _log  # one log per kernel: the session total spans re-configurations
    with _lock:
        old = hooks.active()
        hooks.install(meter)
    if old is not None:  # what the session knows outlives a change of budget
        meter._prefixes, meter._batches, meter._counters = old._prefixes, old._batches, old._counters
        old.close()
    _quiet_budget_tracebacks()
    return meter


def stop_metering() -> None:
    """Switch the call meter off; the SDK's own methods are put back. The log stays (``call_log()``)."""
    from . import hooks

    with _lock:
        old = hooks.active()
        hooks.uninstall()
    if old is not None:
        old.close()


def is_metering() -> bool:
    from . import hooks

    return hooks.active() is not None


def call_log() -> list[CallRecord]:
    """This kernel's metered calls, oldest first (a copy)."""
    return list(_log)


def call_report() -> CallReport:
    """This kernel's metered calls as a table with totals (``.to_dict()``, ``.to_dataframe()``)."""
    return CallReport(_log)


def _quiet_budget_tracebacks() -> None:
    """In IPython, a budget stop shows as one line, not a traceback through the SDK's internals."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    ip = get_ipython()
    if ip is None or getattr(ip, "custom_exceptions", ()):  # never replace someone else's handler
        return

    def handler(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: int | None = None) -> list[str]:
        stb = [f"BudgetExceeded: {value}"]
        show = getattr(shell, "_showtraceback", None)
        if show is not None:  # an error output with this one line as its traceback
            show(etype, value, stb)
        else:
            import sys

            print(stb[0], file=sys.stderr)
        return stb

    ip.set_custom_exc((BudgetExceeded,), handler)
