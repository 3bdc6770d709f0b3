"""Attached files: read one (a path or uploaded bytes), describe it in a line and validate it on its own,
so a bad file carries its own error and is left out of the request."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..request import build_request
from ..request.files import IMAGE_TYPES, PDF_TYPE, image_block, pdf_block, read_path, sniff_media_type
from ..request.validate import image_size, pdf_pages
from .render import _size

UPLOAD_ACCEPT = "application/pdf,image/png,image/jpeg,image/gif,image/webp,.pdf,.png,.jpg,.jpeg,.gif,.webp"
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp")
_KIND_NAMES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WebP", PDF_TYPE: "PDF"}


@dataclass
class _File:
    name: str
    size: int
    kind: str = ""  # media type, when the bytes are an image or a PDF
    block: dict[str, Any] | None = None
    info: str = ""
    error: str | None = None  # its own problem: never sent
    checked_for: str | None = None  # the model its solo validation ran for
    tokens: int | None = None


def _read_upload(data: bytes, name: str) -> tuple[str, dict[str, Any]]:
    kind = sniff_media_type(data)
    if kind == PDF_TYPE:
        return kind, pdf_block(data)
    if kind in IMAGE_TYPES:
        return kind, image_block(data)
    suffix = Path(name).suffix.lower()
    if suffix in _IMAGE_SUFFIXES:
        raise InputError(f"named like an image ({suffix}) but its bytes are not PNG, JPEG, GIF or WebP")
    if suffix == ".pdf":
        raise InputError("named .pdf but it is not a PDF (no %PDF- header)")
    raise InputError("only PDF, PNG, JPEG, GIF and WebP files can be added")


def _describe(kind: str, data: bytes) -> str:
    """A short line about the file: 'PNG · 640×480 px', 'PDF · 3 pages'; '' when unreadable (validation says why)."""
    try:
        if kind == PDF_TYPE:
            n = pdf_pages(data)
            return f"PDF · {n} page{'s' if n != 1 else ''}"
        width, height = image_size(data)
        return f"{_KIND_NAMES.get(kind, kind)} · {width}×{height} px"
    except InputError:
        return _KIND_NAMES.get(kind, kind)


def _load_file(source: str | Path | bytes, name: str | None, model: str, max_bytes: int) -> _File:
    """Read one file and validate it on its own (a one-block request), so a bad file gets its own error.
    pypdf is only reached through ``validate.pdf_pages``, which keeps its repair warnings quiet."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data: bytes | None = bytes(source)
        entry = _File(name or "file", len(data))
    else:
        path = Path(source).expanduser()
        entry = _File(name or path.name, 0)
        data = None
        with contextlib.suppress(OSError):  # a missing file is reported by read_path below
            entry.size = path.stat().st_size
        if entry.size * 4 / 3 > max_bytes:  # base64 grows it by a third: refuse before reading it all
            entry.error = f"{_size(entry.size)} is over the API's {max_bytes / 2**20:.0f} MB request limit once encoded"
            return entry
        try:
            what, payload = read_path(path)
        except InputError as exc:
            entry.error = exc.message
            return entry
        if what not in ("image", "pdf"):
            entry.error = f"only PDF, PNG, JPEG, GIF and WebP files can be added (this is {what})"
            return entry
        data = payload
        entry.size = len(payload)
    assert data is not None
    try:
        entry.kind, entry.block = _read_upload(data, entry.name)
    except InputError as exc:
        entry.error = exc.message
        return entry
    entry.info = _describe(entry.kind, data)
    _check_alone(entry, model, max_bytes)
    return entry


def _check_alone(entry: _File, model: str, max_bytes: int) -> None:
    """Validate the file as the only block of a request for ``model`` (page caps depend on the model)."""
    if entry.block is None:
        return
    entry.checked_for = model
    try:
        build_request(entry.block, model=model, max_bytes=max_bytes)
    except InputError as exc:
        entry.error = exc.message
    else:
        entry.error = None
