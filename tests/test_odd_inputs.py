"""Odd Python values given to ``count_tokens``: each one is an ``InputError`` naming its place and what was
expected, never a ``TypeError`` from the JSON encoder or a message about a ``BytesIO`` object. Each test here
failed before its fix."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyter_token_count import count_tokens
from jupyter_token_count.errors import InputError
from jupyter_token_count.request import build_request
from jupyter_token_count.request.document import document_from_bytes

M = "claude-sonnet-4-5"
HI = [{"role": "user", "content": "Hi"}]
JSON_VALUE = "expected a JSON value (a string, number, boolean, null, object or array), got"


def _asked(content: Any) -> list[dict[str, Any]]:
    return [{"role": "assistant", "content": content}, {"role": "user", "content": "go on"}]


@pytest.mark.parametrize(
    ("messages", "fields", "where", "message"),
    [
        ([{"role": "user", "content": [{"type": "text", "text": b"x"}]}], {}, "messages[0].content[0].text",
         f"{JSON_VALUE} bytes"),
        (_asked([{"type": "tool_use", "id": "t", "name": "f", "input": {"k": b"x"}}]), {},
         "messages[0].content[0].input.k", f"{JSON_VALUE} bytes"),
        ([{"role": b"user", "content": "x"}], {}, "messages[0].role", f"{JSON_VALUE} bytes"),
        (HI, {"system": b"Be brief."}, "system", f"{JSON_VALUE} bytes"),
        (HI, {"system": [{"type": "text", "text": b"Be brief."}]}, "system[0].text", f"{JSON_VALUE} bytes"),
        (HI, {"tools": [{"name": "f", "input_schema": {"enum": {1, 2}}}]}, "tools[0].input_schema.enum",
         f"{JSON_VALUE} set"),
        (HI, {"tools": [{"name": "f", "input_schema": {"default": Path("a")}}]}, "tools[0].input_schema.default",
         f"{JSON_VALUE} PosixPath"),
        (HI, {"tools": [{"name": "f", "input_schema": {}}], "tool_choice": {"type": "tool", "name": b"f"}},
         "tool_choice.name", f"{JSON_VALUE} bytes"),
        (HI, {"thinking": {"type": "enabled", "budget_tokens": b"2048"}}, "thinking.budget_tokens",
         f"{JSON_VALUE} bytes"),
        ([{"role": "user", "content": [{"type": "text", "text": "x", 5: 1}]}], {}, "messages[0].content[0]",
         "object keys must be strings, not int"),
        (_asked([{"type": "tool_use", "id": "t", "name": "f", "input": {"k": 10**5000}}]), {},
         "messages[0].content[0].input.k", "an integer of about 5,000 digits is too large for JSON"),
    ],
)  # fmt: skip
def test_what_json_cannot_hold_is_an_input_error_naming_the_place(
    messages: Any, fields: dict[str, Any], where: str, message: str
) -> None:
    with pytest.raises(InputError) as err:
        build_request(messages, model=M, **fields)
    assert (err.value.where, err.value.message) == (where, message)


@pytest.mark.parametrize("mode", ["fast", 1, ["offline"]])
def test_an_unknown_mode_is_an_input_error(mode: Any) -> None:
    with pytest.raises(InputError) as err:
        count_tokens("Hi", model=M, mode=mode)
    assert err.value.where == "mode" and err.value.message.startswith("expected one of auto, api, offline, got")


def test_a_corrupt_image_says_so_without_naming_a_python_object() -> None:
    truncated = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 40).decode()
    block = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": truncated}}
    with pytest.raises(InputError) as err:
        build_request([{"role": "user", "content": ["Look:", block]}], model=M)
    assert str(err.value) == (
        "messages[0].content[1]: the image data is corrupt or truncated (no image format could read it)"
    )


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\xff\xfe", "not UTF-8 text (byte 11 is invalid)"),
        (b"\x00\x01\x02 valid UTF-8, binary all the same", "a binary file (it holds NUL bytes), not text"),
    ],
)
def test_a_binary_file_says_what_a_file_must_be(tmp_path: Path, data: bytes, problem: str) -> None:
    path = tmp_path / "program"
    path.write_bytes(data)
    with pytest.raises(InputError) as err:
        build_request(path, model=M)
    assert str(err.value) == (
        f"file '{path}': {problem}; expected UTF-8 text, a PNG, JPEG, GIF or WebP image, or a PDF"
    )


def test_a_request_files_own_model_id_is_held_to_the_length_of_one(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        build_request({"model": "claude-" + "x" * 400, "messages": HI})
    assert err.value.where == "model" and "a model id has at most 256 characters" in err.value.message


# -- any Python value, anywhere: a request or an InputError, nothing else ------------------------------------------
_odd = (
    st.binary(max_size=8)
    | st.sets(st.integers(), max_size=2)
    | st.just(Path("no-such-dir/x.png"))
    | st.just(object())
    | st.integers(min_value=-(2**70), max_value=2**70)
)
_scalar = st.none() | st.booleans() | st.floats() | st.text(max_size=8) | _odd
_key = st.text(max_size=6) | st.integers() | st.none()
VALUE = st.recursive(
    _scalar,
    lambda kids: st.lists(kids, max_size=3) | st.tuples(kids, kids) | st.dictionaries(_key, kids, max_size=3),
    max_leaves=12,
)
_types = st.sampled_from(["text", "image", "document", "tool_use", "tool_result", "thinking"])
_block = st.fixed_dictionaries({"type": _types | VALUE}, optional={k: VALUE for k in ("text", "source", "input")})
_message = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant"]) | VALUE, "content": st.lists(_block | VALUE, max_size=3) | VALUE}
)
_fields = st.fixed_dictionaries(
    {}, optional={k: VALUE for k in ("system", "tools", "tool_choice", "thinking", "betas", "model")}
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_message, max_size=3) | VALUE, _fields)
def test_any_python_value_is_a_request_or_an_input_error(messages: Any, fields: dict[str, Any]) -> None:
    try:
        build_request(messages, **fields)
    except InputError as exc:
        assert str(exc) and "Traceback" not in str(exc)


_SIGNATURES = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"RIFF\x00\x00\x00\x00WEBP", b"%PDF-1.7\n", b""]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(_SIGNATURES),
    st.binary(max_size=48),
    st.sampled_from(["a.png", "b.jpg", "c.pdf", "d.txt", "e.json", "f"]),
)
def test_any_bytes_as_a_document_are_a_document_or_an_input_error(head: bytes, tail: bytes, name: str) -> None:
    """What JupyterLab's viewers hand the server (POST document, base64): a signature with anything behind it."""
    try:
        document_from_bytes(name, head + tail, model=M)
    except InputError as exc:
        assert str(exc).startswith(f"document '{name}'")
