"""Whatever people hold in a notebook → a list of Messages-API messages (plain JSON). What an input is, is decided
in one place (``kind_of``), and each kind has one handler.

Accepted: a string (one user message), a list of messages (dicts, the SDK's param TypedDicts, or SDK response
objects such as a ``Message`` from ``messages.create``), a full ``messages.create`` request dict, a message, a
content block, a path to an image / PDF / text / JSON / notebook file (a short string naming an existing file with
one of those suffixes is that file), bytes (with or without a media type), PIL images, nbformat notebooks, and a
list of such parts (one user message with several blocks). A file is read once; a JSON file holds any of these.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import InputError, shown
from . import files, notebook
from .body import COUNT_FIELDS, DROPPED_FIELDS, HEADER_FIELDS
from .guard import check_tree
from .plain import plain, plain_deep, strip

#: What an input is. A whole input: ``text`` (a prompt), ``path`` (a file), ``request`` (a dict with 'messages'),
#: ``notebook`` (a dict with 'cells'), ``message`` (a dict with 'role'), ``block`` (a dict with 'type'),
#: ``messages`` (a list of messages), ``parts`` (a list of content parts), ``media`` (bytes, or (bytes, media
#: type)), ``pil`` (a PIL image); and what cannot be counted: ``none``, ``dict`` (none of those keys), ``nothing``
#: (an empty list), ``mixed`` (messages and parts together), ``other``. Inside a message's content (``part``),
#: every dict is a block and a list is not a part.
Kind = Literal[
    "text",
    "path",
    "request",
    "notebook",
    "message",
    "block",
    "messages",
    "parts",
    "media",
    "pil",
    "none",
    "dict",
    "nothing",
    "mixed",
    "other",
]

#: what a request dict may hold besides its body fields: the betas it is sent with, and the SDK's header fields
REQUEST_EXTRAS = ("betas", *HEADER_FIELDS)

Blocks = list[dict[str, Any]]


@dataclass
class Parsed:
    """An input as messages, with what else it brought."""

    messages: list[dict[str, Any]]
    #: a request dict's other fields (system, tools, model, betas, header fields), as plain JSON
    extras: dict[str, Any] = field(default_factory=dict)
    #: a notebook or file that renders to nothing: counted as the request frame alone (``build_request``)
    empty: bool = False
    #: the file the input was read from (``file 'x.json'``), so a later validation error can name it
    origin: str | None = None


def kind_of(obj: Any, *, part: bool = False) -> Kind:
    """What ``obj`` (already ``plain``) is: the one place that decides. ``part``: a part of a message's content.
    A string is a path only when ``files.looks_like_path`` says so (a short line naming an existing file)."""
    if isinstance(obj, str):
        return "path" if files.looks_like_path(obj) else "text"
    if isinstance(obj, os.PathLike):
        return "path"
    if isinstance(obj, (bytes, bytearray, memoryview)) or _media_pair(obj):
        return "media"
    if _is_pil(obj):
        return "pil"
    if isinstance(obj, dict):
        if part:
            return "block"
        return next((kind for key, kind in _DICT_KINDS if key in obj), "dict")
    if isinstance(obj, (list, tuple)):
        if part:
            return "parts"
        if not obj:
            return "nothing"
        roles = [_message_like(m) for m in obj]
        return "messages" if all(roles) else "mixed" if any(roles) else "parts"
    return "none" if obj is None and not part else "other"


#: the key that makes a dict each kind, first match wins (a request holds messages, a message may hold a 'type')
_DICT_KINDS = (("messages", "request"), ("cells", "notebook"), ("role", "message"), ("type", "block"))


def from_input(obj: Any, include_outputs: bool = False) -> Parsed:
    """Any supported input → its messages, and a request dict's other fields."""
    obj = plain(obj)
    return _INPUT[kind_of(obj)](obj, include_outputs)


def to_blocks(obj: Any, where: str, include_outputs: bool = False) -> Blocks:
    """One content part → content blocks (a notebook file gives several, an empty file none)."""
    obj = plain(obj)
    return _PART[kind_of(obj, part=True)](obj, where, include_outputs)


def to_content(content: Any, where: str, include_outputs: bool = False) -> str | Blocks:
    """A message's content: a prompt string stays a string; a list holds parts; anything else is one part."""
    content = plain(content)
    kind = kind_of(content, part=True)
    if kind == "text":
        return content
    if kind == "parts":
        return _parts(content, where, include_outputs)
    return _PART[kind](content, where, include_outputs)


def to_message(obj: Any, where: str, include_outputs: bool = False) -> dict[str, Any]:
    obj = plain(obj)
    if not isinstance(obj, dict):
        raise InputError(f"expected a message object with 'role' and 'content', got {type(obj).__name__}", where)
    if "role" not in obj:
        raise InputError("message has no 'role' (expected 'user' or 'assistant')", where)
    if "content" not in obj:
        raise InputError("message has no 'content'", where)
    return {"role": obj["role"], "content": to_content(obj["content"], f"{where}.content", include_outputs)}


def messages_from_list(items: Any, where: str = "messages", include_outputs: bool = False) -> list[dict[str, Any]]:
    if not isinstance(items, (list, tuple)):
        raise InputError(f"expected a list of messages, got {type(items).__name__}", where)
    return [to_message(m, f"{where}[{i}]", include_outputs) for i, m in enumerate(items)]


# -- a whole input ---------------------------------------------------------------------------------------------


def _user(content: str | Blocks) -> Parsed:
    return Parsed([{"role": "user", "content": content}])


def _document(blocks: Blocks, origin: str | None = None) -> Parsed:
    """A file or notebook as one user message; one that renders to nothing is marked, not refused."""
    return Parsed([{"role": "user", "content": blocks}], empty=not blocks, origin=origin)


