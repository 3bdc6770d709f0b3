"""REST handlers under ``{base_url}jupyter-token-count/`` (contract: ``openapi.yaml`` next to this file).

Every method needs an authenticated Jupyter session. Errors are always ``{"error": {"type", "message"}}``
with a specific message and never a traceback. Request bodies are streamed (``stream_request_body``) so
an oversized one is refused from its Content-Length before any of it is read, and a chunked one as soon
as it passes the limit; such a refusal says ``Connection: close`` (the unread body makes the connection
unusable). Every body is parsed, checked and built off the server's event loop, whatever its size.
Every reply is strict JSON (no NaN or Infinity).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import json
import math
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any, TypeVar

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from ..cells import acount_cells, acount_prepared
from ..config import MODES
from ..errors import (
    ApiError,
    InputError,
    TokenCountError,
)
from ..limiter import MAX_PAUSE
from ..modelcheck import check_listed
from ..registry import MAX_MODEL_ID
from ..request import CountRequest, build_request, cells_from_json, check_tree, notebook_request
from ..request.document import document_from_bytes, document_request
from ..request.files import strings_may_be_paths
from .notebooks import new_state
from .service import TokenCountService

T = TypeVar("T")

NAMESPACE = "jupyter-token-count"
AUTH_REQUIRED = "authentication required: send the Jupyter token, or the session cookie and XSRF token"
SERVICE_KEY = "jupyter_token_count"
#: the longest ``deadline_ms`` a request may ask for
MAX_DEADLINE_MS = 60_000
#: the longest Retry-After we send (seconds): the cap the limiter and the API backend put on what they believe
MAX_RETRY_AFTER = int(MAX_PAUSE)

#: error ``type`` for statuses we raise without a more specific one
_TYPES = {
    400: "invalid_request_error",
    403: "forbidden",
    404: "not_found_error",
    405: "method_not_allowed",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "internal_error",
    502: "upstream_error",
    503: "overloaded_error",
    504: "timeout_error",
}


class ApiFailure(tornado.web.HTTPError):
    """An error answered as the JSON envelope. ``message`` is shown to the user as is."""

    def __init__(
        self, status: int, message: str, error_type: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(status, log_message=None, reason=None)
        self.message = message
        self.error_type = error_type or _TYPES.get(status, "error")
        self.retry_after = retry_after


def _reject_constant(name: str) -> Any:
    # NaN/Infinity are not JSON: the API would reject the body we forward, so say so here
    raise ValueError(f"{name} is not valid JSON")


def parse_json(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        raise ApiFailure(400, "the request body is empty; expected a JSON object", "invalid_json")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiFailure(400, f"the request body is not UTF-8 (byte {exc.start})", "invalid_json") from None
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ApiFailure(
            400, f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", "invalid_json"
        ) from None
    except ValueError as exc:
        raise ApiFailure(400, f"malformed JSON: {exc}", "invalid_json") from None
    except RecursionError:
        raise ApiFailure(400, "malformed JSON: nested too deeply", "invalid_json") from None
    if not isinstance(obj, dict):
        raise ApiFailure(400, f"expected a JSON object, got {_json_type(obj)}", "invalid_json")
    try:
        check_tree(obj)  # depth, lone surrogates: a 400 naming the place before anything else looks
    except InputError as exc:
        raise ApiFailure(400, str(exc), "invalid_request_error") from None
    return obj


def strict_json(obj: Any) -> str:
    """JSON a browser can parse: NaN and Infinity are not JSON. Values are made finite where they are
    computed; a non-finite number that still gets here becomes null rather than an unparseable reply."""
    try:
        return json.dumps(obj, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(obj), allow_nan=False)


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, (int, float)):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "an array"
    return "an object"


def _literal(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``fn`` with strings taken literally: a REST body's prompt that happens to name a file on the
    server is text, never a path to read."""
    token = strings_may_be_paths.set(False)
    try:
        return fn(*args, **kwargs)
    finally:
        strings_may_be_paths.reset(token)


