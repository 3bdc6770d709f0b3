"""Fuzzing (issue 14): hypothesis over the validation boundary, and schemathesis over ``openapi.yaml``
against a real ``jupyter server`` process with the extension (pointed at the local stand-in). Both are
bounded in examples so the suite stays within a couple of minutes on two cores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from conftest import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from live_server import LiveServer
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from standin import StandIn

from jupyter_token_count.errors import InputError
from jupyter_token_count.request import build_request, cells_from_json, notebook_blocks

OPENAPI = yaml.safe_load((ROOT / "jupyter_token_count" / "server" / "openapi.yaml").read_text())
SCHEMA = schemathesis.openapi.from_dict(OPENAPI)

# -- the validation boundary: any JSON is a request or an InputError, nothing else ----------------------
_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)  # lone surrogates included
_scalars = st.none() | st.booleans() | st.integers() | st.floats() | _text
JSON = st.recursive(
    _scalars, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(_text, kids, max_size=4), max_leaves=30
)
_block_types = st.sampled_from(["text", "image", "document", "tool_use", "tool_result", "search_result", "thinking"])
BLOCK = st.fixed_dictionaries(
    {"type": _block_types},
    optional={
        "text": JSON,
        "source": JSON,
        "content": JSON,
        "input": JSON,
        "id": JSON,
        "name": JSON,
        "tool_use_id": JSON,
    },
)
MESSAGE = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["user", "assistant", "system", "x"]) | JSON,
        "content": _text | st.lists(BLOCK, max_size=3) | JSON,
    }
)
BODY = st.fixed_dictionaries(
    {"messages": st.lists(MESSAGE, max_size=3) | JSON},
    optional={
        "model": st.just("claude-sonnet-4-5") | JSON,
        "system": JSON,
        "tools": st.lists(JSON, max_size=2) | JSON,
        "tool_choice": JSON,
        "thinking": JSON,
    },
)
CELL = st.fixed_dictionaries(
    {},
    optional={
        "id": _text | JSON,
        "cell_type": st.sampled_from(["code", "markdown", "raw"]) | JSON,
        "source": _text | JSON,
        "outputs": st.lists(
            st.fixed_dictionaries(
                {"output_type": st.sampled_from(["stream", "error", "display_data"]) | JSON},
                optional={"data": JSON, "text": JSON, "ename": JSON, "evalue": JSON},
            ),
            max_size=2,
        )
        | JSON,
    },
)


@settings(max_examples=200, deadline=None, database=None)
@given(body=BODY)
def test_any_json_body_is_a_request_or_an_input_error(body: dict[str, Any]):
    try:
        req = build_request(body)
    except InputError as exc:
        assert str(exc)
    else:
        req.canonical().encode("utf-8")  # what was accepted can be sent


@settings(max_examples=150, deadline=None, database=None)
@given(cells=st.lists(CELL | JSON, max_size=4), include_outputs=st.booleans())
def test_any_json_cells_are_cells_or_an_input_error(cells: list[Any], include_outputs: bool):
    try:
        notebook_blocks(cells_from_json(cells, strict=True), include_outputs)
    except InputError as exc:
        assert str(exc)


# -- the contract, against the running extension --------------------------------------------------------
@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    standin = StandIn().start()
    try:
        with LiveServer(
            Path(tmp_path_factory.mktemp("fuzz")),
            standin.url,
            standin.api_key,
            rpm=1_000_000,
            max_retries=0,
            timeout=5.0,
        ) as server:
            yield server
    finally:
        standin.stop()


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
]


@SCHEMA.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_openapi_contract_holds_against_the_running_server(case: Any, live: LiveServer):
    """Schema-valid and schema-invalid bodies alike: never a 5xx from us, every status documented, every
    body schema-valid, and schema-invalid requests refused. (Schema-valid bodies may still be refused with
    a 400 for rules JSON Schema cannot say, such as empty text or bad base64: the positive direction is
    checked for the structural cases in test_hardening.py.)"""
    case.call_and_validate(base_url=live.base, headers=live.headers, checks=CHECKS, timeout=30)


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    endpoint=st.sampled_from(["count", "cells", "messages"]),
    body=BODY | st.fixed_dictionaries({"cells": st.lists(CELL, max_size=3)}),
)
def test_arbitrary_bodies_never_a_server_error(endpoint: str, body: dict[str, Any], live: LiveServer):
    """What schemathesis does not send (it generates valid UTF-8 only): lone surrogates as JSON escapes,
    NaN-free but otherwise arbitrary trees, on every POST endpoint. Always a JSON answer, never a 5xx
    from us (a 502-504 would be the upstream's, which the stand-in never fails here)."""
    import http.client
    import json

    conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=30)
    try:
        raw = json.dumps({**body, "mode": "offline"} if isinstance(body, dict) else body, allow_nan=False)
    except ValueError:
        return  # NaN/Infinity: not JSON, nothing a client can send
    try:
        conn.request(
            "POST",
            f"/jupyter-token-count/{endpoint}",
            body=raw.encode(),
            headers={**live.headers, "Content-Type": "application/json"},
        )
        resp = conn.getresponse()
        data = json.loads(resp.read())
    finally:
        conn.close()
    assert resp.status in (200, 400, 413), (resp.status, data)
    if resp.status != 200:
        assert data["error"]["message"]
