"""Whatever people hold in a notebook → a list of Messages-API messages (plain JSON).

Accepted: a string (one user message), a list of messages (dicts, the SDK's param TypedDicts, or SDK
response objects such as a ``Message`` from ``messages.create``), a full ``messages.create`` request
dict, a path to an image / PDF / text / JSON / notebook file, bytes, PIL images, nbformat notebooks,
and a list of such parts (one user message with several blocks).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import InputError, shown
from . import files, notebook
from .body import COUNT_FIELDS, DROPPED_FIELDS, HEADER_FIELDS
from .guard import check_tree

ROLES = ("user", "assistant")

#: Keys a response object carries that a request must not (SDK "parsed" helpers add these).
_RESPONSE_ONLY = frozenset({"parsed_output"})

#: set in ``from_input``'s extras when a notebook or file renders to nothing (see ``build_request``)
EMPTY = "_empty_document"


def _is_pil(obj: Any) -> bool:
    return type(obj).__module__.startswith("PIL.") and hasattr(obj, "save") and hasattr(obj, "size")


def _dump_model(obj: Any) -> Any:
    """SDK (pydantic) objects → plain JSON, dropping unset optional fields the API would reject as null."""
    data = obj.model_dump(mode="json", exclude_none=True, by_alias=True)
    return _strip(data)


def _strip(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _strip(v) for k, v in data.items() if k not in _RESPONSE_ONLY}
    if isinstance(data, list):
        return [_strip(v) for v in data]
    return data


def _plain(obj: Any) -> Any:
    """Turn SDK objects anywhere inside ``obj`` into plain dicts; leave everything else alone."""
    if hasattr(obj, "model_dump") and callable(obj.model_dump):
        return _dump_model(obj)
    if isinstance(obj, Mapping) and not isinstance(obj, dict):
        obj = dict(obj)
    return obj


def _message_like(obj: Any) -> bool:
    obj = _plain(obj)
    return isinstance(obj, dict) and "role" in obj


def _file_blocks(path: Path, include_outputs: bool) -> list[dict[str, Any]]:
    kind, payload = files.read_path(path)
    where = f"file '{path}'"
    try:
        if kind == "empty":
            return []
        if kind == "image":
            return [files.image_block(payload)]
        if kind == "pdf":
            return [files.pdf_block(payload)]
        if kind == "notebook":
            return notebook.notebook_blocks(notebook.load_notebook(payload, where=""), include_outputs)
        if kind == "json":
            raise InputError("a JSON file holds messages, not a content block; pass it on its own")
        return [{"type": "text", "text": payload}]
    except InputError as exc:
        raise exc.at(where) from None


def to_blocks(obj: Any, where: str, include_outputs: bool = False) -> list[dict[str, Any]]:
    """One content part → content blocks (a notebook file gives several)."""
    obj = _plain(obj)
    if isinstance(obj, str):
        if files.looks_like_path(obj):
            return _file_blocks(Path(obj), include_outputs)
        return [{"type": "text", "text": obj}]
    if isinstance(obj, os.PathLike):
        return _file_blocks(Path(obj), include_outputs)
    if isinstance(obj, (bytes, bytearray, memoryview)):
        try:
            return [files.bytes_block(bytes(obj))]
        except InputError as exc:
            raise exc.at(where) from None
    if isinstance(obj, tuple) and len(obj) == 2 and isinstance(obj[0], (bytes, bytearray)) and isinstance(obj[1], str):
        try:
            return [files.bytes_block(bytes(obj[0]), obj[1])]
        except InputError as exc:
            raise exc.at(where) from None
    if _is_pil(obj):
        try:
            return [files.pil_block(obj)]
        except InputError as exc:
            raise exc.at(where) from None
    if isinstance(obj, dict):
        if "type" not in obj:
            raise InputError(
                "a content block needs a 'type' (text, image, document, tool_use, tool_result, ...)", where
            )
        return [_strip({k: _plain(v) for k, v in obj.items()})]
    raise InputError(f"cannot use a {type(obj).__name__} as message content", where)


def to_content(content: Any, where: str, include_outputs: bool = False) -> str | list[dict[str, Any]]:
    content = _plain(content)
    if isinstance(content, str) and not files.looks_like_path(content):
        return content
    if isinstance(content, (list, tuple)) and not (
        isinstance(content, tuple) and len(content) == 2 and isinstance(content[0], (bytes, bytearray))
    ):
        blocks: list[dict[str, Any]] = []
        for j, part in enumerate(content):
            blocks.extend(to_blocks(part, f"{where}[{j}]", include_outputs))
        return blocks
    return to_blocks(content, where, include_outputs)


def to_message(obj: Any, where: str, include_outputs: bool = False) -> dict[str, Any]:
    obj = _plain(obj)
    if not isinstance(obj, dict):
        raise InputError(f"expected a message object with 'role' and 'content', got {type(obj).__name__}", where)
    if "role" not in obj:
        raise InputError("message has no 'role' (expected 'user' or 'assistant')", where)
    if "content" not in obj:
        raise InputError("message has no 'content'", where)
    msg: dict[str, Any] = {
        "role": obj["role"],
        "content": to_content(obj["content"], f"{where}.content", include_outputs),
    }
    return msg


def messages_from_list(items: Any, where: str = "messages", include_outputs: bool = False) -> list[dict[str, Any]]:
    if not isinstance(items, (list, tuple)):
        raise InputError(f"expected a list of messages, got {type(items).__name__}", where)
    return [to_message(m, f"{where}[{i}]", include_outputs) for i, m in enumerate(items)]


#: what a request dict may hold besides its body fields: the betas it is sent with, and the SDK's header fields
REQUEST_EXTRAS = ("betas", *HEADER_FIELDS)


def _from_request_dict(d: dict[str, Any], include_outputs: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    unknown = sorted(k for k in d if k not in COUNT_FIELDS and k not in DROPPED_FIELDS and k not in REQUEST_EXTRAS)
    if unknown:
        names = ", ".join(map(shown, unknown[:5])) + (" …" if len(unknown) > 5 else "")
        raise InputError(
            f"unknown request field{'s' if len(unknown) > 1 else ''} {names}; "
            f"count_tokens accepts {', '.join((*COUNT_FIELDS, *REQUEST_EXTRAS))}",
            "request",
        )
    extras = {
        k: plain_deep(v)
        for k, v in d.items()
        if (k in COUNT_FIELDS or k in REQUEST_EXTRAS) and k not in ("messages",) and v is not None
    }
    return messages_from_list(d["messages"], include_outputs=include_outputs), extras


def plain_deep(v: Any) -> Any:
    v = _plain(v)
    if isinstance(v, dict):
        return {k: plain_deep(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain_deep(x) for x in v]
    return v


def _document(blocks: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A file or notebook as one user message; one that renders to nothing is marked, not refused."""
    return [{"role": "user", "content": blocks}], ({} if blocks else {EMPTY: True})


