"""Anything a user holds → one validated count request: the input as messages (``inputs``), the fields given
beside it, the betas it needs, validated as the API would (``validate``)."""

from __future__ import annotations

from typing import Any

from .. import registry
from ..config import MAX_REQUEST_BYTES
from ..errors import InputError
from .betas import check_betas, with_needed
from .body import COUNT_FIELDS, EMPTY_PROBE, HEADER_FIELDS, CountRequest
from .guard import check_tree
from .inputs import from_input
from .notebook import Cell, notebook_blocks
from .plain import plain_deep
from .validate import validate_body


def build_request(
    obj: Any,
    *,
    model: str | None = None,
    system: Any = None,
    tools: Any = None,
    tool_choice: Any = None,
    thinking: Any = None,
    betas: Any = None,
    include_outputs: bool = False,
    max_bytes: int | None = MAX_REQUEST_BYTES,
    default_model: str | None = None,
) -> CountRequest:
    """Turn ``obj`` into a validated ``CountRequest``.

    Explicit keyword arguments win over fields of a request dict. ``model`` falls back to the request
    dict's model, then ``default_model``, then the registry's default.

    ``betas`` (beta names, as ``client.beta.messages.create(betas=...)`` takes them) are added to a request
    dict's own ``betas``; the betas the body needs and none of those enable are added too (``betas.py``).

    A notebook or file with nothing in it (no cells, only empty cells, a blank text file) is not an error:
    it gives a request marked ``empty`` that is counted as the request frame alone (see ``EMPTY_PROBE``).
    """
    # the structural boundary first: nothing below (adapters, validation, encoding) may recurse into or
    # trip over a too-deep tree, a lone surrogate or a NaN
    top = "messages" if isinstance(obj, (list, tuple)) else ""
    for value, where in (
        (obj, top),
        (model, "model"),
        (system, "system"),
        (tools, "tools"),
        (tool_choice, "tool_choice"),
        (thinking, "thinking"),
        (betas, "betas"),
    ):
        if value is not None:
            check_tree(value, where)
    parsed = from_input(obj, include_outputs=include_outputs)
    messages, extras, empty = parsed.messages, parsed.extras, parsed.empty
    if empty:
        messages = [{"role": "user", "content": EMPTY_PROBE}]
    body: dict[str, Any] = {"model": model or extras.pop("model", None) or default_model or registry.default_model()}
    extras.pop("model", None)
    given = (*check_betas(extras.pop("betas", None), "request.betas"), *check_betas(betas))
    headers = _header_fields(extras)
    body["messages"] = messages
    for key, value in (("system", system), ("tools", tools), ("tool_choice", tool_choice), ("thinking", thinking)):
        if value is not None:
            extras[key] = plain_deep(value)
    if isinstance(extras.get("system"), str) and not extras["system"].strip():
        del extras["system"]  # an empty system prompt is the same as none; the API would reject ""
    if extras.get("tools") == []:
        del extras["tools"]
    for key in COUNT_FIELDS:
        if key in extras:
            body[key] = extras[key]
    if isinstance(body.get("tools"), dict):  # one tool passed on its own
        body["tools"] = [body["tools"]]
    if not isinstance(body["model"], str) or not body["model"].strip():
        raise InputError("model must be a non-empty string such as 'claude-sonnet-5-5'", "model")
    registry.check_length(body["model"])  # a request file's own model too (POST document echoed 400 characters)
    info = registry.resolve(body["model"])
    req = CountRequest(body, empty=empty, betas=with_needed(body, given), headers=headers)
    try:
        req.size_bytes  # noqa: B018 -- encodes once (cached): data from SDK objects or files was not walked yet
    except (UnicodeEncodeError, ValueError, RecursionError, TypeError):
        # TypeError: bytes, a set, an object, mixed key types in a field no adapter converts (system, a block, tools)
        check_tree(body, json_only=True)  # names the place
        raise InputError("the request cannot be encoded as JSON") from None
    try:
        validate_body(
            body, max_bytes=max_bytes, context_window=info.context_window, size=req.size_bytes if max_bytes else None
        )
    except InputError as exc:
        raise (exc.at(parsed.origin) if parsed.origin else exc) from None
    return req


def notebook_request(cells: list[Cell] | Any, include_outputs: bool = False, **kwargs: Any) -> CountRequest:
    """A notebook's cells as the one request ``count_tokens(Path(nb))`` and the CLI count (one user message);
    when every cell is empty, the request marked ``empty`` that stands for the frame alone, as theirs does.
    ``kwargs`` go to ``build_request``."""
    blocks = notebook_blocks(cells, include_outputs)
    if not blocks:
        return build_request({"cells": []}, **kwargs)
    return build_request([{"role": "user", "content": blocks}], **kwargs)


def _header_fields(extras: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    out = []
    for name in HEADER_FIELDS:
        value = extras.pop(name, None)
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            raise InputError("expected a non-empty string", f"request.{name}")
        out.append((name, value.strip()))
    return tuple(out)
