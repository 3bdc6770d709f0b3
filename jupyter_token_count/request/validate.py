"""Checks a request body the way the API would, before anything is sent or estimated, with errors that
name the exact place (``messages[2].content[1].source``) and say what was expected."""

from __future__ import annotations

import base64
import binascii
import io
from typing import Any

from ..errors import InputError, shown
from ..memo import bounded_by_size
from ..pdfread import read_pdf
from .files import IMAGE_TYPES, PDF_TYPE, sniff_media_type

MAX_IMAGE_EDGE = 8000
#: once a request has more than this many images, each must fit MANY_IMAGES_EDGE
MANY_IMAGES = 20
MANY_IMAGES_EDGE = 2000
MAX_IMAGE_BASE64 = 10 * 1024 * 1024
MAX_PDF_PAGES = 600
MIN_THINKING_BUDGET = 1024
#: 'system' messages mid-conversation are accepted by the API (seen in real recorded requests)
ROLES = ("user", "assistant", "system")

#: Server tools: count_tokens answers invalid_request_error for them (advisor excepted), so we say so first.
#: (``mcp_toolset`` is not one of them: it declares the tools of an MCP server named in ``mcp_servers``.)
SERVER_TOOL_PREFIXES = ("web_search_", "web_fetch_", "code_execution_", "tool_search_tool_")
TOOL_CHOICES = ("auto", "any", "tool", "none")
THINKING_TYPES = ("enabled", "disabled", "adaptive")

_URL_HINT = (
    "count_tokens rejects {kind} sources of type 'url'; download the file and pass it as base64, "
    "e.g. count_tokens([Path('file')]), or upload it with the Files API and use a 'file' source"
)


@bounded_by_size(96 * 2**20)
def decode_base64(data: str) -> bytes:
    """Strict base64 decoding, cached by the string: the widget re-validates the same attached file on every
    keystroke, and a notebook's image outputs are checked again on every recount."""
    return base64.b64decode(data, validate=True)


def _b64(data: Any, where: str) -> bytes:
    if not isinstance(data, str) or not data:
        raise InputError("source.data must be a non-empty base64 string", where)
    try:
        return decode_base64(data)
    except (binascii.Error, ValueError):
        raise InputError("source.data is not valid base64 (standard alphabet, no line breaks)", where) from None


