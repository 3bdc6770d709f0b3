"""The server extension through real HTTP (pytest-jupyter, token auth on) against the local stand-in of
count_tokens, reached through the real SDK. Every response is checked against ``server/openapi.yaml``
(status documented, body valid) and for the absence of the API key."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import FIXTURE_NOTEBOOKS, ROOT
from jsonschema import Draft202012Validator
from media import image_bytes, pdf_bytes
from standin import StandIn, standin_count
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest, HTTPResponse
from traitlets.config import Config

from jupyter_token_count import registry
from jupyter_token_count.request import build_request
from jupyter_token_count.server import TokenCountConfig
from jupyter_token_count.server.handlers import SERVICE_KEY

pytest_plugins = ["pytest_jupyter.jupyter_server"]

NS = "jupyter-token-count"
M = "claude-sonnet-4-5"
OPENAPI = yaml.safe_load((ROOT / "jupyter_token_count" / "server" / "openapi.yaml").read_text())


# -- the contract -----------------------------------------------------------------------------------
def _schema(node: dict[str, Any]) -> dict[str, Any]:
    """A schema from the document, with its ``#/components/...`` refs resolvable (the document's
    components ride along as an ignored keyword at the schema's root)."""
    return {**node, "components": OPENAPI["components"]}


def _response_spec(endpoint: str, method: str, status: int) -> dict[str, Any]:
    op = OPENAPI["paths"][f"/{NS}/{endpoint}"][method.lower()]
    assert str(status) in op["responses"], (
        f"{method} {endpoint} answered {status}, which openapi.yaml does not document"
    )
    spec = op["responses"][str(status)]
    if "$ref" in spec:
        spec = OPENAPI["components"]["responses"][spec["$ref"].rsplit("/", 1)[-1]]
    return spec


def check_contract(endpoint: str, method: str, status: int, body: Any) -> None:
    schema = _response_spec(endpoint, method, status)["content"]["application/json"]["schema"]
    Draft202012Validator(_schema(schema)).validate(body)