def map_exception(exc: BaseException, service: TokenCountService | None) -> ApiFailure | None:
    """Our exceptions → the HTTP answer each one declares (None: not ours, an internal error). ApiErrors reach
    here in mode 'api' only: auto mode answers the transient ones with the estimate."""
    if isinstance(exc, ApiFailure):
        return exc
    if not isinstance(exc, TokenCountError):
        return None
    settings = service.settings if service is not None else None
    retry_after = exc.reply_retry_after if isinstance(exc, ApiError) else None
    return ApiFailure(exc.http_status, exc.user_message(settings), exc.reply_type(), retry_after)


def answers(method: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """Turn our exceptions into their HTTP answer (tornado would make every one of them a 500)."""

    @functools.wraps(method)
    async def wrapper(self: BaseHandler, *args: Any, **kwargs: Any) -> None:
        self.body_read = True  # a method runs once its request body is all in
        try:
            await method(self, *args, **kwargs)
        except TokenCountError as exc:
            failure = map_exception(exc, self.service)
            if failure is None:
                raise
            raise failure from None

    return wrapper


class BaseHandler(APIHandler):
    """JSON in, JSON out, the error envelope, and the body size limit."""

    body_read = False

    @property
    def service(self) -> TokenCountService:
        return self.settings[SERVICE_KEY]

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, ApiFailure):
            failure = exc
        elif status_code == 403 and not getattr(exc, "log_message", None):
            failure = ApiFailure(403, AUTH_REQUIRED, "forbidden")  # from @authenticated
        elif isinstance(exc, tornado.web.HTTPError) and exc.log_message and status_code < 500:
            failure = ApiFailure(status_code, exc.log_message % exc.args if exc.args else exc.log_message)
        elif status_code >= 500:
            # never a traceback or an exception text in the answer: it is in the server log
            failure = ApiFailure(
                status_code,
                "internal error in the jupyter-token-count server extension (details are in the Jupyter server log)",
            )
        else:
            phrase = HTTPStatus(status_code).phrase if status_code in HTTPStatus._value2member_map_ else "error"
            failure = ApiFailure(status_code, phrase)
        ra = failure.retry_after
        if ra is not None and math.isfinite(ra):
            self.set_header("Retry-After", str(min(MAX_RETRY_AFTER, max(1, math.ceil(ra)))))
        if status_code == 405:
            self.set_header("Allow", ", ".join(self.allowed_methods()))
        if not self.body_read and self._body_expected():
            # refused before the body was read (403, 413 from prepare): tornado must close the connection,
            # so say so, and the client will not send its next request down a dead socket
            self.set_header("Connection", "close")
        self.finish(strict_json({"error": {"type": failure.error_type, "message": failure.message}}))

    def _body_expected(self) -> bool:
        headers = self.request.headers
        return headers.get("Content-Length", "0") not in ("", "0") or "Transfer-Encoding" in headers

    @classmethod
    def allowed_methods(cls) -> list[str]:
        return [
            m for m in ("GET", "POST") if getattr(cls, m.lower()) is not getattr(tornado.web.RequestHandler, m.lower())
        ]

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, ApiFailure):  # an answer, not a fault: one line, no traceback
            self.log.info(
                "jupyter-token-count %s %s → %d %s: %s",
                self.request.method,
                self.request.path,
                value.status_code,
                value.error_type,
                value.message,
            )
            return
        super().log_exception(typ, value, tb)

    model_warning: str | None = None

    def reply(self, obj: dict[str, Any]) -> None:
        if self.model_warning:
            obj = {**obj, "warnings": [*obj.get("warnings", []), self.model_warning]}
        self.set_header("Cache-Control", "no-store")
        self.finish(strict_json(obj))