@bounded_by_size(64 * 2**20)
def image_size(data: bytes) -> tuple[int, int]:
    """Pixel size from the image header; raises InputError for bytes Pillow cannot read."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            size = img.size
            if size[0] > MAX_IMAGE_EDGE or size[1] > MAX_IMAGE_EDGE:
                return size  # refused by the caller for its size: no need to look further
            img.verify()  # checks structure (chunk CRCs for PNG) without decoding pixels
    except Image.DecompressionBombError:
        # Pillow refuses headers declaring more than 2 × MAX_IMAGE_PIXELS before reading any pixel
        raise InputError(
            f"the image header declares more than {2 * (Image.MAX_IMAGE_PIXELS or 0):,} pixels; the API "
            f"accepts at most {MAX_IMAGE_EDGE}×{MAX_IMAGE_EDGE}"
        ) from None
    except UnidentifiedImageError:  # its text names a BytesIO object and its address: nothing a user can act on
        raise InputError("the image data is corrupt or truncated (no image format could read it)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InputError(f"the image data is corrupt or truncated ({exc})") from None
    return size


@bounded_by_size(64 * 2**20)
def pdf_pages(data: bytes) -> int:
    """Page count of a readable, unencrypted PDF; InputError otherwise. Parsed in a worker process bounded
    in time and memory (``pdfread``)."""
    return len(read_pdf(data, text=False))


class _Walker:
    def __init__(self, context_window: int | None) -> None:
        self.images: list[tuple[str, int, int]] = []
        self.pdf_pages = 0
        self.context_window = context_window

    def image(self, block: dict[str, Any], where: str) -> None:
        source = block.get("source")
        if not isinstance(source, dict):
            raise InputError("image block needs a 'source' object", where)
        stype = source.get("type")
        if stype == "url":
            raise InputError(_URL_HINT.format(kind="image"), f"{where}.source")
        if stype == "file":
            _file_id(source, f"{where}.source")
            return
        if stype != "base64":
            raise InputError(
                f"unknown image source type {shown(stype)} (expected 'base64' or 'file')", f"{where}.source"
            )
        declared = source.get("media_type")
        if declared not in IMAGE_TYPES:
            raise InputError(
                f"media_type {shown(declared)} is not supported; expected one of {', '.join(IMAGE_TYPES)}",
                f"{where}.source",
            )
        data = source.get("data")
        if isinstance(data, str) and len(data) > MAX_IMAGE_BASE64:
            raise InputError(f"image is {len(data) / 2**20:.1f} MB as base64; the API accepts at most 10 MB", where)
        raw = _b64(data, f"{where}.source")
        actual = sniff_media_type(raw)
        if actual != declared:
            what = actual or "not an image"
            raise InputError(f"media_type says {declared} but the bytes are {what}", f"{where}.source")
        try:
            w, h = image_size(raw)
        except InputError as exc:
            raise exc.at(where) from None
        if w > MAX_IMAGE_EDGE or h > MAX_IMAGE_EDGE:
            raise InputError(f"image is {w}×{h} px; the API accepts at most {MAX_IMAGE_EDGE}×{MAX_IMAGE_EDGE}", where)
        self.images.append((where, w, h))

    def document(self, block: dict[str, Any], where: str) -> None:
        source = block.get("source")
        if not isinstance(source, dict):
            raise InputError("document block needs a 'source' object", where)
        stype = source.get("type")
        if stype == "url":
            raise InputError(_URL_HINT.format(kind="document"), f"{where}.source")
        if stype == "file":
            _file_id(source, f"{where}.source")
        elif stype == "base64":
            if source.get("media_type") != PDF_TYPE:
                raise InputError(
                    f"base64 documents must be application/pdf, not {shown(source.get('media_type'))}",
                    f"{where}.source",
                )
            raw = _b64(source.get("data"), f"{where}.source")
            if sniff_media_type(raw) != PDF_TYPE:
                raise InputError("media_type says application/pdf but the bytes are not a PDF", f"{where}.source")
            try:
                self.pdf_pages += pdf_pages(raw)
            except InputError as exc:
                raise exc.at(where) from None
        elif stype == "text":
            if not isinstance(source.get("data"), str):
                raise InputError("a text document needs source.data as a string", f"{where}.source")
        elif stype == "content":
            content = source.get("content")
            if isinstance(content, list):
                self.blocks(content, f"{where}.source.content")
            elif not isinstance(content, str):
                raise InputError("source.content must be a string or a list of blocks", f"{where}.source")
        else:
            raise InputError(
                f"unknown document source type {shown(stype)} (expected base64, text, content or file)",
                f"{where}.source",
            )

    def block(self, block: Any, where: str) -> None:
        if not isinstance(block, dict):
            raise InputError(f"expected a content block object, got {type(block).__name__}", where)
        btype = block.get("type")
        if btype == "text":
            text = block.get("text")
            if not isinstance(text, str):
                raise InputError("text block needs 'text' as a string", where)
            if not text:
                raise InputError("text is empty (the API rejects empty text blocks)", where)
        elif btype == "image":
            self.image(block, where)
        elif btype == "document":
            self.document(block, where)
        elif btype == "tool_result":
            content = block.get("content")
            if isinstance(content, list):
                self.blocks(content, f"{where}.content", allow_empty=True)
            if not isinstance(block.get("tool_use_id"), str):
                raise InputError("tool_result needs 'tool_use_id'", where)
        elif btype == "tool_use":
            if not isinstance(block.get("name"), str) or not isinstance(block.get("id"), str):
                raise InputError("tool_use needs 'id' and 'name' strings", where)
            if not isinstance(block.get("input", {}), dict):
                raise InputError("tool_use 'input' must be an object", where)
        elif btype == "container_upload":
            _file_id(block, where)
        elif btype == "search_result" and isinstance(block.get("content"), list):
            self.blocks(block["content"], f"{where}.content")
        elif not isinstance(btype, str):
            raise InputError("content block has no 'type'", where)
        # other block types (thinking, redacted_thinking, server tool results, ...) pass through: the API judges them

    def blocks(self, blocks: list[Any], where: str, allow_empty: bool = False) -> None:
        if not blocks and not allow_empty:
            raise InputError("content is an empty list", where)
        for j, b in enumerate(blocks):
            self.block(b, f"{where}[{j}]")

    def finish(self) -> None:
        if len(self.images) > MANY_IMAGES:
            for where, w, h in self.images:
                if w > MANY_IMAGES_EDGE or h > MANY_IMAGES_EDGE:
                    raise InputError(
                        f"image is {w}×{h} px; with more than {MANY_IMAGES} images in a request each must be at most "
                        f"{MANY_IMAGES_EDGE}×{MANY_IMAGES_EDGE}",
                        where,
                    )
        page_cap = MAX_PDF_PAGES if (self.context_window or 0) >= 1_000_000 else 100
        if self.pdf_pages > page_cap:
            raise InputError(
                f"the PDFs have {self.pdf_pages} pages in all; this model accepts at most {page_cap} per request"
            )


def _file_id(obj: dict[str, Any], where: str) -> None:
    """A Files-API reference: counted by the API (with the files beta, added for it), never offline."""
    file_id = obj.get("file_id")
    if not isinstance(file_id, str) or not file_id.strip():
        raise InputError("a 'file' source needs 'file_id', the id the Files API gave the upload", where)


def _mcp_servers(servers: Any) -> set[str]:
    """The MCP connector's servers (``mcp_servers``): each a URL server with a unique name. Returns the names."""
    if not isinstance(servers, list):
        raise InputError("mcp_servers must be a list of MCP server definitions", "mcp_servers")
    names: set[str] = set()
    for i, server in enumerate(servers):
        where = f"mcp_servers[{i}]"
        if not isinstance(server, dict):
            raise InputError(f"expected an MCP server object, got {type(server).__name__}", where)
        if server.get("type", "url") != "url":
            raise InputError(f"MCP server type {shown(server.get('type'))} is not known (expected 'url')", where)
        name, url = server.get("name"), server.get("url")
        if not isinstance(name, str) or not name:
            raise InputError("an MCP server needs a 'name'", where)
        if not isinstance(url, str) or not url:
            raise InputError("an MCP server needs a 'url'", where)
        if name in names:
            raise InputError(f"duplicate MCP server name {shown(name)}", where)
        names.add(name)
    return names


