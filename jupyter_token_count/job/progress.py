"""Progress of a job in a notebook: one output line, updated at most a few times a second, removed at the end."""

from __future__ import annotations

import time
from typing import Any

from ..display import FG2, FONT, esc
from ..formatting import format_share

#: seconds between two updates of the line
EVERY = 0.25


def describe(event: dict[str, Any]) -> str:
    """One line for a progress event: what is being done and how far it is."""
    done, total, unit = event.get("done", 0), event.get("total"), event.get("unit", "rows")
    if event.get("phase") == "counting":
        return f"counting exactly through the API: {done:,} of {total:,} requests"
    rows = event.get("rows", done)
    if unit == "bytes" and total:
        return f"estimating offline: {rows:,} requests read ({format_share(done / total)} of the file)"
    if total:
        return f"estimating offline: {done:,} of {total:,} requests"
    return f"estimating offline: {rows:,} requests read"


class NotebookProgress:
    """``progress`` for estimate_job in a notebook: one output that each event updates, emptied at the end."""

    def __init__(self) -> None:
        self._id: str | None = None
        self._last = 0.0

    def _show(self, bundle: dict[str, str]) -> None:
        from IPython.display import display, update_display

        if self._id is None:
            import uuid

            self._id = uuid.uuid4().hex
            display(bundle, raw=True, display_id=self._id)
        else:
            update_display(bundle, raw=True, display_id=self._id)

    def __call__(self, event: dict[str, Any]) -> None:
        now = time.monotonic()
        final = event.get("total") is not None and event.get("done") == event.get("total")
        if now - self._last < EVERY and not final:
            return
        self._last = now
        line = f"⏳ {describe(event)}"
        self._show(
            {
                "text/html": f'<div style="font-family:{FONT};font-size:0.85em;color:{FG2}">{esc(line)}</div>',
                "text/plain": line,
            }
        )

    def close(self) -> None:
        if self._id is not None:
            self._show({"text/html": "", "text/plain": ""})
