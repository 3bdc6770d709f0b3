"""Progress of a job in a notebook: one output line, updated at most a few times a second, removed at the end."""

from __future__ import annotations

import time
from typing import Any

from ..display import FG2, FONT, esc

#: seconds between two updates of the line
EVERY = 0.25


def describe(event: dict[str, Any]) -> str:
    """One line for a progress event: what is being done and how far it is."""
    done, total, unit = event.get("done", 0), event.get("total"), event.get("unit", "rows")
    if event.get("phase") == "counting":
        return f"counting exactly through the API: {done:,} of {total:,} requests"
    rows = event.get("rows", done)
    if unit == "bytes" and total:
        return f"estimating offline: {rows:,} requests read ({done / total:.0%} of the file)"
    if total:
        return f"estimating offline: {done:,} of {total:,} requests"
    return f"estimating offline: {rows:,} requests read"


class NotebookProgress:
    def __init__(self) -> None:
        self._handle: Any = None
        self._last = 0.0

    def __call__(self, event: dict[str, Any]) -> None:
        now = time.monotonic()
        final = event.get("total") is not None and event.get("done") == event.get("total")
        if now - self._last < EVERY and not final:
            return
        self._last = now
        from IPython.display import HTML, display

        line = HTML(f'<div style="font-family:{FONT};font-size:0.85em;color:{FG2}">⏳ {esc(describe(event))}</div>')
        if self._handle is None:
            self._handle = display(line, display_id=True)
        else:
            self._handle.update(line)

    def close(self) -> None:
        if self._handle is not None:
            from IPython.display import HTML

            self._handle.update(HTML(""))
