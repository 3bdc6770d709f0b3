"""The one dispatch by input type (request/inputs.py): what each kind of input is taken as, and the messages it
becomes, written out by hand from the Messages API's shapes, not from the code under test."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from media import image_bytes, pdf_bytes
from PIL import Image

from jupyter_token_count.errors import InputError
from jupyter_token_count.request import build_request, files
from jupyter_token_count.request.inputs import from_input, kind_of

MESSAGE = {"role": "user", "content": "Hi"}
REPLY = {"role": "assistant", "content": "Hello"}
READABLE = "expected UTF-8 text, a PNG, JPEG, GIF or WebP image, or a PDF"


@pytest.fixture
def text_file(tmp_path: Path) -> Path:
    path = tmp_path / "prompt.txt"
    path.write_text("Summarise this.", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("obj", "kind"),
    [
        ("Hi there", "text"),
        ("no-such-file.png", "text"),  # a path only when the file exists
        ({"model": "m", "messages": [MESSAGE]}, "request"),
        ({"cells": [], "nbformat": 4}, "notebook"),
        (MESSAGE, "message"),
        ({"role": "user", "type": "text"}, "message"),  # 'role' comes before 'type'
        ({"type": "text", "text": "Hi"}, "block"),
        ({"text": "Hi"}, "dict"),
        ([], "nothing"),
        ([MESSAGE, REPLY], "messages"),
        ((MESSAGE,), "messages"),
        ([MESSAGE, "and a part"], "mixed"),
        (["one part", {"type": "text", "text": "another"}], "parts"),
        (b"\x89PNG\r\n\x1a\n", "media"),
        (bytearray(b"%PDF-1.7"), "media"),
        ((b"hello", "text/plain"), "media"),
        (None, "none"),
        (3.5, "other"),
    ],
)
def test_what_an_input_is(obj: Any, kind: str) -> None:
    assert kind_of(obj) == kind


@pytest.mark.parametrize(
    ("obj", "kind"),
    [
        ({"role": "user", "content": "x"}, "block"),  # inside content every dict is a block (and needs a 'type')
        (["a", "b"], "parts"),
        (None, "other"),
        ("text", "text"),
    ],
)
def test_what_a_content_part_is(obj: Any, kind: str) -> None:
    assert kind_of(obj, part=True) == kind


def test_paths_and_images_are_recognised(text_file: Path) -> None:
    assert kind_of(text_file) == "path"
    assert kind_of(str(text_file)) == "path"
    assert kind_of("Summarise this.\n" + str(text_file)) == "text"  # two lines: prompt text, never a path
    with Image.new("RGB", (4, 4)) as img:
        assert kind_of(img) == "pil"


def test_each_input_becomes_its_messages(tmp_path: Path, text_file: Path) -> None:
    png = image_bytes(size=(8, 8))
    png_b64 = base64.b64encode(png).decode("ascii")
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png_b64}}

    assert from_input("Hi").messages == [{"role": "user", "content": "Hi"}]
    assert from_input([MESSAGE, REPLY]).messages == [MESSAGE, REPLY]
    assert from_input({"type": "text", "text": "Hi"}).messages == [
        {"role": "user", "content": [{"type": "text", "text": "Hi"}]}
    ]
    assert from_input(png).messages == [{"role": "user", "content": [image]}]
    assert from_input((b"caf\xc3\xa9", "text/plain")).messages == [
        {"role": "user", "content": [{"type": "text", "text": "café"}]}
    ]
    # a list of parts is one user message, a file among them as its block
    (tmp_path / "chart.png").write_bytes(png)
    parsed = from_input(["Describe:", tmp_path / "chart.png"])
    assert parsed.messages == [{"role": "user", "content": [{"type": "text", "text": "Describe:"}, image]}]
    assert parsed.origin is None and not parsed.empty

    # a text file is one user message holding its text as one block, and names itself for later errors
    parsed = from_input(text_file)
    assert parsed.messages == [{"role": "user", "content": [{"type": "text", "text": "Summarise this."}]}]
    assert parsed.origin == f"file '{text_file}'"


def test_a_request_dict_brings_its_fields() -> None:
    parsed = from_input({"model": "claude-x", "system": "Be brief.", "max_tokens": 100, "messages": [MESSAGE]})
    assert parsed.messages == [MESSAGE]
    assert parsed.extras == {"model": "claude-x", "system": "Be brief."}  # max_tokens does not change the input


def test_a_json_file_holds_any_input(tmp_path: Path, text_file: Path) -> None:
    body = tmp_path / "request.json"
    body.write_text(json.dumps({"system": "Be brief.", "messages": [MESSAGE]}), encoding="utf-8")
    parsed = from_input(body)
    assert (parsed.messages, parsed.extras, parsed.origin) == ([MESSAGE], {"system": "Be brief."}, f"file '{body}'")

    # but it is not a content block: it says so, naming the file
    with pytest.raises(InputError) as err:
        from_input([{"role": "user", "content": ["Look:", str(body)]}])
    assert str(err.value) == (
        f"messages[0].content[1], file '{body}': a JSON file holds messages, not a content block; pass it on its own"
    )


@pytest.mark.parametrize(
    ("name", "data", "problem"),
    [
        ("missing.png", None, "no such file"),
        ("chart.png", b"not an image", "named like an image (.png) but its bytes are not PNG, JPEG, GIF or WebP"),
        ("scan.pdf", b"not a PDF", "named .pdf but it is not a PDF (no %PDF- header)"),
        ("notes.txt", b"\xff\xfe\x00bad", "not UTF-8 text (byte 0 is invalid); " + READABLE),
        ("folder.png", "dir", "is a directory, not a file"),
    ],
)
def test_a_file_part_error_says_which_message_and_part(
    tmp_path: Path, name: str, data: bytes | str | None, problem: str
) -> None:
    """A file given as a content part: its error names the message and the part that hold it, then the file
    (as a cell's error names the cell), whichever way the part is given."""
    path = tmp_path / name
    if data == "dir":
        path.mkdir()
    elif isinstance(data, bytes):
        path.write_bytes(data)
    conversation = [MESSAGE, REPLY]
    cases = [
        ([*conversation, {"role": "user", "content": ["Look:", path]}], "messages[2].content[1]"),
        ([*conversation, {"role": "user", "content": path}], "messages[2].content"),
        (["Look:", "and this:", path], "messages[0].content[2]"),  # a list of parts is one user message
        ({"system": "Be brief.", "messages": [{"role": "user", "content": [path, "What is it?"]}]},
         "messages[0].content[0]"),
    ]  # fmt: skip
    if data is not None and data != "dir":  # a string names a file only when one exists
        cases.append(([{"role": "user", "content": ["Look:", str(path)]}], "messages[0].content[1]"))
    for obj, where in cases:
        with pytest.raises(InputError) as err:
            build_request(obj, model="claude-sonnet-4-5")
        assert str(err.value) == f"{where}, file '{path}': {problem}", obj


def test_files_that_hold_nothing_are_marked_empty(tmp_path: Path) -> None:
    blank = tmp_path / "blank.md"
    blank.write_text("  \n", encoding="utf-8")
    parsed = from_input(blank)
    assert parsed.empty and parsed.messages == [{"role": "user", "content": []}]
    notebook = {"cells": [{"cell_type": "markdown", "source": ""}], "nbformat": 4, "nbformat_minor": 5}
    assert from_input(notebook).empty


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (None, "nothing to count: got None"),
        ([], "nothing to count: the message list is empty"),
        ([MESSAGE, "x"], "messages[1]: mixes messages and plain content; every item must have a 'role'"),
        ({"text": "Hi"}, "a dict must be a request body (with 'messages'), a message (with 'role'), "
                         "a content block (with 'type') or a notebook (with 'cells')"),
        (3.5, "content: cannot use a float as message content"),
        (7, "content: cannot use an int as message content"),
        ([{"role": "user", "content": None}], "messages[0].content: cannot use None as message content"),
        ([{"role": "user", "content": [{"text": "no type"}]}],
         "messages[0].content[0]: a content block needs a 'type' (text, image, document, tool_use, tool_result, ...)"),
        ([{"role": "user", "content": ["a", ["b"]]}], "messages[0].content[1]: cannot use a list as message content"),
        (b"\x00\x01", "content: bytes of unknown type: pass (data, media_type), e.g. (data, 'image/png')"),
    ],
)  # fmt: skip
def test_what_cannot_be_counted_says_where(obj: Any, message: str) -> None:
    with pytest.raises(InputError) as err:
        from_input(obj)
    assert str(err.value) == message


def test_a_path_is_recognised_and_read_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """One decision per input: the string is checked for being a path once, the file read once, also when
    validation then refuses the request and names the file (which used to ask the file system again)."""
    calls: dict[str, int] = {"looks_like_path": 0, "read_path": 0}

    def counted(name: str) -> Any:
        real = getattr(files, name)

        def call(*args: Any) -> Any:
            calls[name] += 1
            return real(*args)

        return call

    for name in calls:
        monkeypatch.setattr(files, name, counted(name))
    doc = tmp_path / "scan.pdf"
    doc.write_bytes(pdf_bytes(pages=101))  # over the 100 pages a 200k-window model accepts
    with pytest.raises(InputError) as err:
        build_request(str(doc), model="claude-sonnet-4-5")
    assert str(err.value).startswith(f"file '{doc}': the PDFs have 101 pages in all")
    assert calls == {"looks_like_path": 1, "read_path": 1}
