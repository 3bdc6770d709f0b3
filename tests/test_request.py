"""What people hold → the exact count_tokens body, and bad input → a specific error naming the place."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import nbformat
import pytest
from anthropic.types import Message, TextBlock, ThinkingBlock, ToolUseBlock, Usage
from media import image_bytes, pdf_bytes
from PIL import Image

from jupyter_token_count.errors import InputError
from jupyter_token_count.request import build_request, canonical_json
from jupyter_token_count.request.notebook import CELL_SEPARATOR

M = "claude-sonnet-4-5"


def body(obj, **kw):
    return build_request(obj, model=kw.pop("model", M), **kw).body


def test_string_is_one_user_message():
    assert body("Hello, Claude") == {"model": M, "messages": [{"role": "user", "content": "Hello, Claude"}]}


def test_system_tools_choice_thinking_are_kept_in_order():
    tool = {"name": "get_weather", "description": "d", "input_schema": {"type": "object", "properties": {}}}
    b = body(
        "hi",
        system="You are a scientist",
        tools=[tool],
        tool_choice={"type": "auto"},
        thinking={"type": "enabled", "budget_tokens": 2048},
    )
    assert list(b) == ["model", "messages", "system", "tools", "tool_choice", "thinking"]
    assert b["system"] == "You are a scientist" and b["tools"] == [tool]


def test_request_dict_drops_sampling_fields_and_keeps_the_rest():
    req = {
        "model": "claude-opus-4-8",
        "max_tokens": 1024,
        "temperature": 0.2,
        "top_p": 0.9,
        "top_k": 5,
        "stream": True,
        "metadata": {"user_id": "u"},
        "stop_sequences": ["END"],
        "system": "Be brief",
        "messages": [{"role": "user", "content": "hi"}],
    }
    b = build_request(req).body
    assert b == {"model": "claude-opus-4-8", "messages": [{"role": "user", "content": "hi"}], "system": "Be brief"}


def test_explicit_model_wins_over_request_dict():
    assert (
        build_request(
            {"model": "claude-opus-4-8", "messages": [{"role": "user", "content": "x"}]}, model="claude-haiku-4-5"
        ).model
        == "claude-haiku-4-5"
    )


def test_unknown_request_field_is_named():
    with pytest.raises(InputError, match="'sytem'"):
        build_request({"model": M, "sytem": "x", "messages": [{"role": "user", "content": "x"}]})


def test_sdk_response_message_appended_as_assistant_turn():
    resp = Message(
        id="msg_1",
        type="message",
        role="assistant",
        model=M,
        stop_reason="tool_use",
        stop_sequence=None,
        content=[
            ThinkingBlock(type="thinking", thinking="let me see", signature="sig"),
            TextBlock(type="text", text="Checking.", citations=None),
            ToolUseBlock(type="tool_use", id="toolu_1", name="get_weather", input={"city": "Paris"}),
        ],
        usage=Usage(input_tokens=10, output_tokens=5),
    )
    msgs = [
        {"role": "user", "content": "Weather in Paris?"},
        resp,
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"}]},
    ]
    b = body(msgs)
    assert b["messages"][1] == {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "let me see", "signature": "sig"},
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
        ],
    }
    json.dumps(b)  # plain JSON all the way down


@pytest.mark.parametrize(
    "fmt,media", [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("GIF", "image/gif"), ("WEBP", "image/webp")]
)
def test_image_path_media_type_is_sniffed_not_trusted(tmp_path: Path, fmt: str, media: str):
    data = image_bytes(fmt)
    p = tmp_path / "picture.png"  # always named .png: the bytes decide
    p.write_bytes(data)
    block = body(p)["messages"][0]["content"][0]
    assert block == {
        "type": "image",
        "source": {"type": "base64", "media_type": media, "data": base64.b64encode(data).decode()},
    }


def test_pdf_path_text_file_and_parts_list(tmp_path: Path):
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(pdf_bytes(2, "Quarterly numbers"))
    md = tmp_path / "notes.md"
    md.write_text("# Notes\nSome text", encoding="utf-8")
    content = body(["Summarise these", pdf, md])["messages"][0]["content"]
    assert content[0] == {"type": "text", "text": "Summarise these"}
    assert content[1]["type"] == "document" and content[1]["source"]["media_type"] == "application/pdf"
    assert base64.b64decode(content[1]["source"]["data"]) == pdf.read_bytes()
    assert content[2] == {"type": "text", "text": "# Notes\nSome text"}


def test_string_path_only_when_file_exists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    assert body("report.pdf")["messages"][0]["content"] == "report.pdf"  # no such file: it is prompt text
    (tmp_path / "report.pdf").write_bytes(pdf_bytes())
    assert body("report.pdf")["messages"][0]["content"][0]["type"] == "document"


def test_pil_image_and_bytes_with_media_type():
    img = Image.new("RGB", (30, 20), "red")
    block = body(img)["messages"][0]["content"][0]
    assert block["source"]["media_type"] == "image/png"
    jpeg = image_bytes("JPEG")
    assert body((jpeg, "image/jpeg"))["messages"][0]["content"][0]["source"]["media_type"] == "image/jpeg"
    with pytest.raises(InputError, match="does not match the bytes, which are image/jpeg"):
        body((jpeg, "image/png"))


def test_json_file_holds_a_message_list_or_request(tmp_path: Path):
    p = tmp_path / "conv.json"
    p.write_text(json.dumps([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]))
    assert [m["role"] for m in body(p)["messages"]] == ["user", "assistant"]
    p.write_text(
        json.dumps(
            {"model": "claude-opus-4-8", "max_tokens": 5, "system": "s", "messages": [{"role": "user", "content": "q"}]}
        )
    )
    b = build_request(p).body
    assert b["model"] == "claude-opus-4-8" and b["system"] == "s"


def _nb() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell("print('hi')")
    code.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="hi\n"),
        nbformat.v4.new_output(
            "display_data", data={"image/png": base64.b64encode(image_bytes()).decode(), "text/plain": "<Figure>"}
        ),
    ]
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Title"),
        code,
        nbformat.v4.new_code_cell("   "),
        nbformat.v4.new_raw_cell("raw text"),
    ]
    return nb


def test_notebook_rendering_is_documented_and_stable(tmp_path: Path):
    nb = _nb()
    content = body(nb)["messages"][0]["content"]
    assert content == [
        {
            "type": "text",
            "text": CELL_SEPARATOR.join(["# %% [markdown]\n# Title", "# %%\nprint('hi')", "# %% [raw]\nraw text"]),
        }
    ]
    with_out = build_request(nb, model=M, include_outputs=True).body["messages"][0]["content"]
    assert [b["type"] for b in with_out] == ["text", "image", "text"]
    assert with_out[0]["text"].endswith("# %%\nprint('hi')\n\n# Out:\nhi")
    p = tmp_path / "nb.ipynb"
    nbformat.write(nb, p)
    assert body(p) == body(nb)


def test_counting_never_modifies_the_notebook(tmp_path: Path):
    p = tmp_path / "nb.ipynb"
    nbformat.write(_nb(), p)
    before = (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
    build_request(p, model=M, include_outputs=True)
    assert (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns) == before


def test_real_fixture_notebooks_all_build(fixture_notebooks: list[Path]):
    for p in fixture_notebooks:
        for outputs in (False, True):
            b = build_request(p, model=M, include_outputs=outputs).body
            assert b["messages"][0]["role"] == "user"


def test_canonical_json_makes_equal_requests_equal():
    a = build_request({"messages": [{"role": "user", "content": "x"}], "system": "s", "model": M})
    b = build_request("x", system="s", model=M)
    assert a.identity == b.identity and a.cache_key("https://api.anthropic.com") == b.cache_key(
        "https://api.anthropic.com"
    )
    assert canonical_json({"b": 1, "a": [1, {"d": 2, "c": 3}]}) == '{"a":[1,{"c":3,"d":2}],"b":1}'
    assert a.identity != build_request("x", system="s", model="claude-opus-4-8").identity


def test_the_cache_key_holds_origin_and_betas():
    a = build_request("x", model=M)
    origin = "https://api.anthropic.com"
    # the same request answered by another server (a proxy, a gateway, a stand-in) is another entry
    assert a.cache_key(origin) != a.cache_key("http://127.0.0.1:9999")
    # betas are part of what is counted; their order and repetition are not, nor the SDK's own counting beta
    b = build_request("x", model=M, betas=["interleaved-thinking-2025-05-14"])
    assert b.betas == ("interleaved-thinking-2025-05-14",) and a.cache_key(origin) != b.cache_key(origin)
    c = build_request(
        {"model": M, "messages": [{"role": "user", "content": "x"}], "betas": ["interleaved-thinking-2025-05-14"]},
        betas=["token-counting-2024-11-01", "interleaved-thinking-2025-05-14"],
    )
    assert c.betas == b.betas and c.cache_key(origin) == b.cache_key(origin)


# -- bad input: each its own specific error ------------------------------------------------------


def _img_block(data: bytes, media: str) -> dict:
    return {"type": "image", "source": {"type": "base64", "media_type": media, "data": base64.b64encode(data).decode()}}


@pytest.mark.parametrize(
    "obj,where,message",
    [
        ([{"role": "robot", "content": "x"}], "messages[0].role", "unknown role 'robot'"),
        ([{"role": "user", "content": ""}], "messages[0].content", "content is empty"),
        ([{"role": "user", "content": []}], "messages[0].content", "empty list"),
        ([{"role": "user", "content": [{"type": "text", "text": ""}]}], "messages[0].content[0]", "text is empty"),
        ([{"role": "user"}], "messages[0]", "no 'content'"),
        (
            [
                {
                    "role": "user",
                    "content": [
                        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "***"}}
                    ],
                }
            ],
            "messages[0].content[0].source",
            "not valid base64",
        ),
        (
            [{"role": "user", "content": [_img_block(image_bytes("JPEG"), "image/png")]}],
            "messages[0].content[0].source",
            "media_type says image/png but the bytes are image/jpeg",
        ),
        (
            [{"role": "user", "content": [_img_block(b"not an image at all", "image/png")]}],
            "messages[0].content[0].source",
            "but the bytes are not an image",
        ),
        (
            [{"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}]}],
            "messages[0].content[0].source",
            "base64",
        ),
        (
            [{"role": "user", "content": [{"type": "document", "source": {"type": "file", "file_id": ""}}]}],
            "messages[0].content[0].source",
            "needs 'file_id'",
        ),
        (
            [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "document",
                            "source": {
                                "type": "base64",
                                "media_type": "application/pdf",
                                "data": base64.b64encode(b"%PDF-1.7 garbage").decode(),
                            },
                        }
                    ],
                }
            ],
            "messages[0].content[0]",
            "unreadable PDF",
        ),
    ],
)
def test_bad_messages_get_specific_errors(obj, where, message):
    with pytest.raises(InputError) as err:
        build_request(obj, model=M)
    assert err.value.where == where
    assert message in err.value.message


def test_oversized_image_is_rejected_with_its_size():
    big = image_bytes("PNG", size=(8001, 10))
    with pytest.raises(InputError, match="8001×10 px"):
        build_request([{"role": "user", "content": [_img_block(big, "image/png")]}], model=M)


def test_many_images_must_each_fit_2000px():
    small = _img_block(image_bytes("PNG", (10, 10)), "image/png")
    big = _img_block(image_bytes("PNG", (2100, 10)), "image/png")
    build_request([{"role": "user", "content": [small] * 19 + [big]}], model="claude-opus-4-8")  # 20 images: allowed
    with pytest.raises(InputError, match="more than 20 images") as err:
        build_request([{"role": "user", "content": [small] * 20 + [big]}], model="claude-opus-4-8")
    assert err.value.where == "messages[0].content[20]"


def test_request_over_size_limit():
    with pytest.raises(InputError, match="the API accepts at most 1 MB"):
        build_request("x" * (1024 * 1024 + 10), model=M, max_bytes=1024 * 1024)


def test_server_tools_and_bad_tool_choice():
    with pytest.raises(InputError, match="server tool 'web_search_20250305'") as err:
        build_request("q", model=M, tools=[{"type": "web_search_20250305", "name": "web_search"}])
    assert err.value.where == "tools[0]"
    tool = {"name": "a", "input_schema": {"type": "object"}}
    with pytest.raises(InputError, match="not among the tools"):
        build_request("q", model=M, tools=[tool], tool_choice={"type": "tool", "name": "b"})
    with pytest.raises(InputError, match="needs an 'input_schema'"):
        build_request("q", model=M, tools=[{"name": "a"}])
    with pytest.raises(InputError, match="duplicate tool name"):
        build_request("q", model=M, tools=[tool, tool])
    with pytest.raises(InputError, match="budget_tokens"):
        build_request("q", model=M, thinking={"type": "enabled", "budget_tokens": 10})


def test_bad_files_name_the_file(tmp_path: Path):
    fake = tmp_path / "photo.png"
    fake.write_text("I am text")
    with pytest.raises(InputError, match="named like an image") as err:
        build_request(fake, model=M)
    assert "photo.png" in str(err.value)
    with pytest.raises(InputError, match="no such file"):
        build_request(tmp_path / "missing.pdf", model=M)
    bad_nb = tmp_path / "broken.ipynb"
    bad_nb.write_text("{not json")
    with pytest.raises(InputError, match="invalid JSON at line 1") as err:
        build_request(bad_nb, model=M)
    assert "broken.ipynb" in str(err.value)
    bad_json = tmp_path / "msgs.json"
    bad_json.write_text(json.dumps([{"role": "robot", "content": "x"}]))
    with pytest.raises(InputError, match="unknown role 'robot'") as err:
        build_request(bad_json, model=M)
    assert "msgs.json" in str(err.value) and "messages[0].role" in str(err.value)


def test_bad_notebook_output_names_the_cell():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": "@@not-base64@@"})]
    nb.cells = [nbformat.v4.new_markdown_cell("a"), cell]
    build_request(nb, model=M)  # outputs not included: fine
    with pytest.raises(InputError, match=r"cell 2 \(id .*\), output 1"):
        build_request(nb, model=M, include_outputs=True)


@pytest.mark.parametrize(
    "output,field",
    [
        ({"output_type": "stream", "name": "stdout", "text": 5}, "text"),
        (
            {"output_type": "execute_result", "data": {"text/plain": {"x": 1}}, "metadata": {}, "execution_count": 1},
            "text/plain",
        ),
    ],
)
def test_malformed_output_text_names_the_cell(output, field):
    nb = {"nbformat": 4, "cells": [{"id": "a1", "cell_type": "code", "source": "x", "outputs": [output]}]}
    with pytest.raises(InputError) as err:
        build_request(nb, model=M, include_outputs=True)
    assert err.value.where == "cell 1 (id 'a1'), output 1"
    assert err.value.message.startswith(f"{field}: expected a string or a list of strings")


def test_unsupported_objects_and_empty_input():
    with pytest.raises(InputError, match="cannot use a set"):
        build_request({1, 2}, model=M)
    with pytest.raises(InputError, match="got None"):
        build_request(None, model=M)
    with pytest.raises(InputError, match="mixes messages and plain content"):
        build_request([{"role": "user", "content": "a"}, "b"], model=M)


def test_validation_memo_is_bounded_by_bytes_not_entries():
    from jupyter_token_count.memo import bounded_by_size

    calls: list[bytes] = []

    @bounded_by_size(100)
    def measure(data: bytes) -> int:
        calls.append(data)
        return len(data)

    a, b = b"a" * 60, b"b" * 60
    assert measure(a) == 60 and measure(a) == 60 and calls == [a]  # a hit
    measure(b)  # 120 bytes would exceed the budget: the oldest entry goes
    measure(a)
    assert calls == [a, b, a]
    measure(b"c" * 500)  # bigger than the whole budget: computed, never kept
    measure(b"c" * 500)
    assert len(calls) == 5