def check_request(endpoint: str, body: Any) -> None:
    """What the tests send is what the UI may send."""
    schema = OPENAPI["paths"][f"/{NS}/{endpoint}"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    Draft202012Validator(_schema(schema)).validate(body)


def test_openapi_document_is_valid_json_schema():
    for schema in OPENAPI["components"]["schemas"].values():
        Draft202012Validator.check_schema(_schema(schema))
    for path, item in OPENAPI["paths"].items():
        assert path.startswith(f"/{NS}/")
        for op in item.values():
            assert {"200", "403"} <= set(op["responses"])


# -- fixtures ---------------------------------------------------------------------------------------
@pytest.fixture
def tc_config() -> dict[str, Any]:
    """TokenCountConfig overrides for one test (parametrize it)."""
    return {}


@pytest.fixture
def jp_server_config(standin: StandIn, tmp_path: Path, tc_config: dict[str, Any]) -> Config:
    # the test environment has no system config: enable the extension as the shipped config file does
    return Config(
        {
            "ServerApp": {"jpserver_extensions": {"jupyter_token_count": True}},
            "TokenCountConfig": {
                "base_url": standin.url,
                "cache_dir": str(tmp_path / "server-cache"),
                "timeout": 2.0,
                "max_retry_wait": 3.0,
                **tc_config,
            },
        }
    )


@pytest.fixture(autouse=True)
def _registry_restored() -> Any:
    """GET models applies the API's model list to the process-wide registry: undo it after each test."""
    saved = dict(registry._overrides)
    yield
    registry._overrides.clear()
    registry._overrides.update(saved)


@pytest.fixture
def key(standin: StandIn, monkeypatch: pytest.MonkeyPatch) -> str:
    """The server's environment holds the key (read on each request)."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", standin.api_key)
    return standin.api_key


class Client:
    """``jp_fetch`` with the contract checked on every answer, and every body kept for the key check."""

    def __init__(self, jp_fetch: Any, standin: StandIn) -> None:
        self._fetch = jp_fetch
        self.standin = standin
        self.bodies: list[str] = []

    async def call(
        self,
        method: str,
        endpoint: str,
        body: Any = None,
        *,
        status: int = 200,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        **kw: Any,
    ) -> Any:
        if raw is None and body is not None:
            raw = json.dumps(body).encode()
        resp: HTTPResponse = await self._fetch(
            NS,
            endpoint,
            method=method,
            body=raw,
            headers=headers,
            raise_error=False,
            allow_nonstandard_methods=True,
            **kw,
        )
        text = resp.body.decode()
        self.bodies.append(text)
        assert self.standin.api_key not in text
        assert "Traceback" not in text
        assert resp.code == status, f"{method} {endpoint}: {resp.code} {text}"
        assert resp.headers["Content-Type"].startswith("application/json")
        data = json.loads(text)
        check_contract(endpoint, method, resp.code, data)
        self.last = resp
        return data

    async def post(self, endpoint: str, body: Any = None, **kw: Any) -> Any:
        if kw.get("status", 200) == 200 and kw.get("raw") is None:
            check_request(endpoint, body)
        return await self.call("POST", endpoint, body, **kw)

    async def get(self, endpoint: str, **kw: Any) -> Any:
        return await self.call("GET", endpoint, **kw)


@pytest.fixture
def client(jp_fetch: Any, standin: StandIn) -> Client:
    return Client(jp_fetch, standin)


@pytest.fixture
def service(jp_serverapp: Any) -> Any:
    return jp_serverapp.web_app.settings[SERVICE_KEY]


@pytest.fixture
def server(jp_fetch: Any, jp_serverapp: Any, jp_http_port: int, jp_auth_header: dict[str, str]) -> Any:
    """For tests that talk HTTP themselves (raw sockets, many connections); ``jp_fetch`` is what makes
    pytest-jupyter listen on the port."""

    class Server:
        port = jp_http_port
        base_url = jp_serverapp.base_url
        auth = jp_auth_header

        @staticmethod
        def url(endpoint: str) -> str:
            return f"http://127.0.0.1:{jp_http_port}{jp_serverapp.base_url}{NS}/{endpoint}"

    return Server


def body(text: str = "Hello, Claude", **kw: Any) -> dict[str, Any]:
    return {"model": M, "messages": [{"role": "user", "content": text}], **kw}


def cells(n: int, tag: str = "") -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        kind = "markdown" if i % 3 == 0 else "code"
        src = (
            f"# Section {i}{tag}\nSome prose about step {i}."
            if kind == "markdown"
            else f"x{i} = {i} * 2{tag}\nprint(x{i})"
        )
        out.append({"id": f"c{i}", "cell_type": kind, "source": src})
    return out


# -- installation and configuration -----------------------------------------------------------------
def test_extension_is_enabled_by_the_shipped_config_and_validates():
    from jupyter_server.extension.manager import ExtensionPackage

    import jupyter_token_count

    shipped = json.loads((ROOT / "jupyter-config" / "jupyter_server_config.d" / "jupyter_token_count.json").read_text())
    assert shipped["ServerApp"]["jpserver_extensions"]["jupyter_token_count"] is True
    assert jupyter_token_count._jupyter_server_extension_points() == [{"module": "jupyter_token_count.server"}]
    pkg = ExtensionPackage(name="jupyter_token_count", enabled=True)
    assert pkg.validate()


def test_config_defaults_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    c = TokenCountConfig()
    assert (c.rpm, c.mode, c.max_request_bytes, c.api_key_env) == (500, "auto", 32 * 1024 * 1024, "ANTHROPIC_API_KEY")
    assert c.default_model == "claude-sonnet-5-5"  # models.json's default_model
    monkeypatch.setenv("JUPYTER_TOKEN_COUNT_MODE", "offline")
    monkeypatch.setenv("JUPYTER_TOKEN_COUNT_MODEL", "claude-opus-4-8")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://example.invalid")
    c = TokenCountConfig()
    s = c.settings()
    assert (s.mode, s.model, s.base_url, s.data_dir) == (
        "offline",
        "claude-opus-4-8",
        "http://example.invalid",
        tmp_path / "jtc-data",
    )
    assert TokenCountConfig(cache_dir="").settings().data_dir is None
    with pytest.raises(Exception, match="at least 1"):
        TokenCountConfig(rpm=0)


@pytest.mark.parametrize(
    "tc_config",
    [
        {
            "rpm": 100,
            "default_model": "claude-opus-4-8",
            "mode": "offline",
            "max_request_bytes": 1000,
            "api_key_env": "MY_CLAUDE_KEY",
        }
    ],
)
async def test_config_traits_reach_the_counter(client: Client, service: Any, tmp_path: Path):
    st = await client.get("status")
    assert st["rate_limit"]["rpm"] == 100
    assert (st["default_model"], st["mode"], st["backend"], st["max_request_bytes"]) == (
        "claude-opus-4-8",
        "offline",
        "offline",
        1000,
    )
    assert st["api_key_env"] == "MY_CLAUDE_KEY" and st["key_configured"] is False
    assert service.counter.cache.path == tmp_path / "server-cache" / "counts.sqlite3"
    res = await client.post("count", {"messages": [{"role": "user", "content": "hi"}]})
    assert res["model"] == "claude-opus-4-8" and res["source"] == "offline"


# -- POST count ---------------------------------------------------------------------------------------
async def test_count_exact_then_cached(client: Client, key: str, standin: StandIn):
    b = body(system="Be brief", max_tokens=1024)  # a messages.create body: max_tokens is dropped
    res = await client.post("count", b)
    [sent] = standin.count_requests()
    expected = {"model": M, "messages": [{"role": "user", "content": "Hello, Claude"}], "system": "Be brief"}
    assert sent.json == expected
    assert (res["input_tokens"], res["exact"], res["source"], res["reason"]) == (
        standin_count(expected),
        True,
        "api",
        None,
    )
    # Sonnet 4.5 in models.json: a 200,000-token window, $3 per million input tokens
    assert res["context_window"] == 200_000
    assert res["cost_usd"] == pytest.approx(res["input_tokens"] * 3 / 1_000_000)
    again = await client.post("count", b)
    assert (again["input_tokens"], again["exact"], again["source"]) == (res["input_tokens"], True, "cache")
    assert len(standin.count_requests()) == 1
    st = await client.get("status")
    assert st["upstream_requests"] == 1 and st["cache"]["hits"] >= 1 and st["cache"]["misses"] >= 1
    assert st["backend"] == "api" and st["key_configured"] is True


async def test_big_bodies_with_media(client: Client, key: str, standin: StandIn):
    # a big body with media: parsed and validated off the event loop, same answer
    png = base64.b64encode(image_bytes("PNG", (400, 300))).decode()
    b = {
        "model": M,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}},
                    {"type": "text", "text": "describe this " * 30_000},
                ],
            }
        ],
    }
    assert len(json.dumps(b)) > 256 * 1024
    res = await client.post("count", b)
    [sent] = standin.count_requests()
    assert sent.json == b and res["input_tokens"] == standin_count(b) and res["exact"] is True
    bad = json.loads(json.dumps(b))
    bad["messages"][0]["content"][0]["source"]["media_type"] = "image/jpeg"
    err = await client.post("count", bad, status=400)
    assert "messages[0].content[0].source: media_type says image/jpeg but the bytes are" in err["error"]["message"]


async def test_count_without_key_is_an_honest_estimate(client: Client, standin: StandIn):
    res = await client.post("count", body())
    assert (res["exact"], res["source"]) == (False, "offline")
    assert "no API key" in res["reason"] and "ANTHROPIC_API_KEY" in res["reason"]
    assert res["input_tokens"] > 0
    assert await client.post("count", body(mode="api"), status=400) == {
        "error": {
            "type": "config_error",
            "message": "mode 'api' needs an API key: set ANTHROPIC_API_KEY or configure one",
        }
    }
    assert standin.requests == []


async def test_the_coarse_estimator_is_named_in_every_answer(client: Client, monkeypatch: pytest.MonkeyPatch):
    """Without ctok (a pip install below Python 3.12) the reason says so: it is what the status bar, the badges'
    and the editor's tooltips show beside ≈ (tests/test_coarse_estimator.py covers the other surfaces)."""
    monkeypatch.setenv("JUPYTER_TOKEN_COUNT_ESTIMATOR", "fallback")
    count = await client.post("count", body())
    nb = await client.post("cells", {"model": M, "cells": cells(3), "include_outputs": False})
    doc = await client.post("document", {"name": "system.md", "text": "You are careful.", "model": M})
    typing = await client.post("document", {"name": "system.md", "text": "You are.", "model": M, "exact_total": False})
    reasons = [count["reason"], nb["reason"], doc["total"]["reason"], typing["total"]["reason"]]
    reasons += [c["reason"] for c in nb["cells"] if c["tokens"]]
    assert len(reasons) == 7 and all("coarse estimator" in r for r in reasons), reasons
    assert (await client.get("status"))["estimator"].startswith("fallback")


async def test_count_offline_mode_per_request(client: Client, key: str, standin: StandIn):
    res = await client.post("count", body(mode="offline"))
    assert (res["exact"], res["source"], res["reason"]) == (False, "offline", "offline mode")
    assert standin.count_requests() == []


async def test_count_takes_strings_literally(
    client: Client, key: str, standin: StandIn, jp_root_dir: Path, monkeypatch: pytest.MonkeyPatch
):
    # a prompt that names a file on the server is text: it is never read from the server's disk
    (jp_root_dir / "notes.txt").write_text("secret server file " * 50)
    monkeypatch.chdir(jp_root_dir)
    await client.post("count", body("notes.txt"))
    [sent] = standin.count_requests()
    assert sent.json["messages"] == [{"role": "user", "content": "notes.txt"}]


# -- errors -----------------------------------------------------------------------------------------
def _python_json_error(raw: bytes) -> str:
    """Where and why Python's own parser stops (its wording and column changed in 3.13): the answer relays it."""
    try:
        json.loads(raw)
    except json.JSONDecodeError as exc:
        return f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
    raise AssertionError(f"{raw!r} is valid JSON")


@pytest.mark.parametrize(
    ("raw", "etype", "message"),
    [
        (b'{"messages": [', "invalid_json", "malformed JSON at line 1, column 15"),
        (b'{"a": 1,}', "invalid_json", _python_json_error(b'{"a": 1,}')),
        (b"", "invalid_json", "the request body is empty"),
        (b"\xff\xfe{}", "invalid_json", "not UTF-8"),
        (b'[{"role": "user", "content": "hi"}]', "invalid_json", "expected a JSON object, got an array"),
        (b'{"messages": [{"role": "user", "content": "hi"}], "x": NaN}', "invalid_json", "NaN is not valid JSON"),
        (b'{"model": "claude-sonnet-4-5"}', "invalid_request_error", "messages: required"),
        (
            b'{"messages": [{"role": "user", "content": ""}]}',
            "invalid_request_error",
            "messages[0].content: content is empty",
        ),
        (
            b'{"messages": [{"role": "user", "content": "a"}, {"role": "robot", "content": "x"}]}',
            "invalid_request_error",
            "messages[1].role: unknown role 'robot'",
        ),
        (
            b'{"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}]}]}',
            "invalid_request_error",
            "messages[0].content[0].source",
        ),
        (  # a file's bytes as a content part: the message and the part that hold them, as everywhere
            b'{"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": [{"type": "text", '
            b'"text": "Look:"}, {"type": "image", "source": {"type": "base64", "media_type": "image/png", '
            b'"data": "aGVsbG8="}}]}]}',
            "invalid_request_error",
            "messages[1].content[1].source: media_type says image/png but the bytes are not an image",
        ),
        (
            b'{"messages": [{"role": "user", "content": "x"}], "temperatur": 1}',
            "invalid_request_error",
            "request: unknown request field 'temperatur'",
        ),
        (
            b'{"messages": [{"role": "user", "content": "x"}], "mode": "fast"}',
            "invalid_request_error",
            'mode: expected one of auto, api, offline, got "fast"',
        ),
        (
            b'{"messages": [{"role": "user", "content": "x"}], "model": 3}',
            "invalid_request_error",
            "model: expected a model id",
        ),
    ],
)
async def test_count_bad_bodies_are_400_naming_the_problem(
    client: Client, key: str, standin: StandIn, raw: bytes, etype: str, message: str
):
    err = await client.post("count", raw=raw, status=400)
    assert err["error"]["type"] == etype
    assert message in err["error"]["message"]
    assert standin.count_requests() == []


async def test_api_errors_keep_their_status(client: Client, key: str, standin: StandIn):
    # 400 from the API (a check we do not make locally): its own message, never an estimate
    standin.fail_next(400, message="messages.0.content.0: something only the API checks")
    err = await client.post("count", body("a"), status=400)
    assert err["error"] == {
        "type": "invalid_request_error",
        "message": "the API rejected the request: messages.0.content.0: something only the API checks",
    }
    # 404: an unknown model (the stand-in knows only claude-* ids)
    err = await client.post("count", {**body("b"), "model": "gpt-5"}, status=404)
    assert err["error"]["type"] == "not_found_error" and "gpt-5" in err["error"]["message"]
    standin.fail_next(413)
    err = await client.post("count", body("c"), status=413)
    assert err["error"]["type"] == "request_too_large"


@pytest.mark.parametrize("tc_config", [{"max_request_bytes": 4096}])
async def test_body_over_the_limit_is_413(client: Client, key: str, standin: StandIn):
    err = await client.post("count", body("x" * 5000), status=413)
    assert err["error"]["type"] == "request_too_large"
    assert "4.0 KB" in err["error"]["message"] and "max_request_bytes" in err["error"]["message"]
    assert standin.count_requests() == []
    # just under the limit is fine
    await client.post("count", body("y" * 3800))


@pytest.mark.parametrize("tc_config", [{"max_request_bytes": 4096}])
async def test_413_is_decided_before_the_body_is_read(server: Any):
    # announce 100 MB and send none of it: the answer comes from the headers alone
    head = (
        f"POST {server.base_url}{NS}/count HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: "
        f"{server.auth['Authorization']}\r\n"
        "Content-Type: application/json\r\nContent-Length: 104857600\r\n\r\n"
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(head.encode())
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 5)
    rest = await asyncio.wait_for(reader.read(65536), 5)
    writer.close()
    assert b" 413 " in status_line
    payload = json.loads(rest.split(b"\r\n\r\n", 1)[1])
    check_contract("count", "POST", 413, payload)
    assert "100.0 MB" in payload["error"]["message"]


@pytest.mark.parametrize("tc_config", [{"max_request_bytes": 4096}])
async def test_chunked_body_over_the_limit_is_413(server: Any):
    async def producer(write: Any) -> None:  # no Content-Length: chunked transfer encoding
        await write(b'{"messages": [{"role": "user", "content": "')
        for _ in range(10):
            await write(b"x" * 1024)
        await write(b'"}]}')

    client = AsyncHTTPClient(force_instance=True)
    try:
        req = HTTPRequest(server.url("count"), method="POST", headers=server.auth, body_producer=producer)
        with pytest.raises(HTTPClientError) as info:
            await client.fetch(req)
    finally:
        client.close()
    assert info.value.code == 413
    assert json.loads(info.value.response.body)["error"]["type"] == "request_too_large"


async def test_unauthenticated_is_403_everywhere(client: Client, key: str, standin: StandIn, server: Any):
    for method, endpoint in (
        ("GET", "status"),
        ("GET", "models"),
        ("POST", "count"),
        ("POST", "cells"),
        ("POST", "messages"),
    ):
        b = body() if endpoint == "count" else {"cells": cells(2)}
        for auth in ("", "token not-the-token"):
            err = await client.call(
                method, endpoint, b if method == "POST" else None, status=403, headers={"Authorization": auth}
            )
            assert err["error"]["type"] == "forbidden", (method, endpoint, err)
    # a browser session without the XSRF token is refused too
    http = AsyncHTTPClient(force_instance=True)
    resp = await http.fetch(
        server.url("count"), method="POST", body=json.dumps(body()), headers={"Cookie": "_xsrf=abc"}, raise_error=False
    )
    http.close()
    assert resp.code == 403
    assert standin.requests == []


async def test_wrong_method_and_internal_errors_use_the_envelope(
    client: Client, key: str, service: Any, monkeypatch: pytest.MonkeyPatch, standin: StandIn
):
    resp = await client._fetch(NS, "count", method="GET", raise_error=False)
    assert resp.code == 405 and json.loads(resp.body)["error"]["type"] == "method_not_allowed"

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"boom with {standin.api_key}")

    monkeypatch.setattr(service.counter, "acount", broken)
    resp = await client._fetch(NS, "count", method="POST", body=json.dumps(body()), raise_error=False)
    err = json.loads(resp.body)
    assert resp.code == 500 and err["error"]["type"] == "internal_error"
    assert "boom" not in resp.body.decode() and standin.api_key not in resp.body.decode()