def _path(obj: str | os.PathLike[str], include_outputs: bool) -> Parsed:
    path = Path(obj)
    where = f"file '{path}'"
    kind, payload = files.read_path(path)
    if kind != "json":
        return _document(file_blocks(kind, payload, where, include_outputs), where)
    check_tree(payload, where)  # a JSON file holds any input: a request, messages, a notebook, ...
    try:
        parsed = from_input(payload, include_outputs)
    except InputError as exc:
        raise exc.at(where) from None
    parsed.origin = where
    return parsed


def _request(d: dict[str, Any], include_outputs: bool) -> Parsed:
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
        if (k in COUNT_FIELDS or k in REQUEST_EXTRAS) and k != "messages" and v is not None
    }
    return Parsed(messages_from_list(d["messages"], include_outputs=include_outputs), extras)


def _notebook(nb: dict[str, Any], include_outputs: bool) -> Parsed:
    return _document(notebook.notebook_blocks(notebook.load_notebook(nb), include_outputs))


def _message(obj: dict[str, Any], include_outputs: bool) -> Parsed:
    return Parsed([to_message(obj, "messages[0]", include_outputs)])


def _messages(items: list[Any] | tuple[Any, ...], include_outputs: bool) -> Parsed:
    return Parsed(messages_from_list(items, include_outputs=include_outputs))


def _mixed(items: list[Any] | tuple[Any, ...], include_outputs: bool) -> Parsed:
    bad = next(i for i, m in enumerate(items) if not _message_like(m))
    raise InputError("mixes messages and plain content; every item must have a 'role'", f"messages[{bad}]")


def _refuse(message: str) -> Callable[[Any, bool], Parsed]:
    def refuse(obj: Any, include_outputs: bool) -> Parsed:
        raise InputError(message)

    return refuse


#: the one handler of each kind of whole input
_INPUT: dict[str, Callable[[Any, bool], Parsed]] = {
    "text": lambda text, _: _user(text),
    "path": _path,
    "request": _request,
    "notebook": _notebook,
    "message": _message,
    # a lone block or a list of parts is the request's one user message: errors name the place as validation does
    "block": lambda block, _: _user([_block(block, "messages[0].content[0]")]),
    "messages": _messages,
    "parts": lambda items, outputs: _user(_parts(items, "messages[0].content", outputs)),
    "media": lambda data, _: _user([_media(data, "content")]),
    "pil": lambda img, _: _user([_pil(img, "content")]),
    "none": _refuse("nothing to count: got None"),
    "dict": _refuse(
        "a dict must be a request body (with 'messages'), a message (with 'role'), "
        "a content block (with 'type') or a notebook (with 'cells')"
    ),
    "nothing": _refuse("nothing to count: the message list is empty"),
    "mixed": _mixed,
    "other": lambda obj, _: _user([_other(obj, "content")]),
}


# -- a part of a message's content -----------------------------------------------------------------------------


def _parts(items: list[Any] | tuple[Any, ...], where: str, include_outputs: bool) -> Blocks:
    blocks: Blocks = []
    for j, part in enumerate(items):
        blocks.extend(to_blocks(part, f"{where}[{j}]", include_outputs))
    return blocks


def file_blocks(kind: str, payload: Any, where: str, include_outputs: bool) -> Blocks:
    """A file's content, as ``files.read_path`` told what it holds → its content blocks."""
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


def _part_path(obj: str | os.PathLike[str], where: str, include_outputs: bool) -> Blocks:
    path = Path(obj)
    try:
        return file_blocks(*files.read_path(path), f"file '{path}'", include_outputs)
    except InputError as exc:  # the file alone does not say which message and part of the request holds it
        raise exc.at(where) from None


def _media(data: bytes | bytearray | memoryview | tuple[bytes, str], where: str) -> dict[str, Any]:
    try:
        if isinstance(data, tuple):
            return files.bytes_block(bytes(data[0]), data[1])
        return files.bytes_block(bytes(data))
    except InputError as exc:
        raise exc.at(where) from None


def _pil(img: Any, where: str) -> dict[str, Any]:
    try:
        return files.pil_block(img)
    except InputError as exc:
        raise exc.at(where) from None


def _block(block: dict[str, Any], where: str) -> dict[str, Any]:
    if "type" not in block:
        raise InputError("a content block needs a 'type' (text, image, document, tool_use, tool_result, ...)", where)
    return strip({k: plain(v) for k, v in block.items()})


def _other(obj: Any, where: str) -> dict[str, Any]:
    name = type(obj).__name__
    what = "None" if obj is None else f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"
    raise InputError(f"cannot use {what} as message content", where)


#: the one handler of each kind of content part
_PART: dict[str, Callable[[Any, str, bool], Blocks]] = {
    "text": lambda text, _where, _: [{"type": "text", "text": text}],
    "path": _part_path,
    "media": lambda data, where, _: [_media(data, where)],
    "pil": lambda img, where, _: [_pil(img, where)],
    "block": lambda block, where, _: [_block(block, where)],
    "parts": lambda obj, where, _: [_other(obj, where)],
    "other": lambda obj, where, _: [_other(obj, where)],
}


def _is_pil(obj: Any) -> bool:
    return type(obj).__module__.startswith("PIL.") and hasattr(obj, "save") and hasattr(obj, "size")


def _media_pair(obj: Any) -> bool:
    """``(data, media_type)``: bytes with the media type they are declared as."""
    return (
        isinstance(obj, tuple) and len(obj) == 2 and isinstance(obj[0], (bytes, bytearray)) and isinstance(obj[1], str)
    )


def _message_like(obj: Any) -> bool:
    obj = plain(obj)
    return isinstance(obj, dict) and "role" in obj
