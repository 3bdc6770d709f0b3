"""A local stand-in of Anthropic's count_tokens endpoint: a real HTTP server on 127.0.0.1.

It speaks the documented protocol (``POST /v1/messages/count_tokens``, ``GET /v1/models``, the Files API's
``/v1/files``): it checks the auth headers and ``anthropic-version``, validates the request body the way the API
does (unknown fields, roles, empty content, URL sources, server tools, request size), answers errors with the
API's error body shape and ``request-id``, and can be scripted to fail (429 with ``retry-after``, 529,
5xx, slow answers). Every request it receives is recorded, so tests assert on the bytes on the wire.

It is as strict as the real API about betas (the facts: the project's api-betas reference): an ``anthropic-beta``
value it does not know is refused ("Unexpected value(s) ..."); a field or block that only a beta enables
(``context_management``, ``mcp_servers``, ``compaction``, ``output_format``, ``billing_policy``, ``file`` sources,
an ``mcp_toolset`` tool) sent without that beta is refused as the API refuses it ("<field>: Extra inputs are not
permitted", or a tag that matches none of the GA ones). With ``context_management`` the answer carries
``context_management.original_input_tokens``, the count before the edits; a ``file`` source counts as the uploaded
bytes would inline. The Messages endpoint (the call meter's) applies the same rules.

Its token numbers follow a simple deterministic rule of its own (``standin_count``), deliberately
unrelated to our offline estimator, so a test can always tell an API answer from an estimate.
"""

from __future__ import annotations

import base64
import json
import math
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, get_args

#: versions the API accepts (the docs' 2023-06-01, and the one SDK 2.x sends)
API_VERSIONS = ("2023-06-01", "2026-10-21")
MAX_BYTES = 32 * 1024 * 1024
#: fields of the GA count endpoint (no beta needed)
FIELDS = {"model", "messages", "system", "tools", "tool_choice", "thinking", "output_config", "cache_control", "speed"}
#: fields only a beta enables → the betas that enable each (any one of them)
BETA_FIELDS = {
    "context_management": ("context-management-2025-06-27", "compact-2026-01-12"),
    "mcp_servers": ("mcp-client-2025-04-04", "mcp-client-2025-11-20", "mcp-client-2026-09-15"),
    "compaction": ("compact-2026-09-04",),
    "output_format": ("structured-outputs-2025-11-13",),
}
#: context edit types → the beta each needs
EDIT_BETAS = {
    "clear_tool_uses_20250919": "context-management-2025-06-27",
    "clear_thinking_20251015": "context-management-2025-06-27",
    "compact_20260112": "compact-2026-01-12",
}
FILES_BETA = "files-api-2025-04-14"
#: the tool set of an MCP server (``mcp_servers``) exists from the MCP connector's second version on
TOOLSET_BETAS = ("mcp-client-2025-11-20", "mcp-client-2026-09-15")
#: fields of a count body that configure, not add, tokens: not counted (compaction: accepted and ignored)
CONFIG_FIELDS = ("model", "context_management", "compaction", "billing_policy")
SERVER_TOOL_PREFIXES = ("web_search_", "web_fetch_", "code_execution_", "tool_search_tool_")


def _known_betas() -> frozenset[str]:
    """The beta names the API knows: the ones the official SDK lists (``AnthropicBetaParam``)."""
    from anthropic.types import AnthropicBetaParam

    literal = next(a for a in get_args(AnthropicBetaParam) if a is not str)
    return frozenset(get_args(literal))


KNOWN_BETAS = _known_betas()

MODELS = [
    {
        "id": "claude-sonnet-5-5",
        "display_name": "Claude Sonnet 5.5",
        "max_input_tokens": 1_000_000,
        "max_tokens": 128_000,
    },
    {"id": "claude-opus-4-8", "display_name": "Claude Opus 4.8", "max_input_tokens": 1_000_000, "max_tokens": 128_000},
    {
        "id": "claude-haiku-4-5-20251001",
        "display_name": "Claude Haiku 4.5",
        "max_input_tokens": 200_000,
        "max_tokens": 64_000,
    },
    {"id": "claude-sonnet-6", "display_name": "Claude Sonnet 6", "max_input_tokens": 2_000_000, "max_tokens": 256_000},
]