# -- upstream failures in auto mode: the estimate, with the reason ------------------------------------
@pytest.mark.parametrize("tc_config", [{"max_retries": 0, "timeout": 0.5}])
@pytest.mark.parametrize(
    ("script", "reason"),
    [
        (
            lambda s: s.fail_next(401, message="invalid x-api-key"),
            "API key rejected (401: invalid x-api-key); check ANTHROPIC_API_KEY",
        ),
        (lambda s: s.fail_next(529), "the API is overloaded (529)"),
        (lambda s: s.fail_next(500), "API error 500"),
        (lambda s: s.hang_next(1.5), "the API did not answer within 0.5s"),
    ],
)
async def test_upstream_failures_answer_with_the_estimate(
    client: Client, key: str, standin: StandIn, script: Any, reason: str
):
    script(standin)
    res = await client.post("count", body())
    assert (res["exact"], res["source"]) == (False, "offline")
    assert res["reason"].startswith(reason)
    assert len(standin.count_requests()) == 1
    st = await client.get("status")
    assert st["fallbacks"] == 1


async def test_upstream_429_retry_after_is_honoured(client: Client, key: str, standin: StandIn):
    standin.fail_next(429, retry_after=30)
    res = await client.post("count", body("first"))
    assert res["exact"] is False and res["reason"] == "rate limited by the API (429); exact count in 30s"
    assert res["retry_after"] == 30
    # the pause holds every later request back: no upstream call until it is over
    res = await client.post("count", body("second"))
    assert res["exact"] is False and "rate limited" in res["reason"]
    assert len(standin.count_requests()) == 1
    st = await client.get("status")
    assert st["rate_limit"]["paused_for"] > 25 and st["rate_limit"]["throttled"] is True


