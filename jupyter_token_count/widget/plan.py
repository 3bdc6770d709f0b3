"""What one recount of the panel sends: the request built from a snapshot of its fields, and what was
left out of it (files that fail only in company, tools that do not parse)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ..counter import Counter
from ..errors import InputError
from ..request import CountRequest, build_request
from ..request.files import looks_like_path
from .files import _check_alone, _File


def _parse_tools(text: str) -> Any:
    """The tools text area → a list of tool definitions, or None when empty. InputError says where it breaks."""
    if not text.strip():
        return None
    try:
        tools = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    if isinstance(tools, dict):
        tools = [tools]
    if not isinstance(tools, list):
        raise InputError("expected a JSON list of tool definitions (or one tool object)")
    return tools


@dataclass
class _Plan:
    """What one recount will send, and what was left out."""

    request: CountRequest | None
    labels: list[tuple[str, str]]  # per content block of the user message: (kind, name)
    files: list[str]  # names of files included
    file_errors: dict[str, str]  # name → why it is left out (beyond its own validation)
    tools_error: str | None
    error: str | None = None
    #: why nothing is counted although something was typed
    empty_note: str | None = None


def _make_plan(snap: dict[str, Any], counter: Counter) -> _Plan:
    """The request for a snapshot of the panel's fields; files and tools with errors are left out, each
    file re-validated alone when the model changed."""
    max_bytes = counter.settings.max_request_bytes
    model = snap["model"]
    tools_error = None
    try:
        tools = _parse_tools(snap["tools"])
        if tools is not None:
            build_request(".", model=model, tools=tools, max_bytes=None)  # tools checked on their own
    except InputError as exc:
        tools, tools_error = None, str(exc)
    files: list[_File] = []
    for f in snap["files"]:
        if f.block is not None and f.checked_for != model:
            _check_alone(f, model, max_bytes)  # the page cap depends on the model
        if f.error is None and f.block is not None:
            files.append(f)
    prompt = snap["prompt"] if snap["prompt"].strip() else ""
    file_errors: dict[str, str] = {}
    while True:
        blocks: list[dict[str, Any]] = [f.block for f in files]  # type: ignore[misc]
        labels = [("file", f.name) for f in files]
        if prompt:
            blocks.append({"type": "text", "text": prompt})
            labels.append(("prompt", "User prompt"))
        if not blocks:
            note = None
            if snap["system"].strip() or tools:
                note = "a system prompt or tools alone cannot be counted: the API needs a user message"
            return _Plan(None, [], [], file_errors, tools_error, empty_note=note)
        # a lone prompt is sent as a plain string (the familiar form), unless it reads like a file path
        content: Any = prompt if not files and not looks_like_path(prompt) else blocks
        message = {"role": "user", "content": content}
        try:
            req = build_request(
                [message],
                model=model,
                system=snap["system"] or None,
                tools=tools,
                betas=snap.get("betas") or None,
                max_bytes=max_bytes,
                default_model=counter.settings.model,
            )
        except InputError as exc:
            m = re.match(r"messages\[0\]\.content\[(\d+)\]", exc.where or "")
            k = int(m.group(1)) if m else -1
            if 0 <= k < len(files):  # a file that fails only in company (e.g. many large images): leave it out
                file_errors[files[k].name] = exc.message
                del files[k]
                continue
            return _Plan(None, labels, [f.name for f in files], file_errors, tools_error, error=str(exc))
        return _Plan(req, labels, [f.name for f in files], file_errors, tools_error)