@tornado.web.stream_request_body
class BodyHandler(BaseHandler):
    """POST endpoints: the body is streamed in and limited before it is buffered."""

    _chunks: list[bytes]
    #: the parsed body (set by json_body)
    parsed: dict[str, Any]
    _received: int
    _too_large: bool

    async def prepare(self) -> None:  # type: ignore[override]
        self._chunks, self._received, self._too_large = [], 0, False
        await super().prepare()
        if self._finished:
            return
        if self.request.method != "POST":
            return
        # refuse before reading the body: neither an anonymous caller nor an oversized body gets buffered
        if not self.current_user:
            raise ApiFailure(403, AUTH_REQUIRED, "forbidden")
        limit = self.service.settings.max_request_bytes
        length = self.request.headers.get("Content-Length")
        if length is not None:
            try:
                n = int(length)
            except ValueError:
                raise ApiFailure(400, f"invalid Content-Length {length!r}") from None
            if n > limit:
                raise ApiFailure(413, _too_large_message(n, limit), "request_too_large")

    def data_received(self, chunk: bytes) -> None:
        if self._too_large or self._finished:
            return  # already answered: drop the rest of the body
        self._received += len(chunk)
        limit = self.service.settings.max_request_bytes
        if self._received > limit:  # chunked upload with no Content-Length
            self._too_large = True
            self._chunks = []
            failure = _failure_413(limit)
            self.log_exception(ApiFailure, failure, None)
            self.send_error(413, exc_info=(ApiFailure, failure, None))
            return
        self._chunks.append(chunk)

    async def json_body(self) -> dict[str, Any]:
        if self._finished:
            raise tornado.web.Finish()  # answered from data_received already
        chunks, self._chunks = self._chunks, []
        # joining 32 MB is copying work too: all of it happens in the executor
        self.parsed = await asyncio.get_running_loop().run_in_executor(None, lambda: parse_json(b"".join(chunks)))
        return self.parsed

    async def build(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Build a request (``fn``: ``build_request`` or ``notebook_request``) with strings taken literally, off
        the server's event loop: validation decodes images and has PDFs parsed, whatever the body's size."""
        call = functools.partial(_literal, fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(None, call)

    def model_and_mode(self, body: dict[str, Any]) -> tuple[str, str | None]:
        # a field that is present must have its type: null is not "the default" (leave the field out)
        model = body.get("model", self.service.settings.model)
        if not isinstance(model, str) or not model.strip() or len(model) > MAX_MODEL_ID:
            raise ApiFailure(
                400,
                f"model: expected a model id such as 'claude-sonnet-5-5' (at most {MAX_MODEL_ID} characters), "
                f"got {_shown(model)}",
            )
        mode = body.get("mode")
        if "mode" in body and mode not in MODES:
            raise ApiFailure(400, f"mode: expected one of {', '.join(MODES)}, got {_shown(mode)}")
        # an id nobody knows: 400 when the API's model list (refreshed for GET models) lacks it too, else a warning
        self.model_warning = check_listed(model.strip(), self.service.api_model_ids())
        return model.strip(), mode

    def deadline(self, body: dict[str, Any]) -> float:
        """Seconds an auto-mode answer may wait for the API (``deadline_ms``; default TokenCountConfig.deadline)."""
        if "deadline_ms" not in body:  # present means typed: null is not "the default"
            return self.service.settings.deadline
        ms = body["deadline_ms"]
        if isinstance(ms, bool) or not isinstance(ms, (int, float)) or not 0 <= ms <= MAX_DEADLINE_MS:
            raise ApiFailure(
                400, f"deadline_ms: expected milliseconds from 0 to {MAX_DEADLINE_MS}, got {json.dumps(ms)}"
            )
        return ms / 1000

    def cells_options(self, body: dict[str, Any]) -> tuple[bool, float]:
        """``include_outputs`` and the deadline of a notebook's post, checked (and its other switches)."""
        for name in ("include_outputs", "cell_counts", "exact_total"):
            if name in body and not isinstance(body[name], bool):
                raise ApiFailure(400, f"{name}: expected a boolean, got {_json_type(body[name])}")
        return body.get("include_outputs", False), self.deadline(body)


def _shown(value: Any) -> str:
    text = json.dumps(value)  # ASCII: a lone surrogate is shown escaped, never sent raw
    return text if len(text) <= 60 else f"{_json_type(value)}"


_JSON_NAMES = {str: "a string", list: "an array", dict: "an object"}

#: request fields whose JSON type is fixed (openapi.yaml): null is refused rather than taken as absent
_TYPED_FIELDS = {
    "system": (str, list),
    "tools": (list,),
    "tool_choice": (dict,),
    "thinking": (dict,),
    "messages": (list,),
    "betas": (list,),
    "user_profile_id": (str,),
    "workspace_id": (str,),
}


def _too_large_message(n: int, limit: int) -> str:
    return (
        f"the request body is {_size(n)}; this server accepts at most {_size(limit)} "
        "(TokenCountConfig.max_request_bytes)"
    )


def _failure_413(limit: int) -> ApiFailure:
    return ApiFailure(
        413,
        f"the request body is over {_size(limit)}; this server accepts at most {_size(limit)} "
        "(TokenCountConfig.max_request_bytes)",
        "request_too_large",
    )


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / 2**20:.1f} MB"
    if n >= 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n} bytes"