@pytest.mark.parametrize("tc_config", [{"rpm": 2}])
async def test_rpm_cap_answers_with_the_estimate_not_a_queue(client: Client, key: str, standin: StandIn):
    a = await client.post("count", body("one"))
    b = await client.post("count", body("two"))
    c = await client.post("count", body("three"))
    assert a["exact"] and b["exact"]
    assert (c["exact"], c["source"]) == (False, "offline")
    assert c["reason"].startswith("rate limited (2 requests/min cap)") and c["retry_after"] > 0
    assert len(standin.count_requests()) == 2
    # cached answers are still exact while throttled
    assert (await client.post("count", body("one")))["exact"] is True
    st = await client.get("status")
    assert st["rate_limit"]["throttled"] is True and st["rate_limit"]["throttled_requests"] == 1


@pytest.mark.parametrize("tc_config", [{"mode": "api", "max_retries": 0, "timeout": 0.5}])
@pytest.mark.parametrize(
    ("script", "status", "etype"),
    [
        (lambda s: s.fail_next(429, retry_after=7), 429, "rate_limit_error"),
        (lambda s: s.fail_next(529), 503, "overloaded_error"),
        (lambda s: s.fail_next(401), 502, "upstream_auth_error"),
        (lambda s: s.hang_next(1.5), 504, "timeout_error"),
    ],
)
async def test_api_mode_reports_upstream_failures(
    client: Client, key: str, standin: StandIn, script: Any, status: int, etype: str
):
    script(standin)
    err = await client.post("count", body(), status=status)
    assert err["error"]["type"] == etype
    if status == 429:
        assert client.last.headers["Retry-After"] == "7"


# -- concurrency --------------------------------------------------------------------------------------
async def test_40_concurrent_identical_requests_make_one_upstream_request(key: str, standin: StandIn, server: Any):
    standin.delay = 0.3  # hold the first one in flight while the others arrive
    http = AsyncHTTPClient(force_instance=True, max_clients=64)
    try:
        fetches = [
            http.fetch(server.url("count"), method="POST", body=json.dumps(body("shared")), headers=server.auth)
            for _ in range(40)
        ]
        answers = [json.loads(r.body) for r in await asyncio.gather(*fetches)]
    finally:
        http.close()
    assert len(standin.count_requests()) == 1
    assert {a["input_tokens"] for a in answers} == {standin_count(build_request(body("shared")).body)}
    assert all(a["exact"] for a in answers)


@pytest.mark.parametrize("tc_config", [{"max_concurrency": 2}])
async def test_distinct_requests_in_flight_are_bounded(key: str, standin: StandIn, server: Any):
    standin.delay = 0.2
    http = AsyncHTTPClient(force_instance=True, max_clients=16)
    try:
        await asyncio.gather(
            *(
                http.fetch(
                    server.url("count"), method="POST", body=json.dumps(body(f"distinct {i}")), headers=server.auth
                )
                for i in range(6)
            )
        )
    finally:
        http.close()
    arrivals = sorted(r.at for r in standin.count_requests())
    assert len(arrivals) == 6
    # two at a time: the third starts only when one of the first two has been answered
    assert all(arrivals[i + 2] - arrivals[i] >= 0.15 for i in range(4)), arrivals


# -- POST cells ---------------------------------------------------------------------------------------
#: a deadline for tests that assert an exact first answer: a loaded machine may take longer than the default
#: 2 s to import the SDK and answer (the UI would then show the estimate, pending, and ask again)
SLOW_OK = 30_000


def _notebook_body(nb: list[dict[str, Any]]) -> dict[str, Any]:
    """The request ``count_tokens(Path(nb))`` and the CLI send for these cells (sources only)."""
    from jupyter_token_count.request import cells_from_json, notebook_request

    req = notebook_request(cells_from_json(nb), False, model=M)
    assert req is not None
    return req.body


async def _background_done(client: Client, upstream: int, timeout: float = 20.0) -> dict[str, Any]:
    """Wait until the server has made ``upstream`` requests in all (background work included)."""
    loop = asyncio.get_running_loop()
    until = loop.time() + timeout
    while True:
        st = await client.get("status")
        if st["upstream_requests"] >= upstream or loop.time() > until:
            return st
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("tc_config", [{"rpm": 2, "cell_counts": False}])
async def test_cold_notebook_total_is_one_request_whatever_the_cap(client: Client, key: str, standin: StandIn):
    nb = cells(100)
    first = await client.post("cells", {"model": M, "cells": nb, "include_outputs": False, "deadline_ms": SLOW_OK})
    sent = standin.count_requests()
    assert len(sent) == 1  # the whole notebook, once: not one request per cell
    assert sent[0].json == _notebook_body(nb)
    assert first["exact"] is True and first["reason"] is None and first["pending"] is False
    assert first["total"] == standin_count(sent[0].json)
    # shares come from the offline tokenizer at once, marked, and the rows add up to the total
    assert [c["id"] for c in first["cells"]] == [f"c{i}" for i in range(100)]
    assert all(not c["exact"] and c["tokens"] > 0 and c["reason"] for c in first["cells"])
    assert first["total"] == first["joins_and_frame"] + sum(c["tokens"] for c in first["cells"])
    assert first["by_type"] == {
        t: sum(c["tokens"] for c in first["cells"] if c["cell_type"] == t) for t in ("markdown", "code")
    }
    assert first["cells_pending"] == 0  # background work is off

    again = await client.post("cells", {"model": M, "cells": nb, "include_outputs": False})
    assert len(standin.count_requests()) == 1  # unchanged notebook: zero upstream requests
    assert again["total"] == first["total"] and again["cells"] == first["cells"]

    edited = [dict(c) for c in nb]
    for i in range(0, 100, 10):
        edited[i]["source"] += "\nedited"
    third = await client.post("cells", {"model": M, "cells": edited, "include_outputs": False, "deadline_ms": SLOW_OK})
    assert len(standin.count_requests()) == 2  # ten cells edited: one request, for the new total
    assert third["exact"] and third["total"] == standin_count(_notebook_body(edited))
    changed = [i for i in range(100) if third["cells"][i]["tokens"] != first["cells"][i]["tokens"]]
    assert changed == list(range(0, 100, 10))