def standin_count(body: dict[str, Any]) -> int:
    """The stand-in's own rule: 5 + one token per 4 bytes of the canonical JSON of what is counted (the body less
    the fields that only configure: model, context_management, compaction, billing_policy)."""
    payload = {k: v for k, v in body.items() if k not in CONFIG_FIELDS}
    size = len(json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode())
    return 5 + math.ceil(size / 4)


def _with_files(value: Any, files: dict[str, StoredFile]) -> Any:
    """``value`` with every ``file`` source replaced by the uploaded bytes inline (base64): a file counts as they
    would."""
    if isinstance(value, list):
        return [_with_files(v, files) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: _with_files(v, files) for k, v in value.items()}
    src = value.get("source")
    if isinstance(src, dict) and src.get("type") == "file" and src.get("file_id") in files:
        f = files[src["file_id"]]
        out["source"] = {"type": "base64", "media_type": f.mime_type, "data": base64.b64encode(f.data).decode()}
    return out


def _edited(body: dict[str, Any], total: int) -> dict[str, Any]:
    """The body as the model would read it after its context edits (only ``clear_tool_uses_20250919`` and
    ``clear_thinking_20251015`` are simulated; a compaction edit is left as is). ``total``: the count before."""
    edits = (body.get("context_management") or {}).get("edits") or []
    messages = json.loads(json.dumps(body.get("messages") or []))
    for edit in edits:
        kind = edit.get("type")
        if kind == "clear_tool_uses_20250919":
            trigger = (edit.get("trigger") or {}).get("value", 100_000)
            keep = (edit.get("keep") or {}).get("value", 3)
            if total <= trigger:
                continue
            results = [
                b
                for m in messages
                for b in (m.get("content") if isinstance(m.get("content"), list) else [])
                if isinstance(b, dict) and b.get("type") == "tool_result"
            ]
            for b in results[: max(0, len(results) - keep)]:
                b["content"] = "[cleared]"
        elif kind == "clear_thinking_20251015":
            keep = (edit.get("keep") or {}).get("value", 1) if isinstance(edit.get("keep"), dict) else 1
            turns = [m for m in messages if m.get("role") == "assistant" and isinstance(m.get("content"), list)]
            for m in turns[: max(0, len(turns) - keep)]:
                m["content"] = [b for b in m["content"] if not (isinstance(b, dict) and b.get("type") == "thinking")]
    return {**body, "messages": messages}


def count_answer(standin: StandIn, body: dict[str, Any]) -> dict[str, Any]:
    """The count endpoint's answer for a valid body: ``input_tokens``, and with context editing the count before the
    edits under ``context_management.original_input_tokens``."""
    inline = _with_files(body, standin.files)
    total = standin_count(inline)
    if body.get("context_management") is None:
        return {"input_tokens": total}
    return {
        "input_tokens": standin_count(_edited(inline, total)),
        "context_management": {"original_input_tokens": total},
    }


@dataclass
class StoredFile:
    id: str
    filename: str
    mime_type: str
    data: bytes


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client that timed out and hung up (the timeout tests do it on purpose) is not an error here
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    raw: bytes
    at: float

    @property
    def json(self) -> Any:
        return json.loads(self.raw)


@dataclass
class Scripted:
    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False  # close the connection without answering
    raw: bytes | None = None  # fault injection: exactly these body bytes (see "Fault injection" below)
    content_type: str = "application/json"