class CountHandler(BodyHandler):
    @tornado.web.authenticated
    @answers
    async def post(self) -> None:
        body = await self.json_body()
        model, mode = self.model_and_mode(body)
        if "messages" not in body:
            raise ApiFailure(
                400, "messages: required (the body is a count_tokens request: {model?, messages, system?, tools?, ...})"
            )
        for name, types in _TYPED_FIELDS.items():
            if name in body and not isinstance(body[name], types):
                raise ApiFailure(
                    400, f"{name}: expected {' or '.join(_JSON_NAMES[t] for t in types)}, got {_json_type(body[name])}"
                )
        request_body = {k: v for k, v in body.items() if k not in ("mode", "deadline_ms")}
        s = self.service.settings
        deadline = self.deadline(body)
        req = await self.build(build_request, request_body, model=model, max_bytes=s.max_request_bytes)
        result = await self.service.counter.acount(req, mode, deadline)
        self.reply(result.to_dict())


class CellsHandler(BodyHandler):
    """A notebook's total and shares: the whole notebook (``cells``; with ``keep`` the server keeps a copy), or
    what changed since a kept copy (``base``, ``changes``, ``order``: ``notebooks.py``)."""

    @tornado.web.authenticated
    @answers
    async def post(self) -> None:
        body = await self.json_body()
        model, mode = self.model_and_mode(body)
        include_outputs, deadline = self.cells_options(body)
        flags = {name: body.get(name, True) for name in ("cell_counts", "exact_total")}
        counter = self.service.counter
        if any(name in body for name in DELTA_FIELDS):
            await self._changes(body, model, mode, include_outputs, deadline, flags)
            return
        raw_cells = _raw_cells(body)
        keep = body.get("keep", False)
        if not isinstance(keep, bool):
            raise ApiFailure(400, f"keep: expected a boolean, got {_json_type(keep)}")
        replaces = body.get("replaces")
        if "replaces" in body and (not keep or not isinstance(replaces, str)):
            raise ApiFailure(400, "replaces: the id of a kept copy (a string), only with keep: true")
        loop = asyncio.get_running_loop()
        cells = await loop.run_in_executor(None, functools.partial(cells_from_json, raw_cells, strict=True))
        if not keep:
            # run on the counter's own loop: building a hundred cell requests is CPU work the server's
            # event loop (kernels, websockets) should not wait for
            result = await counter.arun(
                acount_cells(
                    counter, cells, model, include_outputs=include_outputs, mode=mode, deadline=deadline, **flags
                )
            )
            self.reply(result.to_dict())
            return
        limit = self.service.settings.max_request_bytes
        state = await loop.run_in_executor(None, new_state, self.owner, cells, model, include_outputs, limit)
        result = await counter.arun(acount_prepared(counter, state.nb, mode=mode, deadline=deadline, **flags))
        state.first_answer(result)
        if replaces:
            self.service.notebooks.drop(self.owner, replaces)
        self.service.notebooks.put(state)
        self.reply({**result.to_dict(), "delta": False, "state": {"id": state.id, "version": state.version}})

    async def _changes(
        self,
        body: dict[str, Any],
        model: str,
        mode: str | None,
        include_outputs: bool,
        deadline: float,
        flags: dict[str, Any],
    ) -> None:
        for name in ("cells", "keep", "replaces"):
            if name in body:
                raise ApiFailure(
                    400,
                    f"{name}: not with base; send either the whole notebook (cells, keep) or what changed since a "
                    "kept copy (base, changes, order)",
                )
        state_id, version, changes, order = _delta(body)
        states = self.service.notebooks
        state = states.get(self.owner, state_id)
        counter = self.service.counter
        loop = asyncio.get_running_loop()
        async with state.lock:  # one edit at a time: the next one's base is this one's answer
            state.check(model, include_outputs, version)
            draft = await loop.run_in_executor(None, state.draft, changes, order)
            mode_now = mode or counter.settings.mode
            # after a pause, shares still estimated are looked up again: their exact counts may have come in
            recheck = flags["exact_total"] and mode_now != "offline" and counter.settings.key_configured
            shares = await loop.run_in_executor(
                None,
                functools.partial(
                    state.shares_for, draft, counter, mode_now, recheck=recheck, settle=flags["exact_total"]
                ),
            )
            result = await counter.arun(
                acount_prepared(counter, draft.nb, mode=mode, deadline=deadline, shares=shares, **flags)
            )
            sent = state.commit(draft, result)
            states.put(state)
        self.reply({**result.to_dict(cells=sent), "delta": True, "state": {"id": state.id, "version": state.version}})

    @property
    def owner(self) -> str:
        """Whose copies these are (a copy is found only by whoever made it): the user a login names, or, for a
        request that shows the server's token, the token's holder (the token grants everything, and a request with
        it and no login cookie is given a new anonymous user each time)."""
        if self.token_authenticated:
            return "token"
        user = self.current_user
        return f"user:{getattr(user, 'username', None) or user}"