async def test_notebook_total_equals_the_cli_and_count_tokens(
    client: Client, key: str, standin: StandIn, tmp_path: Path
):
    import os
    import subprocess
    import sys

    path = sorted(FIXTURE_NOTEBOOKS.glob("*.ipynb"))[0]
    raw = json.loads(path.read_text())
    nb = [
        {"id": c.get("id") or f"i{i}", "cell_type": c["cell_type"], "source": c["source"]}
        for i, c in enumerate(raw["cells"])
    ]
    res = await client.post("cells", {"model": M, "cells": nb, "deadline_ms": SLOW_OK})
    env = {
        **os.environ,
        "ANTHROPIC_API_KEY": standin.api_key,
        "ANTHROPIC_BASE_URL": standin.url,
        "JUPYTER_TOKEN_COUNT_DATA_DIR": str(tmp_path / "cli-cache"),
    }
    cli = subprocess.run(
        [sys.executable, "-m", "jupyter_token_count.cli", "--api", "-m", M, str(path), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 0, cli.stderr
    assert res["exact"] and res["total"] == json.loads(cli.stdout)["input_tokens"]
    sent = standin.count_requests()  # the CLI has a cache of its own: it asked too, with the same bytes
    assert sent[0].raw in [r.raw for r in sent[1:]]  # (background per-cell counts may have gone out too)


@pytest.mark.parametrize("tc_config", [{"cell_counts": False}])
async def test_while_typing_the_api_is_not_asked(client: Client, key: str, standin: StandIn):
    nb = cells(40)
    opened = await client.post("cells", {"model": M, "cells": nb, "deadline_ms": SLOW_OK})
    assert opened["exact"] and len(standin.count_requests()) == 1
    # the notebook unchanged: its exact total is cached, typing mode or not
    same = await client.post("cells", {"model": M, "cells": nb, "exact_total": False})
    assert same["exact"] and same["total"] == opened["total"]
    edited = [dict(c) for c in nb]
    edited[7]["source"] += "\nmore = [i * i for i in range(10)]"
    typing = await client.post("cells", {"model": M, "cells": edited, "exact_total": False})
    assert len(standin.count_requests()) == 1  # no upstream request while typing
    assert typing["exact"] is False and typing["pending"] is True and "while you type" in typing["reason"]
    assert typing["cells"][7]["tokens"] > opened["cells"][7]["tokens"]
    assert typing["total"] == typing["joins_and_frame"] + sum(c["tokens"] for c in typing["cells"])
    paused = await client.post("cells", {"model": M, "cells": edited, "deadline_ms": SLOW_OK})
    assert paused["exact"] and paused["total"] == standin_count(_notebook_body(edited))
    assert len(standin.count_requests()) == 2


async def test_while_typing_offline_the_whole_notebook_follows(client: Client, standin: StandIn):
    nb = cells(12)
    typing = await client.post("cells", {"model": M, "cells": nb, "exact_total": False})
    whole = await client.post("cells", {"model": M, "cells": nb})
    # while typing, a quick estimate from the shares; after the pause the estimate of the whole request
    assert typing["pending"] is True and whole["pending"] is False and not whole["exact"]
    assert abs(typing["total"] - whole["total"]) <= 3
    assert standin.requests == []


@pytest.mark.parametrize("tc_config", [{"rpm": 1000}])
async def test_background_cell_counts_come_after_the_total(client: Client, key: str, standin: StandIn):
    nb = cells(20)
    first = await client.post("cells", {"model": M, "cells": nb, "deadline_ms": SLOW_OK})
    assert first["exact"] and first["cells_pending"] > 0
    st = await _background_done(client, 1 + 1 + 20)  # the total, the frame probe, 20 cells
    sent = standin.count_requests()
    assert sent[0].json == _notebook_body(nb)  # the total went first
    assert len(sent) == 22 and st["upstream_requests"] == 22
    for _ in range(50):  # the last counts sent may still be on their way into the cache: ask as the UI does
        done = await client.post("cells", {"model": M, "cells": nb})
        if done["cells_pending"] == 0 and all(c["exact"] for c in done["cells"]):
            break
        await asyncio.sleep(0.1)
    assert len(standin.count_requests()) == 22  # everything is cached now
    assert all(c["exact"] and "reason" not in c for c in done["cells"])
    frame = standin_count({"model": M, "messages": [{"role": "user", "content": "."}]}) - 1
    one = build_request([{"role": "user", "content": [{"type": "text", "text": "# %%\n" + nb[1]["source"]}]}], model=M)
    assert done["cells"][1]["tokens"] == standin_count(one.body) - frame
    assert done["total"] == first["total"] and done["cells_pending"] == 0
    assert done["total"] == done["joins_and_frame"] + sum(c["tokens"] for c in done["cells"])


@pytest.mark.parametrize("tc_config", [{"rpm": 8, "background_share": 0.25}])
async def test_background_work_keeps_to_its_share_of_the_cap(client: Client, key: str, standin: StandIn):
    first = await client.post("cells", {"model": M, "cells": cells(30), "deadline_ms": SLOW_OK})
    assert first["exact"]
    await asyncio.sleep(1.0)
    # a full bucket of 8: the total took one, background may take slots only above the reserve of 6
    assert len(standin.count_requests()) <= 1 + 2
    # the foreground still finds a slot at once
    res = await client.post("count", body("a prompt someone waits for"))
    assert res["exact"] is True


async def _tokenizer_loaded(client: Client) -> None:
    """The offline tokenizer loads in a second or so (at server start, in the background): timed tests start
    once it is in, as a user's first keystroke would on a server that has been up for a moment."""
    await client.post("count", {**body("warm up"), "mode": "offline"})


@pytest.mark.parametrize("tc_config", [{"cell_counts": False}])
async def test_a_slow_api_does_not_hold_the_answer(client: Client, key: str, standin: StandIn):
    await _tokenizer_loaded(client)
    standin.hang_next(1.2)
    loop = asyncio.get_running_loop()
    start = loop.time()
    nb = cells(30)
    res = await client.post("cells", {"model": M, "cells": nb, "deadline_ms": 300})
    assert loop.time() - start < 1.0
    assert res["exact"] is False and res["pending"] is True and "in progress" in res["reason"]
    assert res["total"] > 0 and all(c["tokens"] > 0 for c in res["cells"] if c["id"].startswith("c"))
    await asyncio.sleep(1.5)  # the count lands in the cache when the API answers
    res = await client.post("cells", {"model": M, "cells": nb, "deadline_ms": 0})
    assert res["exact"] is True and len(standin.count_requests()) == 1


@pytest.mark.parametrize("tc_config", [{"timeout": 4.0, "cell_counts": False}])
async def test_a_hanging_api_answers_auto_mode_within_the_deadline(client: Client, key: str, standin: StandIn):
    await _tokenizer_loaded(client)
    standin.hang_next(6, times=3)
    loop = asyncio.get_running_loop()
    start = loop.time()
    res = await client.post("count", body("hanging"))  # the default deadline: 2 s
    assert loop.time() - start < 2.8 and res["pending"] is True and res["exact"] is False
    start = loop.time()
    cres = await client.post("cells", {"model": M, "cells": cells(30)})
    assert loop.time() - start < 3.0 and cres["pending"] is True


@pytest.mark.parametrize("tc_config", [{"mode": "api", "timeout": 1.0, "max_retries": 2}])
async def test_api_mode_retries_share_one_time_budget(client: Client, key: str, standin: StandIn):
    standin.hang_next(3, times=3)
    loop = asyncio.get_running_loop()
    start = loop.time()
    err = await client.post("count", body("hanging"), status=504)
    assert loop.time() - start < 1.9  # one budget of 1 s for every try, not 3 × 1 s
    assert err["error"]["type"] == "timeout_error"


async def test_cells_offline_and_edge_cases(client: Client, standin: StandIn):
    nb = [
        *cells(3),
        {"id": "empty", "cell_type": "code", "source": "   "},
        {"id": "lines", "cell_type": "markdown", "source": ["# Title\n", "text"]},
    ]
    res = await client.post("cells", {"cells": nb})
    assert res["exact"] is False and "no API key" in res["reason"]
    assert res["model"] == "claude-sonnet-5-5"  # models.json's default_model
    by_id = {c["id"]: c for c in res["cells"]}
    assert by_id["empty"]["tokens"] == 0 and by_id["lines"]["tokens"] > 0
    assert res["total"] == res["joins_and_frame"] + sum(c["tokens"] for c in res["cells"])
    empty = await client.post("cells", {"cells": []})
    # an empty notebook is the request frame alone, as the CLI counts it
    assert empty["cells"] == [] and empty["total"] == empty["joins_and_frame"] > 0 and not empty["exact"]
    assert standin.requests == []


async def test_cells_include_outputs(client: Client, key: str):
    nb = [
        {
            "id": "a",
            "cell_type": "code",
            "source": "print('hi')",
            "outputs": [{"output_type": "stream", "name": "stdout", "text": "hi\n" * 20}],
        }
    ]
    without = await client.post("cells", {"model": M, "cells": nb, "include_outputs": False})
    with_out = await client.post("cells", {"model": M, "cells": nb, "include_outputs": True})
    assert with_out["cells"][0]["tokens"] > without["cells"][0]["tokens"]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"model": M}, "cells: required"),
        ({"cells": {"a": 1}}, "cells: expected an array, got an object"),
        ({"cells": [{"id": "a", "cell_type": "python", "source": "x"}]}, "cell 1: unknown cell_type 'python'"),
        ({"cells": [{"id": "a", "cell_type": "code", "source": 5}]}, "cell 1: source: expected a string"),
        ({"cells": [], "include_outputs": "yes"}, "include_outputs: expected a boolean, got a string"),
        (
            {
                "cells": [
                    *cells(2),
                    {
                        "id": "img",
                        "cell_type": "code",
                        "source": "plot()",
                        "outputs": [{"output_type": "display_data", "data": {"image/png": "not base64!"}}],
                    },
                ],
                "include_outputs": True,
            },
            "cell 3 (id 'img'), output 1: image/png output is not valid base64",
        ),
        (
            {
                "cells": [
                    {
                        "id": "img",
                        "cell_type": "code",
                        "source": "plot()",
                        "outputs": [
                            {
                                "output_type": "display_data",
                                "data": {"image/png": base64.b64encode(b"not a picture").decode()},
                            }
                        ],
                    }
                ],
                "include_outputs": True,
            },
            "cell 1 (id 'img'), ",
        ),
    ],
)
async def test_cells_bad_input_is_400_naming_the_cell(client: Client, payload: dict[str, Any], message: str):
    err = await client.post("cells", raw=json.dumps(payload).encode(), status=400)
    assert err["error"]["type"] == "invalid_request_error"
    assert message in err["error"]["message"]


