"""Hostile inputs made on the spot: decompression-bomb PDFs, image headers declaring absurd sizes,
deeply nested JSON. Nothing here is a stored fixture: each is a few lines of well-understood bytes."""

from __future__ import annotations

import struct
import zlib
from typing import Any


def pdf_bomb(inflated_bytes: int = 70 * 2**20) -> bytes:
    """A one-page PDF whose page tree lives in an object stream padded with ``inflated_bytes`` of blanks:
    a few tens of KB on disk, and any reader must inflate all of it to find the pages."""
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
    ]
    offsets, body = [], b""
    for o in objs:
        offsets.append(len(body))
        body += o + b"\n"
    header = b" ".join(b"%d %d" % (n + 1, off) for n, off in enumerate(offsets)) + b"\n"
    comp = zlib.compressobj(9)
    stream = comp.compress(header + body) + comp.compress(b" " * inflated_bytes) + comp.flush()
    out = b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n"
    xref_offsets = {}
    xref_offsets[4] = len(out)
    out += (
        (
            b"4 0 obj\n<< /Type /ObjStm /N 3 /First %d /Filter /FlateDecode /Length %d >>\nstream\n"
            % (len(header), len(stream))
        )
        + stream
        + b"\nendstream\nendobj\n"
    )
    xref_at = len(out)
    rows = [b"\x00" + struct.pack(">IH", 0, 65535)]
    rows += [b"\x02" + struct.pack(">IH", 4, i) for i in range(3)]  # objects 1-3: in object stream 4
    rows += [b"\x01" + struct.pack(">IH", xref_offsets[4], 0), b"\x01" + struct.pack(">IH", xref_at, 0)]
    xdata = b"".join(rows)
    out += (
        b"5 0 obj\n<< /Type /XRef /Size 6 /W [1 4 2] /Root 1 0 R /Length %d >>\nstream\n" % len(xdata)
        + xdata
        + b"\nendstream\nendobj\n"
    )
    out += b"startxref\n%d\n%%%%EOF\n" % xref_at
    return out


def png_header(width: int, height: int) -> bytes:
    """A PNG whose IHDR declares ``width`` × ``height`` (and one tiny, valid IDAT): the header is what
    Pillow reads to decide it is a bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b"")
    )


def nested(depth: int, leaf: Any = "x", key: str | None = "a") -> Any:
    """``depth`` levels of objects (``{key: ...}``) or, with ``key=None``, arrays."""
    value = leaf
    for _ in range(depth):
        value = {key: value} if key is not None else [value]
    return value


def nested_tool_result(depth: int) -> list[dict[str, Any]]:
    """tool_result content holding a tool_result holding ... ``depth`` times."""
    block: dict[str, Any] = {"type": "text", "text": "leaf"}
    for i in range(depth):
        block = {"type": "tool_result", "tool_use_id": f"t{i}", "content": [block]}
    return [block]