#: the fields of a post that sends only what changed since a kept copy
DELTA_FIELDS = ("base", "changes", "order")
#: the longest state id accepted (the server makes 22-character ones)
MAX_STATE_ID = 64


def _raw_cells(body: dict[str, Any], *, copies: bool = True) -> list[Any]:
    """The whole notebook's cells; ``copies``: the endpoint also takes changes to a kept copy (POST cells)."""
    raw_cells = body.get("cells")
    if raw_cells is None:
        alternative = ", or base and changes to update a kept copy" if copies else ""
        raise ApiFailure(400, f"cells: required (a list of {{id, cell_type, source, outputs?}}){alternative}")
    if not isinstance(raw_cells, list):
        raise ApiFailure(400, f"cells: expected an array, got {_json_type(raw_cells)}")
    return raw_cells


def _delta(body: dict[str, Any]) -> tuple[str, int, list[Any], list[str] | None]:
    """``base`` (the kept copy's id and the version of the last answer), ``changes`` and ``order``, checked."""
    base = body.get("base")
    if not isinstance(base, dict):
        raise ApiFailure(400, f"base: expected {{id, version}} of a kept copy, got {_json_type(base)}")
    state_id, version = base.get("id"), base.get("version")
    if not isinstance(state_id, str) or not state_id or len(state_id) > MAX_STATE_ID:
        raise ApiFailure(400, f"base.id: expected the id a kept copy's answer gave (a string), got {_shown(state_id)}")
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ApiFailure(
            400, f"base.version: expected the version of the last answer (an integer), got {_shown(version)}"
        )
    changes = body.get("changes", [])
    if not isinstance(changes, list):
        raise ApiFailure(400, f"changes: expected an array of cells, got {_json_type(changes)}")
    order = body.get("order")
    if "order" in body:
        if not isinstance(order, list):
            raise ApiFailure(400, f"order: expected an array of cell ids, got {_json_type(order)}")
        bad = next((i for i, v in enumerate(order) if not isinstance(v, str)), None)
        if bad is not None:
            raise ApiFailure(400, f"order[{bad}]: expected a cell id (a string), got {_json_type(order[bad])}")
    return state_id, version, changes, order


def _document_bytes(text: str) -> bytes:
    """A document JupyterLab holds as base64 (the contents API's base64 has line breaks) → its bytes."""
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ApiFailure(400, f"text: expected the document's bytes as base64 (encoding is base64): {exc}") from None