# -- POST messages --------------------------------------------------------------------------------------
async def test_messages_is_the_notebook_as_one_request(client: Client, standin: StandIn):
    nb = cells(4)
    res = await client.post("messages", {"model": M, "cells": nb, "include_outputs": False})
    req = res["request"]
    assert req["model"] == M and [m["role"] for m in req["messages"]] == ["user"]
    assert req["messages"][0]["content"][0]["text"].startswith("# %% [markdown]\n# Section 0")
    err = await client.post(
        "messages", raw=json.dumps({"cells": [{"id": "e", "cell_type": "code", "source": ""}]}).encode(), status=400
    )
    assert "every cell is empty" in err["error"]["message"]
    assert standin.requests == []


async def test_status_and_big_notebooks_are_built_off_the_event_loop(
    client: Client, service: Any, monkeypatch: pytest.MonkeyPatch
):
    import threading

    from jupyter_token_count.server import handlers

    loop_thread = threading.current_thread()  # the server runs on this test's event loop
    seen: dict[str, threading.Thread] = {}
    status, blocks = service.status, handlers.notebook_request

    def spy(name: str, fn: Any) -> Any:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            seen[name] = threading.current_thread()
            return fn(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(service, "status", spy("status", status))
    monkeypatch.setattr(handlers, "notebook_request", spy("blocks", blocks))
    await client.get("status")
    big = [{"id": "big", "cell_type": "code", "source": "print('hello')\n" * 20_000}]
    res = await client.post("messages", {"model": M, "cells": big})
    assert res["request"]["messages"][0]["content"][0]["text"].startswith("# %%\nprint('hello')")
    assert seen["status"] is not loop_thread and seen["blocks"] is not loop_thread
    seen.clear()
    await client.post("messages", {"model": M, "cells": cells(2)})  # a small body too: nothing is built inline
    assert seen["blocks"] is not loop_thread


def _fixture_cells() -> list[dict[str, Any]]:
    path = sorted(FIXTURE_NOTEBOOKS.glob("*.ipynb"))[0]
    nb = json.loads(path.read_text())
    return [
        {"id": c.get("id") or f"i{i}", "cell_type": c["cell_type"], "source": c["source"]}
        for i, c in enumerate(nb["cells"])
    ]


@pytest.mark.skipif(not FIXTURE_NOTEBOOKS.is_dir(), reason="no fixture notebooks")
@pytest.mark.parametrize("with_key", [False, True])
async def test_cells_total_is_the_whole_notebook(
    client: Client, standin: StandIn, monkeypatch: pytest.MonkeyPatch, with_key: bool
):
    """POST cells' total is POST messages' request counted by POST count: the same number, exact or not."""
    if with_key:
        monkeypatch.setenv("ANTHROPIC_API_KEY", standin.api_key)
    nb = _fixture_cells()
    per_cell = await client.post("cells", {"model": M, "cells": nb, "deadline_ms": SLOW_OK})
    request = (await client.post("messages", {"model": M, "cells": nb}))["request"]
    whole = await client.post("count", request)
    assert per_cell["exact"] is whole["exact"] is with_key
    assert per_cell["total"] == whole["input_tokens"]
    # one upstream request for both (background per-cell counts aside)
    assert [r.json for r in standin.count_requests()].count(request) == (1 if with_key else 0)


# -- GET models ---------------------------------------------------------------------------------------
async def test_models_offline_is_the_registry(client: Client, standin: StandIn):
    res = await client.get("models")
    assert res["refreshed_from_api"] is False and res["default_model"] == "claude-sonnet-5-5"
    assert [m["id"] for m in res["models"]] == [m.id for m in registry.all_models()]
    assert standin.requests == []


@pytest.mark.parametrize("tc_config", [{"models_refresh_minutes": 10}])
async def test_models_refreshed_from_the_api_at_most_every_n_minutes(client: Client, key: str, standin: StandIn):
    res = await client.get("models")
    assert res["refreshed_from_api"] is True and isinstance(res["refreshed_at"], float)
    by_id = {m["id"]: m for m in res["models"]}
    assert by_id["claude-haiku-4-5-20251001"]["context_window"] == 200_000 or any(
        m["context_window"] == 200_000 and "claude-haiku-4-5-20251001" in m.get("aliases", []) for m in res["models"]
    )
    assert by_id["claude-sonnet-6"]["context_window"] == 2_000_000  # a model the bundled registry does not know
    assert by_id["claude-sonnet-6"]["known"] is False
    await asyncio.gather(client.get("models"), client.get("models"), client.get("models"))
    assert len([r for r in standin.requests if r.path.startswith("/v1/models")]) == 1
    st = await client.get("status")
    assert st["models_requests"] == 1 and st["upstream_requests"] == 0


async def test_models_refresh_failure_keeps_the_registry(client: Client, key: str, standin: StandIn):
    standin.api_key = "another-test-key-the-server-does-not-have"  # the server's key is now rejected: 401
    try:
        res = await client.get("models")
    finally:
        standin.api_key = key
    assert res["refreshed_from_api"] is False and "invalid x-api-key" in res["refresh_error"]
    assert key not in json.dumps(res)
    assert len(res["models"]) == len(registry.all_models())


# -- GET status ---------------------------------------------------------------------------------------
async def test_status_never_shows_the_key(client: Client, key: str):
    st = await client.get("status")
    assert st["key_configured"] is True and st["backend"] == "api" and key not in json.dumps(st)
    assert set(st) >= {
        "backend",
        "mode",
        "key_configured",
        "default_model",
        "estimator",
        "cache",
        "upstream_requests",
        "rate_limit",
    }
    assert st["estimator"]


# -- the key never leaves the server ------------------------------------------------------------------
@pytest.mark.parametrize("tc_config", [{"max_retries": 0, "cell_counts": False}])  # the scripted errors are for counts
async def test_key_absent_from_bodies_and_debug_logs(
    client: Client, key: str, standin: StandIn, caplog: pytest.LogCaptureFixture, jp_serverapp: Any
):
    caplog.set_level(logging.DEBUG)
    jp_serverapp.log.setLevel(logging.DEBUG)
    await client.get("status")
    await client.get("models")
    await client.post("count", body("a"))
    await client.post("cells", {"model": M, "cells": cells(3)})
    await client.post("messages", {"model": M, "cells": cells(3)})
    # an upstream error that echoes the key (a misconfigured proxy might): redacted before anyone sees it
    standin.fail_next(401, message=f"invalid x-api-key {key}")
    res = await client.post("count", body("b"))
    assert "[redacted]" in res["reason"]
    standin.fail_next(400, message=f"bad request for {key}")
    await client.post("count", body("c"), status=400)
    await client.post("count", raw=b"{oops", status=400)
    await client.call("POST", "count", body("d"), status=403, headers={"Authorization": ""})
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert "jupyter-token-count" in logged  # the server's own lines were captured
    assert key not in logged
    assert all(key not in b for b in client.bodies) and len(client.bodies) == 9


# -- unknown models --------------------------------------------------------------------------------------
async def test_unknown_model_offline_is_counted_with_a_warning(client: Client, standin: StandIn):
    res = await client.post("count", {"model": "claude-sonet-4-5", "messages": [{"role": "user", "content": "hi"}]})
    assert res["exact"] is False and "did you mean 'claude-sonnet-4-5'" in res["warnings"][0]
    cells = await client.post(
        "cells", {"model": "claude-sonet-4-5", "cells": [{"id": "a", "cell_type": "code", "source": "x"}]}
    )
    assert "unknown model 'claude-sonet-4-5'" in cells["warnings"][0]
    known = await client.post("count", {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]})
    assert known["warnings"] == []