def _context_management(cm: Any) -> None:
    if not isinstance(cm, dict):
        raise InputError("context_management must be an object with 'edits'", "context_management")
    edits = cm.get("edits", [])
    if not isinstance(edits, list):
        raise InputError("edits must be a list of context edits", "context_management.edits")
    for i, edit in enumerate(edits):
        if not isinstance(edit, dict) or not isinstance(edit.get("type"), str):
            raise InputError(
                "a context edit needs a 'type' (e.g. 'clear_tool_uses_20250919')", f"context_management.edits[{i}]"
            )


def _tools(tools: Any, mcp_servers: set[str]) -> set[str]:
    if not isinstance(tools, list):
        raise InputError("tools must be a list of tool definitions", "tools")
    names: set[str] = set()
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise InputError(f"expected a tool object, got {type(tool).__name__}", where)
        ttype = tool.get("type")
        if ttype == "mcp_toolset":
            server = tool.get("mcp_server_name")
            if server not in mcp_servers:
                known = f"; mcp_servers names {', '.join(sorted(mcp_servers))}" if mcp_servers else ""
                raise InputError(
                    f"mcp_toolset names MCP server {shown(server)}, which is not in mcp_servers{known}", where
                )
            continue
        name = tool.get("name")
        if isinstance(ttype, str) and ttype.startswith(SERVER_TOOL_PREFIXES):
            raise InputError(
                f"server tool {shown(ttype)} cannot be counted: count_tokens rejects server tools; "
                "read usage from the real Messages response instead",
                where,
            )
        if not isinstance(name, str) or not name:
            raise InputError("tool needs a 'name'", where)
        if ttype in (None, "custom") and not isinstance(tool.get("input_schema"), dict):
            raise InputError(f"tool {shown(name)} needs an 'input_schema' object (a JSON Schema)", where)
        if name in names:
            raise InputError(f"duplicate tool name {shown(name)}; tool names must be unique", where)
        names.add(name)
    return names