class StandIn:
    def __init__(self, api_key: str = "test-key-for-the-local-standin-0123456789") -> None:
        self.api_key = api_key
        #: keys the stand-in takes besides ``api_key`` (other users' keys: ``accept_key``)
        self.other_keys: set[str] = set()
        self.requests: list[Recorded] = []
        self.script: deque[Scripted] = deque()
        self.delay = 0.0  # added to every successful answer (to hold requests in flight)
        self.models = [dict(m) for m in MODELS]
        #: uploads of the Files API (``POST /v1/files``, or ``add_file``), by id
        self.files: dict[str, StoredFile] = {}
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="standin", daemon=True)

    # -- control -----------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> StandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def accept_key(self, key: str) -> str:
        """Take ``key`` too (another user's key, e.g. of another organisation); returns it."""
        self.other_keys.add(key)
        return key

    def fail_next(
        self,
        status: int,
        *,
        times: int = 1,
        retry_after: float | None = None,
        message: str | None = None,
        error_type: str | None = None,
        delay: float = 0.0,
    ) -> None:
        etype = error_type or {
            400: "invalid_request_error",
            401: "authentication_error",
            403: "permission_error",
            404: "not_found_error",
            413: "request_too_large",
            429: "rate_limit_error",
            500: "api_error",
            529: "overloaded_error",
        }.get(status, "api_error")
        headers = {}
        if retry_after is not None:
            headers["retry-after"] = f"{retry_after:g}"
        body = {"type": "error", "error": {"type": etype, "message": message or f"scripted {status}"}}
        for _ in range(times):
            self.script.append(Scripted(status, body, headers, delay))

    def hang_next(self, seconds: float, times: int = 1) -> None:
        """The next answers come only after ``seconds`` (longer than a client timeout = a timeout)."""
        for _ in range(times):
            self.script.append(Scripted(200, None, {}, seconds))

    # -- fault injection (see the section at the end of this file) -------------------------------------
    def answer_next(
        self,
        raw: bytes | str,
        *,
        status: int = 200,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """The next answers are exactly ``raw`` (malformed 200s: HTML, a string count, a negative one...)."""
        data = raw.encode() if isinstance(raw, str) else raw
        for _ in range(times):
            self.script.append(Scripted(status, None, dict(headers or {}), raw=data, content_type=content_type))

    def reset_next(self, times: int = 1) -> None:
        """The next requests are read, then the connection is reset without an answer."""
        for _ in range(times):
            self.script.append(Scripted(0, None, drop=True))

    def add_file(self, data: bytes, mime_type: str, filename: str = "upload") -> str:
        """Store a file as an upload through the Files API would; returns its id."""
        file_id = "file_" + uuid.uuid4().hex[:24]
        self.files[file_id] = StoredFile(file_id, filename, mime_type, data)
        return file_id

    def count_requests(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith("/v1/messages/count_tokens")]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
        self.other_keys = set()
        self.script.clear()
        self.delay = 0.0
        self.__dict__.pop("prompt_cache", None)  # the Messages section's prompt cache (below)
        self.files.clear()

    # -- protocol ----------------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("request-id", "req_" + uuid.uuid4().hex[:24])
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _error(self, status: int, etype: str, message: str, headers: dict[str, str] | None = None) -> None:
                self._send(status, {"type": "error", "error": {"type": etype, "message": message}}, headers)

            def _record(self, raw: bytes) -> None:
                rec = Recorded(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, raw, time.monotonic()
                )
                with standin._lock:
                    standin.requests.append(rec)

            def _auth_ok(self) -> bool:
                key = self.headers.get("x-api-key")
                auth = self.headers.get("authorization", "")
                if auth.lower().startswith("bearer "):
                    key = key or auth[7:]
                if not key:
                    self._error(401, "authentication_error", "x-api-key header is required")
                    return False
                if key != standin.api_key and key not in standin.other_keys:
                    self._error(401, "authentication_error", "invalid x-api-key")
                    return False
                version = self.headers.get("anthropic-version")
                if not version:
                    self._error(400, "invalid_request_error", "anthropic-version: header is required")
                    return False
                if version not in API_VERSIONS:
                    self._error(400, "invalid_request_error", f"anthropic-version: unknown version {version!r}")
                    return False
                return True

            def do_GET(self) -> None:
                self._record(b"")
                if not self._auth_ok():
                    return
                if self.path.split("?")[0].startswith("/v1/messages/batches/"):  # the Messages section below
                    batches_get(self, standin, self.path.split("?")[0])
                    return
                if self.path.split("?")[0].startswith("/v1/files"):  # the Files section below
                    files_answer(self, standin, b"")
                    return
                if self.path.split("?")[0] == "/v1/models":
                    data = [{"type": "model", "created_at": "2026-01-01T00:00:00Z", **m} for m in standin.models]
                    self._send(
                        200,
                        {
                            "data": data,
                            "has_more": False,
                            "first_id": data[0]["id"] if data else None,
                            "last_id": data[-1]["id"] if data else None,
                        },
                    )
                    return
                self._error(404, "not_found_error", f"Not found: {self.path}")

            def do_DELETE(self) -> None:
                self._record(b"")
                if not self._auth_ok():
                    return
                if self.path.split("?")[0].startswith("/v1/files/"):
                    files_answer(self, standin, b"")
                    return
                self._error(404, "not_found_error", f"Not found: {self.path}")

            def betas(self) -> tuple[str, ...] | None:
                """The request's ``anthropic-beta`` values; None (after answering 400) when one is unknown."""
                values = [v.strip() for v in (self.headers.get("anthropic-beta") or "").split(",") if v.strip()]
                unknown = [v for v in values if v not in KNOWN_BETAS]
                if unknown:
                    self._error(
                        400,
                        "invalid_request_error",
                        f"Unexpected value(s) `{', '.join(unknown)}` for the `anthropic-beta` header. Please consult "
                        "our documentation at docs.anthropic.com or try again without the header.",
                    )
                    return None
                return tuple(values)

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length > MAX_BYTES:
                    self._record(b"")
                    self._error(413, "request_too_large", "Request exceeds the maximum allowed number of bytes.")
                    return
                raw = self.rfile.read(length)
                self._record(raw)
                if self.path.split("?")[0] in MESSAGES_PATHS:  # the Messages API: see messages_answer below
                    if self._auth_ok():
                        betas = self.betas()
                        if betas is not None:
                            messages_answer(self, standin, self.path.split("?")[0], raw, betas)
                    return
                if self.path.split("?")[0] == "/v1/files":  # the Files API: see files_answer below
                    if self._auth_ok():
                        files_answer(self, standin, raw)
                    return
                if self.path.split("?")[0] != "/v1/messages/count_tokens":
                    self._error(404, "not_found_error", f"Not found: {self.path}")
                    return
                if not self._auth_ok():
                    return
                betas = self.betas()
                if betas is None:
                    return
                scripted = standin.script.popleft() if standin.script else None
                if scripted is not None:
                    if scripted.delay:
                        time.sleep(scripted.delay)
                    if inject_fault(self, scripted):
                        return
                    if scripted.body is not None:
                        self._send(scripted.status, scripted.body, scripted.headers)
                        return
                try:
                    body = json.loads(raw)
                except json.JSONDecodeError as exc:
                    self._error(400, "invalid_request_error", f"Invalid JSON body: {exc.msg}")
                    return
                problem = validate(body, betas) or _missing_file(body, standin)
                if problem:
                    status, etype, message = problem
                    self._error(status, etype, message)
                    return
                if standin.delay:
                    time.sleep(standin.delay)
                self._send(200, count_answer(standin, body))

        return Handler


def _beta_problem(body: dict[str, Any], betas: tuple[str, ...]) -> str | None:
    """What a body uses that none of its betas enables, as the API words it; None when every field is enabled."""
    enabled = set(FIELDS)
    enabled.update(f for f, need in BETA_FIELDS.items() if set(need) & set(betas))
    if betas:  # the beta count endpoint (the SDK always sends its token-counting beta there) takes billing_policy
        enabled.add("billing_policy")
    extra = sorted(set(body) - enabled)
    if extra:
        return f"{extra[0]}: Extra inputs are not permitted"
    cm = body.get("context_management")
    if isinstance(cm, dict):
        allowed = [t for t, need in EDIT_BETAS.items() if need in betas]
        for i, edit in enumerate(cm.get("edits") or []):
            kind = edit.get("type") if isinstance(edit, dict) else None
            if kind not in allowed:
                tags = ", ".join(f"'{t}'" for t in allowed)
                return (
                    f"context_management.edits.{i}: Input tag '{kind}' found using 'type' does not match any of the "
                    f"expected tags: {tags}"
                )
    for k, t in enumerate(body.get("tools") or []):
        if isinstance(t, dict) and t.get("type") == "mcp_toolset":
            if not set(TOOLSET_BETAS) & set(betas):
                return f"tools.{k}: Input tag 'mcp_toolset' found using 'type' does not match any of the expected tags"
            names = {s.get("name") for s in body.get("mcp_servers") or [] if isinstance(s, dict)}
            if t.get("mcp_server_name") not in names:
                return f"tools.{k}: mcp_server_name '{t.get('mcp_server_name')}' is not one of the mcp_servers"
    return None


def _missing_file(body: dict[str, Any], standin: StandIn) -> tuple[int, str, str] | None:
    for i, m in enumerate(body.get("messages") or []):
        for j, b in enumerate(m.get("content") if isinstance(m.get("content"), list) else []):
            src = b.get("source") if isinstance(b, dict) and isinstance(b.get("source"), dict) else {}
            if src.get("type") == "file" and src.get("file_id") not in standin.files:
                return 404, "not_found_error", f"messages.{i}.content.{j}.source: File not found: {src.get('file_id')}"
    return None


def validate(body: Any, betas: tuple[str, ...] = ()) -> tuple[int, str, str] | None:
    """The API's own checks, reduced to what a count request can get wrong (``betas``: the ``anthropic-beta``
    values it came with). None when the body is fine."""
    bad = "invalid_request_error"
    if not isinstance(body, dict):
        return 400, bad, "Request body must be a JSON object"
    problem = _beta_problem(body, betas)
    if problem:
        return 400, bad, problem
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return 400, bad, "model: Field required"
    if not model.startswith("claude-"):
        return 404, "not_found_error", f"model: {model}"
    messages = body.get("messages")
    if not isinstance(messages, list):
        return 400, bad, "messages: Field required"
    if not messages:
        return 400, bad, "messages: at least one message is required"
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant", "system"):
            return 400, bad, f"messages.{i}.role: Input should be 'user', 'assistant' or 'system'"
        content = m.get("content")
        final_assistant = i == len(messages) - 1 and m["role"] == "assistant"
        if content in ("", []) and not final_assistant:
            return (
                400,
                bad,
                f"messages.{i}: all messages must have non-empty content except for the optional final "
                "assistant message",
            )
        if isinstance(content, list):
            for j, b in enumerate(content):
                if not isinstance(b, dict) or "type" not in b:
                    return 400, bad, f"messages.{i}.content.{j}.type: Field required"
                src = b.get("source") if isinstance(b.get("source"), dict) else {}
                if b["type"] in ("image", "document") and src.get("type") == "url":
                    return (
                        400,
                        bad,
                        f"messages.{i}.content.{j}.source: url sources are not supported for token counting",
                    )
                if b["type"] in ("image", "document") and src.get("type") == "file" and FILES_BETA not in betas:
                    tags = "'base64', 'url'" if b["type"] == "image" else "'base64', 'content', 'text', 'url'"
                    return (
                        400,
                        bad,
                        f"messages.{i}.content.{j}.{b['type']}.source: Input tag 'file' found using 'type' does not "
                        f"match any of the expected tags: {tags}",
                    )
                if b["type"] == "container_upload" and FILES_BETA not in betas:
                    return (
                        400,
                        bad,
                        f"messages.{i}.content.{j}: Input tag 'container_upload' found using 'type' does not match "
                        "any of the expected tags",
                    )
                if b["type"] == "text" and not b.get("text"):
                    return 400, bad, f"messages.{i}.content.{j}.text: text content blocks must be non-empty"
    for k, t in enumerate(body.get("tools") or []):
        if isinstance(t, dict) and str(t.get("type", "")).startswith(SERVER_TOOL_PREFIXES):
            return 400, bad, f"tools.{k}: server tools are not supported by count_tokens"
    return None


# -- the Messages API (POST /v1/messages, POST /v1/messages/batches) -----------------------------------
# Kept apart from the count endpoint above. Its ``usage`` follows the same token rule as count_tokens, so a
# request's whole input (input + cache creation + cache read) equals what count_tokens says for its body. Prompt
# caching is simulated for the last cache breakpoint: the first request with a prefix writes it, a later one within
# the TTL reads it. Streams are SSE with the documented event sequence.

MESSAGES_PATHS = ("/v1/messages", "/v1/messages/batches")
#: what the canned assistant says; one output token per word
REPLY_WORDS = ["Hello", " from", " the", " local", " stand-in", "."]
_CREATE_ONLY = {
    "max_tokens",
    "stream",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "metadata",
    "service_tier",
    "inference_geo",
    "container",
}


def message_requests(standin: StandIn) -> list[Recorded]:
    """What reached ``POST /v1/messages`` (and its batches endpoint)."""
    with standin._lock:
        return [r for r in standin.requests if r.path.split("?")[0] in MESSAGES_PATHS]


def _breakpoint_prefix(body: dict[str, Any]) -> tuple[dict[str, Any], str] | None:
    """The prefix up to the last block carrying ``cache_control`` (tools → system → messages), and its TTL."""
    found: tuple[dict[str, Any], str] | None = None
    tools = body.get("tools") or []
    for i, t in enumerate(tools):
        if isinstance(t, dict) and t.get("cache_control"):
            found = {"tools": tools[: i + 1]}, t["cache_control"].get("ttl", "5m")
    system = body.get("system")
    if isinstance(system, list):
        for j, b in enumerate(system):
            if isinstance(b, dict) and b.get("cache_control"):
                found = {"tools": tools, "system": system[: j + 1]}, b["cache_control"].get("ttl", "5m")
    for m, msg in enumerate(body.get("messages") or []):
        content = msg.get("content") if isinstance(msg, dict) else None
        if isinstance(content, list):
            for b, block in enumerate(content):
                if isinstance(block, dict) and block.get("cache_control"):
                    head = dict(msg, content=content[: b + 1])
                    found = (
                        {"tools": tools, "system": system, "messages": [*body["messages"][:m], head]},
                        block["cache_control"].get("ttl", "5m"),
                    )
    return found


def messages_usage(standin: StandIn, body: dict[str, Any]) -> dict[str, Any]:
    """``usage`` of one request: its whole input by the count rule (after its context edits), split by the simulated
    prompt cache."""
    total = count_answer(standin, {k: v for k, v in body.items() if k not in _CREATE_ONLY})["input_tokens"]
    created = read = 0
    split = {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0}
    found = _breakpoint_prefix(body)
    if found is not None:
        prefix, ttl = found
        tokens = min(total - 1, standin_count(prefix))
        key = json.dumps([body.get("model"), prefix], sort_keys=True)
        cache: dict[str, float] = standin.__dict__.setdefault("prompt_cache", {})
        now = time.monotonic()
        if cache.get(key, 0.0) > now:
            read = tokens
        else:
            created = tokens
            split["ephemeral_1h_input_tokens" if ttl == "1h" else "ephemeral_5m_input_tokens"] = tokens
        cache[key] = now + (3600.0 if ttl == "1h" else 300.0)  # a read refreshes the lifetime
    output = min(len(REPLY_WORDS), int(body.get("max_tokens") or 1))
    return {
        "input_tokens": total - created - read,
        "cache_creation_input_tokens": created,
        "cache_read_input_tokens": read,
        "cache_creation": split,
        "output_tokens": output,
        "service_tier": "standard",
    }


def _validate_create(body: Any, betas: tuple[str, ...], standin: StandIn) -> tuple[int, str, str] | None:
    if not isinstance(body, dict):
        return 400, "invalid_request_error", "Request body must be a JSON object"
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        return 400, "invalid_request_error", "max_tokens: Field required"
    count_part = {k: v for k, v in body.items() if k not in _CREATE_ONLY}
    return validate(count_part, betas) or _missing_file(count_part, standin)


def _message(body: dict[str, Any], usage: dict[str, Any]) -> dict[str, Any]:
    text = "".join(REPLY_WORDS[: usage["output_tokens"]])
    stop = "end_turn" if usage["output_tokens"] == len(REPLY_WORDS) else "max_tokens"
    return {
        "id": "msg_" + uuid.uuid4().hex[:24],
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    }


def _sse(handler: BaseHTTPRequestHandler, body: dict[str, Any], usage: dict[str, Any]) -> None:
    msg = _message(body, usage)
    start = dict(msg, content=[], stop_reason=None, usage=dict(usage, output_tokens=1))
    words = REPLY_WORDS[: usage["output_tokens"]]
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": start}),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        ("ping", {"type": "ping"}),
        *[
            (
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}},
            )
            for w in words
        ],
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": msg["stop_reason"], "stop_sequence": None},
                "usage": {
                    k: usage[k]
                    for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens")
                },
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    handler.send_response(200)
    handler.send_header("content-type", "text/event-stream")
    handler.send_header("cache-control", "no-cache")
    handler.send_header("request-id", "req_" + uuid.uuid4().hex[:24])
    handler.send_header("transfer-encoding", "chunked")
    handler.end_headers()
    for name, data in events:  # one chunk per event, as a server flushes them
        chunk = f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
        handler.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        handler.wfile.flush()
    handler.wfile.write(b"0\r\n\r\n")