async def test_unknown_model_is_refused_once_the_api_list_is_known(client: Client, key: str, standin: StandIn):
    await client.get("models")  # the front end asks for the model list first; it refreshes from the API
    err = await client.post(
        "count", {"model": "claude-sonet-6", "messages": [{"role": "user", "content": "hi"}]}, status=400
    )
    assert "unknown model 'claude-sonet-6'" in err["error"]["message"]
    assert "did you mean 'claude-sonnet-6'" in err["error"]["message"] and not standin.count_requests()
    ok = await client.post("count", {"model": "claude-sonnet-6", "messages": [{"role": "user", "content": "hi"}]})
    assert ok["exact"] and ok["warnings"] == []


# -- POST document (the file editor) ----------------------------------------------------------------------
def _cli_json(path: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    import os
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-m", "jupyter_token_count.cli", str(path), "--json", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


async def test_document_text_counts_as_the_cli_counts_the_file(client: Client, tmp_path: Path, standin: StandIn):
    text = "# System prompt\n\nYou are a careful analyst. Cite the rows you use.\n\n" * 20
    path = tmp_path / "system.md"
    path.write_text(text)
    res = await client.post(
        "document", {"name": "system.md", "text": text, "model": M, "selection": "You are a careful analyst."}
    )
    assert res["kind"] == "text" and not res["total"]["exact"]
    assert res["total"]["input_tokens"] == _cli_json(path, "--offline", "-m", M)["input_tokens"]
    assert 0 < res["selection"]["input_tokens"] < res["total"]["input_tokens"]
    assert standin.requests == []


async def test_document_json_is_counted_as_what_it_holds(client: Client, key: str, standin: StandIn, tmp_path: Path):
    messages = [
        {"role": "user", "content": "Summarise the report."},
        {"role": "assistant", "content": "Sure."},
        {"role": "user", "content": "Now in French."},
    ]
    request = {
        "model": M,
        "max_tokens": 100,
        "system": "Be brief.",
        "messages": messages,
        "tools": [{"name": "calc", "description": "math", "input_schema": {"type": "object"}}],
    }
    for name, value, kind in (("messages.json", messages, "messages"), ("request.json", request, "request")):
        path = tmp_path / name
        path.write_text(json.dumps(value, indent=2))
        res = await client.post(
            "document", {"name": name, "text": path.read_text(), "model": M, "deadline_ms": SLOW_OK}
        )
        assert res["kind"] == kind and res["total"]["exact"], res
        env = {
            "ANTHROPIC_API_KEY": standin.api_key,
            "ANTHROPIC_BASE_URL": standin.url,
            "JUPYTER_TOKEN_COUNT_DATA_DIR": str(tmp_path / "cli"),
        }
        assert res["total"]["input_tokens"] == _cli_json(path, "--api", env=env)["input_tokens"]
    sent = standin.count_requests()[-1].json
    assert sent["system"] == "Be brief." and sent["tools"][0]["name"] == "calc" and "max_tokens" not in sent
    lines = "\n".join(json.dumps(m) for m in messages)
    jsonl = await client.post("document", {"name": "chat.jsonl", "text": lines, "model": M})
    assert jsonl["kind"] == "messages"


async def test_document_json_that_is_neither_is_text_and_says_so(client: Client):
    for text, words in (
        ('{"temperature": 0.2, "notes": "no messages here"}', "neither"),
        ('{"messages": [', "not valid JSON"),
    ):
        res = await client.post("document", {"name": "settings.json", "text": text, "model": M})
        assert res["kind"] == "text" and words in res["note"] and res["total"]["input_tokens"] > 0
    empty = await client.post("document", {"name": "blank.txt", "text": "  \n", "model": M})
    assert empty["note"].startswith("empty") and empty["total"]["input_tokens"] > 0  # the frame alone


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"text": "x"}, "name: expected the document's file name"),
        ({"name": "a.md", "text": 5}, "text: expected the document's text (a string), got a number"),
        ({"name": "a.md", "text": "x", "selection": ["x"]}, "selection: expected a string or null, got an array"),
        ({"name": "m.json", "text": '[{"role": "user", "content": []}]'}, "document 'm.json'"),
        (
            {"name": "m.json", "text": json.dumps([{"role": "user", "content": ["Look:", {"type": "document"}]}])},
            "document 'm.json', messages[0].content[1]: document block needs a 'source' object",
        ),
        (  # a request file's own model id is held to the length of one, as the body's is
            {
                "name": "r.json",
                "text": json.dumps({"model": "c" * 400, "messages": [{"role": "user", "content": "x"}]}),
            },
            "document 'r.json', model: a model id has at most 256 characters",
        ),
    ],
)
async def test_document_bad_input_is_400(client: Client, payload: dict[str, Any], message: str):
    err = await client.post("document", raw=json.dumps(payload).encode(), status=400)
    assert message in err["error"]["message"]