def from_input(obj: Any, include_outputs: bool = False) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Any supported input → (messages, other request fields such as system/tools from a request dict)."""
    obj = _plain(obj)
    if obj is None:
        raise InputError("nothing to count: got None")
    if isinstance(obj, str) and not files.looks_like_path(obj):
        return [{"role": "user", "content": obj}], {}
    if isinstance(obj, (str, os.PathLike)):
        path = Path(obj)
        if path.suffix.lower() == ".json":
            kind, payload = files.read_path(path)
            if kind == "empty":
                return _document([])
            check_tree(payload, f"file '{path}'")
            try:
                return from_input(payload, include_outputs)
            except InputError as exc:
                raise exc.at(f"file '{path}'") from None
        return _document(_file_blocks(path, include_outputs))
    if isinstance(obj, dict):
        if "messages" in obj:
            return _from_request_dict(obj, include_outputs)
        if "cells" in obj:
            cells = notebook.load_notebook(obj)
            return _document(notebook.notebook_blocks(cells, include_outputs))
        if "role" in obj:
            return [to_message(obj, "messages[0]", include_outputs)], {}
        if "type" in obj:
            return [{"role": "user", "content": to_blocks(obj, "content[0]")}], {}
        raise InputError(
            "a dict must be a request body (with 'messages'), a message (with 'role'), "
            "a content block (with 'type') or a notebook (with 'cells')"
        )
    if isinstance(obj, (list, tuple)) and not (
        isinstance(obj, tuple) and len(obj) == 2 and isinstance(obj[0], (bytes, bytearray))
    ):
        if not obj:
            raise InputError("nothing to count: the message list is empty")
        if all(_message_like(m) for m in obj):
            return messages_from_list(obj, include_outputs=include_outputs), {}
        if any(_message_like(m) for m in obj):
            bad = next(i for i, m in enumerate(obj) if not _message_like(m))
            raise InputError("mixes messages and plain content; every item must have a 'role'", f"messages[{bad}]")
        return [{"role": "user", "content": to_content(list(obj), "content", include_outputs)}], {}
    return [{"role": "user", "content": to_blocks(obj, "content", include_outputs)}], {}