def validate_body(body: dict[str, Any], *, max_bytes: int | None, context_window: int | None, size: int | None) -> None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InputError("there must be at least one message", "messages")
    walker = _Walker(context_window)
    last = len(messages) - 1
    for i, msg in enumerate(messages):
        where = f"messages[{i}]"
        role = msg.get("role")
        if role not in ROLES:
            raise InputError(
                f"unknown role {shown(role)}; expected 'user' or 'assistant' (or 'system' for an "
                "instruction mid-conversation; the first system prompt goes in system=...)",
                f"{where}.role",
            )
        content = msg.get("content")
        final_assistant = i == last and role == "assistant"
        if isinstance(content, str):
            if not content and not final_assistant:
                raise InputError("content is empty", f"{where}.content")
        elif isinstance(content, list):
            walker.blocks(content, f"{where}.content", allow_empty=final_assistant)
        else:
            raise InputError("content must be a string or a list of blocks", f"{where}.content")
    system = body.get("system")
    if system is not None:
        if isinstance(system, list):
            for j, b in enumerate(system):
                if not isinstance(b, dict) or b.get("type") != "text":
                    raise InputError("system blocks must be text blocks", f"system[{j}]")
                walker.block(b, f"system[{j}]")
        elif not isinstance(system, str):
            raise InputError("system must be a string or a list of text blocks", "system")
    servers = _mcp_servers(body["mcp_servers"]) if "mcp_servers" in body else set()
    if "context_management" in body:
        _context_management(body["context_management"])
    names = _tools(body["tools"], servers) if "tools" in body else set()
    tc = body.get("tool_choice")
    if tc is not None:
        if not isinstance(tc, dict) or tc.get("type") not in TOOL_CHOICES:
            raise InputError(f"tool_choice must be an object with type one of {', '.join(TOOL_CHOICES)}", "tool_choice")
        if tc["type"] in ("any", "tool") and not names:
            raise InputError(f"tool_choice {shown(tc['type'])} needs tools", "tool_choice")
        if tc["type"] == "tool" and tc.get("name") not in names:
            raise InputError(f"tool_choice names {shown(tc.get('name'))}, which is not among the tools", "tool_choice")
    thinking = body.get("thinking")
    if thinking is not None:
        if not isinstance(thinking, dict) or thinking.get("type") not in THINKING_TYPES:
            raise InputError(f"thinking must be an object with type one of {', '.join(THINKING_TYPES)}", "thinking")
        if thinking["type"] == "enabled":
            budget = thinking.get("budget_tokens")
            if not isinstance(budget, int) or budget < MIN_THINKING_BUDGET:
                raise InputError(
                    f"thinking.budget_tokens must be an integer of at least {MIN_THINKING_BUDGET}", "thinking"
                )
    walker.finish()
    if max_bytes is not None and size is not None and size > max_bytes:
        raise InputError(f"the request is {size / 2**20:.1f} MB; the API accepts at most {max_bytes / 2**20:.0f} MB")
