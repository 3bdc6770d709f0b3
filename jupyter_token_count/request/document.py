"""A text document as JupyterLab's file editor holds it → the request it stands for, and what kind it is.

The rendering is the CLI's, so a file counts the same in the editor as with ``jupyter-token-count FILE``:
- text (``.md``, ``.txt``, ``.py``, any text) is one user message holding the text as one block;
- ``.json`` holding a message list or a request body (``count_tokens`` / ``messages.create``) is that request,
  with its own system prompt, tools and model;
- ``.jsonl`` whose every line is a message is that message list.
A JSON document that is neither (or is not valid JSON yet, while being typed) is counted as text, and the
answer says so. An empty document is the request frame alone, as an empty file is for the CLI.

JupyterLab holds images and PDFs as base64 (its image and PDF viewers): ``document_from_bytes`` reads those bytes
as the CLI reads the file, an image or a PDF as one user message holding that block; any other bytes as text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from ..errors import InputError
from . import files
from .body import CountRequest
from .build import build_request
from .inputs import file_blocks, kind_of

_MEDIA_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp", ".pdf"})


@dataclass(frozen=True)
class Document:
    kind: str
    #: one line for the tooltip: what the document was counted as, and why
    note: str
    request: CountRequest


def _parsed(name: str, text: str) -> tuple[Any, str | None]:
    """The JSON value of a ``.json`` / ``.jsonl`` document, or (None, why it is taken as text)."""
    suffix = PurePath(name).suffix.lower()
    if suffix == ".jsonl":
        lines = [ln for ln in text.splitlines() if ln.strip()]
        try:
            return [json.loads(ln) for ln in lines], None
        except json.JSONDecodeError as exc:
            return None, f"not JSON Lines ({exc.msg}): counted as text"
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}): counted as text"


def document_request(name: str, text: str, **build: Any) -> Document:
    """``name`` decides how ``text`` is read (its suffix); ``build`` goes to ``build_request`` (model, max_bytes).
    A model named in a JSON request body wins over ``build['model']``: it is the model the request goes to."""
    if not text.strip():
        return Document("text", "empty: the request frame alone", build_request({"cells": []}, **build))
    suffix = PurePath(name).suffix.lower()
    if suffix in (".json", ".jsonl"):
        value, why = _parsed(name, text)
        if why is None:
            kind = kind_of(value) if isinstance(value, (dict, list)) else "text"
            if kind in ("request", "messages"):
                kwargs = dict(build)
                if kind == "request" and isinstance(value.get("model"), str) and value["model"].strip():
                    kwargs["model"] = value["model"]
                try:
                    req = build_request(value, **kwargs)
                except InputError as exc:
                    raise exc.at(f"document '{name}'") from None
                if kind == "request":
                    return Document("request", "a request body (its system prompt, tools and model included)", req)
                return Document("messages", f"a list of {len(value)} message{'s' if len(value) != 1 else ''}", req)
            why = "JSON, but neither a message list nor a request body: counted as text"
        return Document("text", why, _text_request(text, build))
    return Document("text", "text, as one user message", _text_request(text, build))


def _text_request(text: str, build: dict[str, Any]) -> CountRequest:
    return build_request([{"role": "user", "content": [{"type": "text", "text": text}]}], **build)


def document_from_bytes(name: str, data: bytes, **build: Any) -> Document:
    """A document JupyterLab holds as base64 (an image or a PDF in its viewer) → its request, as the CLI reads the
    file: an image or a PDF is one user message holding that block (the media type from the bytes, never the name);
    other bytes are the document's text."""
    where = f"document '{name}'"
    suffix = PurePath(name).suffix.lower()
    if files.sniff_media_type(data) is None and suffix not in _MEDIA_SUFFIXES:
        try:
            _, text = files.classify_bytes(data, ".txt", where)
        except InputError:
            raise InputError(
                "neither text nor a file Claude reads as a block (a PNG, JPEG, GIF or WebP image, or a PDF)", where
            ) from None
        return document_request(name, text, **build)
    kind, payload = files.classify_bytes(data, suffix, where)  # an image or a PDF, or the name's complaint
    blocks = file_blocks(kind, payload, where, include_outputs=False)
    try:
        req = build_request([{"role": "user", "content": blocks}], **build)
    except InputError as exc:
        raise exc.at(where) from None
    # after validation: an image whose header Pillow cannot read is a 400 there, not a 500 here
    note = _image_note(payload, build.get("model")) if kind == "image" else "a PDF document, as one user message"
    return Document(kind, note, req)


def _image_note(data: bytes, model: str | None) -> str:
    """What the image is and, when the model's image rules shrink it, the size the model sees it at."""
    import io

    from PIL import Image

    from .. import registry
    from ..backends.offline import images

    with Image.open(io.BytesIO(data)) as im:
        w, h, fmt = int(im.width), int(im.height), str(im.format or "image")
    note = f"a {fmt} image of {w:,}×{h:,} px, as one user message"
    try:
        info = registry.resolve(model or registry.default_model())
    except ValueError:
        return note
    limits = info.image_limits()
    resize = images.area750_size if limits.get("rule") == "area750" else images.patch28_size
    seen = resize(w, h, int(limits.get("max_edge", 1568)), int(limits.get("max_tokens", 1568)))
    if seen != (w, h):
        note += f" ({info.display_name or info.id} sees it at {seen[0]:,}×{seen[1]:,})"
    return note
