"""Odd Python values given to ``count_tokens``: each one is an ``InputError`` naming its place and what was
expected, never a ``TypeError`` from the JSON encoder or a message about a ``BytesIO`` object. Each test here
failed before its fix."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from jupyter_token_count import count_tokens
from jupyter_token_count.errors import InputError
from jupyter_token_count.request import build_request

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
