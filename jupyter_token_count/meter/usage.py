"""Reading ``usage`` from what the API answered: a JSON body, or an SSE stream fed chunk by chunk."""

from __future__ import annotations

import json
from typing import Any

USAGE_KEYS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


def merge_usage(into: dict[str, Any], usage: Any) -> None:
    """Copy the numbers of a ``usage`` object over ``into`` (a later event's figures win: they are cumulative)."""
    if not isinstance(usage, dict):
        return
    for key in USAGE_KEYS:
        if isinstance(usage.get(key), int):
            into[key] = usage[key]
    split = usage.get("cache_creation")
    if isinstance(split, dict):
        into["cache_creation"] = {k: v for k, v in split.items() if isinstance(v, int)}


def usage_from_json(raw: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("usage"), dict):
        return None
    out: dict[str, Any] = {}
    merge_usage(out, body["usage"])
    return out


class SSEUsage:
    """Follows an event stream's bytes: ``message_start`` carries the input side, ``message_delta`` the output
    (cumulative). Only ``data:`` lines are read; the bytes themselves go to the SDK untouched."""

    def __init__(self) -> None:
        self._buf = b""
        self.usage: dict[str, Any] = {}
        self.finished = False  # saw message_delta with usage, or message_stop
        self.error: str | None = None

    def feed(self, chunk: bytes) -> None:
        self._buf += chunk
        while True:
            cut = self._next_boundary()
            if cut is None:
                return
            end, skip = cut
            event, self._buf = self._buf[:end], self._buf[end + skip :]
            self._event(event)

    def _next_boundary(self) -> tuple[int, int] | None:
        hits = [(i, len(sep)) for sep in (b"\r\n\r\n", b"\n\n", b"\r\r") if (i := self._buf.find(sep)) >= 0]
        return min(hits) if hits else None

    def _event(self, event: bytes) -> None:
        data = b"\n".join(line[5:].lstrip() for line in event.splitlines() if line.startswith(b"data:"))
        if not data:
            return
        try:
            obj = json.loads(data)
        except ValueError:
            return
        kind = obj.get("type") if isinstance(obj, dict) else None
        if kind == "message_start":
            merge_usage(self.usage, (obj.get("message") or {}).get("usage"))
        elif kind == "message_delta":
            merge_usage(self.usage, obj.get("usage"))
        elif kind == "message_stop":
            self.finished = True
        elif kind == "error":
            err = obj.get("error") or {}
            self.error = f"{err.get('type', 'error')}: {err.get('message', '')}".strip(": ")