def messages_answer(handler: Any, standin: StandIn, path: str, raw: bytes, betas: tuple[str, ...] = ()) -> None:
    """Answer ``POST /v1/messages`` (JSON or SSE) or ``POST /v1/messages/batches`` (a new batch); ``betas``: the
    request's ``anthropic-beta`` values (a batch's apply to each of its requests)."""
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as exc:
        handler._error(400, "invalid_request_error", f"Invalid JSON body: {exc.msg}")
        return
    if path.endswith("/batches"):
        reqs = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(reqs, list) or not reqs:
            handler._error(400, "invalid_request_error", "requests: Field required")
            return
        for i, r in enumerate(reqs):
            problem = _validate_create(r.get("params") if isinstance(r, dict) else None, betas, standin)
            if problem:
                handler._error(problem[0], problem[1], f"requests.{i}.params.{problem[2]}")
                return
        batch_id = "msgbatch_" + uuid.uuid4().hex[:24]
        standin.__dict__.setdefault("batches", {})[batch_id] = reqs
        handler._send(200, _batch_object(standin, batch_id, ended=False))
        return
    problem = _validate_create(body, betas, standin)
    if problem:
        handler._error(*problem)
        return
    if standin.delay:
        time.sleep(standin.delay)
    usage = messages_usage(standin, body)
    if body.get("stream"):
        _sse(handler, body, usage)
    else:
        handler._send(200, _message(body, usage))