async def test_document_images_and_pdfs_count_as_the_cli_counts_the_file(
    client: Client, key: str, standin: StandIn, tmp_path: Path
):
    """What JupyterLab's image and PDF viewers hold: the file's bytes in base64, with the contents API's line
    breaks. An image counts as one user message holding the image block, exactly as `jupyter-token-count FILE`."""
    env = {
        "ANTHROPIC_API_KEY": standin.api_key,
        "ANTHROPIC_BASE_URL": standin.url,
        "JUPYTER_TOKEN_COUNT_DATA_DIR": str(tmp_path / "cli"),
    }
    for name, data, kind in (
        ("chart.png", image_bytes("PNG", (2400, 1200)), "image"),
        ("photo.jpeg", image_bytes("JPEG", (640, 480)), "image"),
        ("paper.pdf", pdf_bytes(2, "Quarterly results, in brief."), "pdf"),
    ):
        path = tmp_path / name
        path.write_bytes(data)
        b64 = base64.encodebytes(data).decode()  # 76-character lines, as Jupyter's contents API sends them
        body = {"name": name, "text": b64, "encoding": "base64", "model": M, "deadline_ms": SLOW_OK}
        res = await client.post("document", body)
        assert res["kind"] == kind and res["total"]["exact"], res
        assert res["total"]["input_tokens"] == _cli_json(path, "--api", "-m", M, env=env)["input_tokens"]
        # what went upstream: one block holding the file's bytes (found by them: a server of an earlier test may
        # still be sending its background per-cell counts to the shared stand-in)
        b64_sent = base64.b64encode(data).decode()
        sent = [r.json["messages"][0]["content"] for r in standin.count_requests()]
        ours = [c for c in sent if isinstance(c, list) and c[0].get("source", {}).get("data") == b64_sent]
        assert ours and all(len(c) == 1 and c[0]["type"] == ("image" if kind == "image" else "document") for c in ours)
        offline = await client.post("document", {**body, "mode": "offline"})
        assert offline["total"]["input_tokens"] == _cli_json(path, "--offline", "-m", M)["input_tokens"]
    big = await client.post(
        "document",
        {
            "name": "chart.png",
            "text": base64.b64encode(image_bytes("PNG", (2400, 1200))).decode(),
            "encoding": "base64",
            "model": M,
            "mode": "offline",
        },
    )
    # the tooltip says what the model sees: the API shrinks a large image before it is costed
    assert big["note"].startswith("a PNG image of 2,400×1,200 px, as one user message (")
    assert "sees it at" in big["note"]
    # a text file JupyterLab happened to hold as bytes is its text
    text = await client.post(
        "document",
        {"name": "notes.md", "text": base64.b64encode(b"# Notes").decode(), "encoding": "base64", "model": M},
    )
    assert text["kind"] == "text"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            {"name": "a.png", "text": "not base64!", "encoding": "base64"},
            "text: expected the document's bytes as base64",
        ),
        (
            {"name": "a.png", "text": base64.b64encode(b"hello").decode(), "encoding": "base64"},
            "document 'a.png': named like an image (.png) but its bytes are not PNG, JPEG, GIF or WebP",
        ),
        (  # a PNG signature with no image behind it: the tooltip's note opened it before validation, a 500
            {
                "name": "a.png",
                "text": base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(40)).decode(),
                "encoding": "base64",
            },
            "document 'a.png', messages[0].content[0]: the image data is corrupt or truncated",
        ),
        ({"name": "a.md", "text": "x", "encoding": "utf-16"}, 'encoding: expected text or base64, got "utf-16"'),
        (
            {"name": "scan.bmp", "text": base64.b64encode(b"BM\xff\xfe\x00").decode(), "encoding": "base64"},
            "document 'scan.bmp': neither text nor a file Claude reads as a block",
        ),
    ],
)
async def test_document_bad_bytes_are_400(client: Client, payload: dict[str, Any], message: str):
    err = await client.post("document", raw=json.dumps({**payload, "model": M}).encode(), status=400)
    assert message in err["error"]["message"]


@pytest.mark.parametrize("tc_config", [{"cell_counts": False}])
async def test_document_while_typing_does_not_ask_the_api(client: Client, key: str, standin: StandIn):
    text = "A system prompt being written. " * 30
    typing = await client.post("document", {"name": "p.md", "text": text, "model": M, "exact_total": False})
    assert typing["total"]["pending"] is True and not typing["total"]["exact"] and standin.requests == []
    paused = await client.post("document", {"name": "p.md", "text": text, "model": M, "deadline_ms": SLOW_OK})
    assert paused["total"]["exact"] and len(standin.count_requests()) == 1
    again = await client.post("document", {"name": "p.md", "text": text, "model": M, "exact_total": False})
    assert again["total"]["exact"] and len(standin.count_requests()) == 1  # cached: exact while typing too


# -- betas ------------------------------------------------------------------------------------------------------
def _edited() -> dict[str, Any]:
    from test_magics import EDITED

    return {**EDITED, "model": M}


async def test_count_with_betas_is_exact_with_the_count_before_the_edits(client: Client, key: str, standin: StandIn):
    b = {**_edited(), "betas": ["interleaved-thinking-2025-05-14"], "deadline_ms": SLOW_OK}
    res = await client.post("count", b)
    sent = standin.count_requests()[-1]
    assert sent.headers["anthropic-beta"] == (
        "context-management-2025-06-27,interleaved-thinking-2025-05-14,token-counting-2024-11-01"
    )
    assert "betas" not in sent.json and sent.json["context_management"] == b["context_management"]
    assert res["exact"] and res["original_input_tokens"] == standin_count(sent.json) > res["input_tokens"]
    assert (await client.post("count", b))["source"] == "cache"
    # the document of a request file: its own betas, and the document body's
    doc = await client.post(
        "document", {"name": "edited.json", "text": json.dumps(_edited()), "betas": ["context-1m-2025-08-07"]}
    )
    assert doc["kind"] == "request" and doc["total"]["exact"] and "original_input_tokens" in doc["total"]
    assert standin.count_requests()[-1].headers["anthropic-beta"] == (
        "context-1m-2025-08-07,context-management-2025-06-27,token-counting-2024-11-01"
    )


async def test_count_with_betas_is_an_estimate_without_a_key(client: Client, standin: StandIn):
    res = await client.post("count", _edited())
    assert not res["exact"] and res["reason"].startswith("no API key")
    assert "context editing (context_management) is not applied" in res["reason"]
    assert "original_input_tokens" not in res and standin.requests == []


async def test_an_unknown_beta_is_a_400_naming_it(client: Client, key: str, standin: StandIn):
    err = await client.post("count", body(betas=["context-managment-2025-06-27"]), status=400)
    assert err["error"]["type"] == "invalid_request_error"
    assert err["error"]["message"].startswith(
        "the API rejected the request: Unexpected value(s) `context-managment-2025-06-27` for the `anthropic-beta`"
    )
    for bad, words in (("x", "betas: expected an array"), (["a b"], "betas[0]: 'a b' is not a beta name")):
        err = await client.post("count", body(betas=bad), status=400)
        assert words in err["error"]["message"]
        err = await client.post("document", {"name": "a.md", "text": "hi", "betas": bad}, status=400)
        assert words in err["error"]["message"]


@pytest.mark.parametrize("name", ["betas", "user_profile_id", "workspace_id"])
async def test_a_typed_request_field_given_as_null_is_a_400(client: Client, name: str):
    # openapi.yaml types them without null; taking null as "absent" would make the contract say one thing and
    # the server do another (schemathesis found user_profile_id: null answered 200)
    err = await client.post("count", body(**{name: None}), status=400)
    assert err["error"]["message"].startswith(f"{name}: expected ")
    assert err["error"]["message"].endswith("got null")


async def test_a_notebook_counted_for_a_model_id_beyond_ascii_is_answered(client: Client, key: str):
    # the notebook's digest hashed the model id as ASCII: a 500 (schemathesis found it). With a key the API
    # has the last word on a model it does not know (404 naming it); offline it is estimated with a warning.
    nb = [{"id": "a", "cell_type": "markdown", "source": "hi"}]
    err = await client.post("cells", {"model": "modèle-x", "cells": nb}, status=404)
    assert err["error"]["message"] == "the API answered 404: model: modèle-x"
    res = await client.post("cells", {"model": "modèle-x", "cells": nb, "mode": "offline"})
    assert res["model"] == "modèle-x" and res["cells"][0]["tokens"] > 0 and not res["exact"]
    assert any("unknown model 'modèle-x'" in w for w in res["warnings"])


@pytest.mark.parametrize("model", ["modèle-☃", "claude\n1"])
def test_a_notebook_digest_takes_a_model_id_of_any_character(model: str):
    # the digest finds a typing total in the cache; any id a request may name is hashed (never a 500), and ids that
    # differ, or that differ only from where a newline would end the id's field, never share a digest
    from jupyter_token_count.cells import prepare
    from jupyter_token_count.request import Cell

    nb = [Cell(id="a", cell_type="markdown", source="hi")]
    digest = prepare(nb, model, False, None).digest
    assert len(digest) == 64
    others = {prepare(nb, m, o, None).digest for m, o in [(model + "x", False), (model, True), ("claude", True)]}
    assert digest not in others