class DocumentHandler(BodyHandler):
    """A document open in JupyterLab: in the file editor (and the selection in it, or in a notebook cell), or in a
    viewer (JSON, Markdown preview: their text; image and PDF viewers: their bytes, as base64)."""

    @tornado.web.authenticated
    @answers
    async def post(self) -> None:
        body = await self.json_body()
        model, mode = self.model_and_mode(body)
        deadline = self.deadline(body)
        name, text, selection = body.get("name"), body.get("text"), body.get("selection")
        if not isinstance(name, str):
            raise ApiFailure(400, f"name: expected the document's file name (a string), got {_json_type(name)}")
        if not isinstance(text, str):
            raise ApiFailure(400, f"text: expected the document's text (a string), got {_json_type(text)}")
        if selection is not None and not isinstance(selection, str):
            raise ApiFailure(400, f"selection: expected a string or null, got {_json_type(selection)}")
        exact_total = body.get("exact_total", True)
        if not isinstance(exact_total, bool):  # present means typed: null too is refused
            raise ApiFailure(400, f"exact_total: expected a boolean, got {_json_type(exact_total)}")
        betas = body.get("betas")
        if "betas" in body and not isinstance(betas, list):
            raise ApiFailure(400, f"betas: expected an array of beta names, got {_json_type(betas)}")
        encoding = body.get("encoding", "text")
        if encoding not in ("text", "base64"):
            raise ApiFailure(400, f"encoding: expected text or base64, got {_shown(encoding)}")
        limit = self.service.settings.max_request_bytes
        if encoding == "base64":
            data = await asyncio.get_running_loop().run_in_executor(None, _document_bytes, text)
            doc = await self.build(document_from_bytes, name, data, model=model, max_bytes=limit, betas=betas)
        else:
            doc = await self.build(document_request, name, text, model=model, max_bytes=limit, betas=betas)
        counter = self.service.counter
        total = await (
            counter.acount(doc.request, mode, deadline) if exact_total else counter.atyping(doc.request, mode)
        )
        out: dict[str, Any] = {"kind": doc.kind, "note": doc.note, "total": total.to_dict(), "selection": None}
        if selection and selection.strip():
            sel = await self.build(
                build_request,
                [{"role": "user", "content": [{"type": "text", "text": selection}]}],
                model=model,
                max_bytes=limit,
                betas=betas,
            )
            out["selection"] = (await counter.acount(sel, mode, deadline)).to_dict()
        self.reply(out)


class MessagesHandler(BodyHandler):
    @tornado.web.authenticated
    @answers
    async def post(self) -> None:
        body = await self.json_body()
        model, _mode = self.model_and_mode(body)
        include_outputs, _deadline = self.cells_options(body)
        raw_cells = _raw_cells(body, copies=False)
        req = await self.build(
            _notebook_request,
            raw_cells,
            include_outputs,
            model=model,
            max_bytes=self.service.settings.max_request_bytes,
        )
        self.reply({"request": req.body})


def _notebook_request(raw_cells: list[Any], include_outputs: bool, **kwargs: Any) -> CountRequest:
    """The notebook as one user message (POST messages); image outputs are decoded to validate them."""
    req = notebook_request(cells_from_json(raw_cells, strict=True), include_outputs, **kwargs)
    if req.empty:
        raise ApiFailure(400, "cells: every cell is empty; there is nothing to copy")
    return req


class ModelsHandler(BaseHandler):
    @tornado.web.authenticated
    @answers
    async def get(self) -> None:
        await self.service.refresh_models()
        self.reply(self.service.models())


class StatusHandler(BaseHandler):
    @tornado.web.authenticated
    @answers
    async def get(self) -> None:
        # off the event loop: the cache statistics query SQLite (COUNT(*) over the shared file)
        self.reply(await asyncio.get_running_loop().run_in_executor(None, self.service.status))


ROUTES: list[tuple[str, type[BaseHandler]]] = [
    ("count", CountHandler),
    ("cells", CellsHandler),
    ("messages", MessagesHandler),
    ("document", DocumentHandler),
    ("models", ModelsHandler),
    ("status", StatusHandler),
]


def setup_handlers(web_app: tornado.web.Application, service: TokenCountService) -> None:
    web_app.settings[SERVICE_KEY] = service
    base_url = web_app.settings["base_url"]
    handlers = [(url_path_join(base_url, NAMESPACE, name), cls) for name, cls in ROUTES]
    web_app.add_handlers(".*$", handlers)