def _batch_object(standin: StandIn, batch_id: str, *, ended: bool) -> dict[str, Any]:
    """A batch as the API describes it. The stand-in's batches end at once: the first retrieve finds them ended."""
    n = len(standin.__dict__.get("batches", {}).get(batch_id, []))
    counts = {
        "processing": 0 if ended else n,
        "succeeded": n if ended else 0,
        "errored": 0,
        "canceled": 0,
        "expired": 0,
    }
    return {
        "id": batch_id,
        "type": "message_batch",
        "processing_status": "ended" if ended else "in_progress",
        "request_counts": counts,
        "ended_at": "2026-11-30T00:01:00Z" if ended else None,
        "created_at": "2026-11-30T00:00:00Z",
        "expires_at": "2026-12-01T00:00:00Z",
        "archived_at": None,
        "cancel_initiated_at": None,
        "results_url": f"{standin.url}/v1/messages/batches/{batch_id}/results" if ended else None,
    }


def batches_get(handler: Any, standin: StandIn, path: str) -> None:
    """``GET /v1/messages/batches/{id}`` and ``.../{id}/results`` (JSON Lines, one result per request)."""
    parts = path.rstrip("/").split("/")  # ["", "v1", "messages", "batches", id, ("results")]
    batches = standin.__dict__.get("batches", {})
    batch_id = parts[4] if len(parts) > 4 else ""
    if batch_id not in batches or len(parts) > 6 or (len(parts) == 6 and parts[5] != "results"):
        handler._error(404, "not_found_error", f"Not found: {path}")
        return
    if len(parts) == 5:
        handler._send(200, _batch_object(standin, batch_id, ended=True))
        return
    lines = []
    for r in batches[batch_id]:
        params = r["params"]
        message = _message(params, messages_usage(standin, params))
        lines.append(json.dumps({"custom_id": r["custom_id"], "result": {"type": "succeeded", "message": message}}))
    raw = ("\n".join(lines) + "\n").encode()
    handler.send_response(200)
    handler.send_header("content-type", "application/binary")
    handler.send_header("request-id", "req_" + uuid.uuid4().hex[:24])
    handler.send_header("content-length", str(len(raw)))
    handler.end_headers()
    handler.wfile.write(raw)


