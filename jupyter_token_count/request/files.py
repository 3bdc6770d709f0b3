"""Files, bytes and PIL images → content blocks. Media types are sniffed from the bytes, never trusted
from a file name: a ``.png`` that is really a JPEG is sent as ``image/jpeg``."""

from __future__ import annotations

import base64
import io
import json
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from ..errors import InputError, shown

IMAGE_TYPES: tuple[str, ...] = ("image/jpeg", "image/png", "image/gif", "image/webp")
PDF_TYPE = "application/pdf"
TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".rst", ".py", ".csv", ".tsv", ".xml", ".html", ".yaml", ".yml"})
#: Suffixes a plain string is taken as a path for (when such a file exists), see ``looks_like_path``.
PATH_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp", ".pdf", ".ipynb", ".json"}) | TEXT_SUFFIXES

#: False where strings are literal JSON from someone else (the server extension's REST bodies): a prompt
#: that happens to name an existing file must be counted as text, never read from the server's disk.
strings_may_be_paths: ContextVar[bool] = ContextVar("strings_may_be_paths", default=True)

_PIL_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}


def sniff_media_type(data: bytes) -> str | None:
    """The media type the bytes really are, from their magic numbers; None when not an image or a PDF."""
    head = data[:16]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    # PDF readers accept the header anywhere in the first KiB
    if b"%PDF-" in data[:1024]:
        return PDF_TYPE
    return None


def b64(data: bytes) -> str:
    return base64.standard_b64encode(data).decode("ascii")


def image_block(data: bytes, media_type: str | None = None) -> dict[str, Any]:
    sniffed = sniff_media_type(data)
    if sniffed is None or sniffed == PDF_TYPE:
        raise InputError(
            "not a PNG, JPEG, GIF or WebP image (the bytes do not start like one)"
            + (f"; {media_type} was declared" if media_type else "")
        )
    if media_type and media_type != sniffed:
        raise InputError(f"media type {media_type} does not match the bytes, which are {sniffed}")
    return {"type": "image", "source": {"type": "base64", "media_type": sniffed, "data": b64(data)}}


def pdf_block(data: bytes, title: str | None = None) -> dict[str, Any]:
    if sniff_media_type(data) != PDF_TYPE:
        raise InputError("not a PDF (no %PDF- header in its first KiB)")
    block: dict[str, Any] = {
        "type": "document",
        "source": {"type": "base64", "media_type": PDF_TYPE, "data": b64(data)},
    }
    if title:
        block["title"] = title
    return block


def bytes_block(data: bytes, media_type: str | None = None) -> dict[str, Any]:
    """Bytes with an optional declared media type → an image, document or text block."""
    if media_type and media_type.startswith("text/"):
        return {"type": "text", "text": _decode_text(data)}
    kind = media_type or sniff_media_type(data)
    if kind == PDF_TYPE:
        return pdf_block(data)
    if kind in IMAGE_TYPES:
        return image_block(data, media_type)
    if kind is None:
        raise InputError("bytes of unknown type: pass (data, media_type), e.g. (data, 'image/png')")
    raise InputError(f"unsupported media type {shown(kind)}; expected one of {', '.join((*IMAGE_TYPES, PDF_TYPE))}")


def pil_block(img: Any) -> dict[str, Any]:
    """A PIL image → PNG-encoded image block (lossless; the count depends only on the pixel size).
    An image loaded from a JPEG/GIF/WebP file keeps its original bytes' format when re-encodable."""
    fmt = getattr(img, "format", None)
    target = fmt if fmt in _PIL_FORMATS else "PNG"
    buf = io.BytesIO()
    try:
        frame = img if target != "JPEG" or img.mode in ("RGB", "L") else img.convert("RGB")
        frame.save(buf, format=target)
    except Exception as exc:  # a mode the format cannot hold: fall back to PNG
        buf = io.BytesIO()
        try:
            img.save(buf, format="PNG")
        except Exception:
            raise InputError(f"this PIL image cannot be encoded ({exc})") from None
    return image_block(buf.getvalue())


def _decode_text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start} is invalid)") from None


def _expanded(path: str | Path) -> Path | None:
    """``~`` and ``~user`` expanded, or None when there is no such user (``~0``: pathlib raises)."""
    try:
        return Path(path).expanduser()
    except RuntimeError:
        return None


def looks_like_path(text: str) -> bool:
    """A plain string is a path only if it is one short line ending in a known suffix and the file
    exists; anything else is prompt text. ``pathlib.Path`` always means a file."""
    if not strings_may_be_paths.get() or "\n" in text or len(text) > 1024 or not text.strip():
        return False
    p = _expanded(text)
    if p is None or p.suffix.lower() not in PATH_SUFFIXES:
        return False
    try:
        return p.is_file()
    except (OSError, ValueError):  # a name too long for the file system, a NUL: not a file, so prompt text
        return False


def read_path(path: Path) -> tuple[str, Any]:
    """Read a file and say what it holds: ("image"|"pdf"|"notebook"|"json"|"text"|"empty", payload)."""
    expanded = _expanded(path)
    if expanded is None:
        raise InputError("no such user's home directory", f"file {shown(str(path))}")
    path = expanded
    where = f"file '{path}'"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError("no such file", where) from None
    except IsADirectoryError:
        raise InputError("is a directory, not a file", where) from None
    except OSError as exc:
        raise InputError(f"cannot be read ({exc.strerror or exc})", where) from None
    return classify_bytes(data, path.suffix, where)


#: what a file must be to be counted (said when one is none of them)
_READABLE = "expected UTF-8 text, a PNG, JPEG, GIF or WebP image, or a PDF"


def classify_bytes(data: bytes, suffix: str, where: str) -> tuple[str, Any]:
    """A file's bytes, named with ``suffix``, → what they hold, as ``read_path`` says (errors name ``where``):
    the CLI reading a file and the server reading a document JupyterLab holds as base64 read it alike."""
    sniffed = sniff_media_type(data)
    suffix = suffix.lower()
    if sniffed == PDF_TYPE:
        return "pdf", data
    if sniffed is not None:
        return "image", data
    if suffix in (".png", ".jpg", ".jpeg", ".gif", ".webp"):
        raise InputError(f"named like an image ({suffix}) but its bytes are not PNG, JPEG, GIF or WebP", where)
    if suffix == ".pdf":
        raise InputError("named .pdf but it is not a PDF (no %PDF- header)", where)
    try:
        text = _decode_text(data)
    except InputError as exc:
        raise InputError(f"{exc.message}; {_READABLE}", where) from None
    if "\x00" in text[:8192]:  # valid UTF-8 but a binary file all the same (git's test): not prompt text
        raise InputError(f"a binary file (it holds NUL bytes), not text; {_READABLE}", where)
    if not text.strip():  # an empty file (whatever its kind) holds nothing to count, which is not an error
        return "empty", ""
    if suffix == ".ipynb":
        return "notebook", text
    if suffix == ".json":
        try:
            return "json", json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", where) from None
    return "text", text