# -- the Files API (POST /v1/files, GET and DELETE /v1/files/{id}) ------------------------------------------
# Enough of it for a Files-API source to be counted: an upload is kept in memory and counts as its bytes inline.
def _file_object(f: StoredFile) -> dict[str, Any]:
    return {
        "id": f.id,
        "type": "file",
        "filename": f.filename,
        "mime_type": f.mime_type,
        "size_bytes": len(f.data),
        "created_at": "2026-11-30T00:00:00Z",
        "downloadable": False,
    }


def files_answer(handler: Any, standin: StandIn, raw: bytes) -> None:
    from email.parser import BytesParser
    from email.policy import HTTP

    # (SDK 2.17 sends no beta header to /v1/files: the endpoint itself is not gated here; a file source is)
    path = handler.path.split("?")[0].rstrip("/")
    if handler.command == "POST":
        ctype = handler.headers.get("content-type", "")
        msg = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {ctype}\r\n\r\n".encode() + raw)
        part = next((p for p in msg.iter_parts() if p.get_param("name", header="content-disposition") == "file"), None)
        if part is None:
            handler._error(400, "invalid_request_error", "file: Field required")
            return
        file_id = standin.add_file(
            part.get_payload(decode=True) or b"", part.get_content_type(), part.get_filename() or "upload"
        )
        handler._send(200, _file_object(standin.files[file_id]))
        return
    file_id = path.rsplit("/", 1)[-1]
    f = standin.files.get(file_id)
    if f is None:
        handler._error(404, "not_found_error", f"File not found: {file_id}")
    elif handler.command == "DELETE":
        del standin.files[file_id]
        handler._send(200, {"id": file_id, "type": "file_deleted"})
    else:
        handler._send(200, _file_object(f))


# -- fault injection ----------------------------------------------------------------------------------
# Kept apart from the protocol above: a scripted answer with ``raw`` bytes or ``drop`` is sent as is, with
# no validation, so tests can feed the real SDK what a broken proxy or a misbehaving upstream might.
def inject_fault(handler: BaseHTTPRequestHandler, scripted: Scripted) -> bool:
    """Send ``scripted`` if it is a fault (True), or leave it to the normal path (False)."""
    import socket
    import struct

    if scripted.drop:
        # RST instead of FIN: SO_LINGER with a zero timeout, then close
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.close_connection = True
        handler.connection.close()
        return True
    if scripted.raw is None:
        return False
    handler.send_response(scripted.status)
    handler.send_header("content-type", scripted.content_type)
    handler.send_header("request-id", "req_" + uuid.uuid4().hex[:24])
    for k, v in scripted.headers.items():
        handler.send_header(k, v)
    handler.send_header("content-length", str(len(scripted.raw)))
    handler.end_headers()
    handler.wfile.write(scripted.raw)
    return True
