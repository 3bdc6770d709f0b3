"""Issue 22: the CLI's reports show what they embed as text. ``--format markdown`` goes into job summaries and
pull-request comments, where a file name that closes its code span could put a live link or image on the page;
the terminal table must not pass a file name's escape codes (clear the screen, retitle the window) or its
bidirectional controls to the terminal. The markdown is rendered by GitHub's own renderer (cmark-gfm)."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from cli_run import cli

cmarkgfm = pytest.importorskip("cmarkgfm", reason="cmarkgfm (GitHub's markdown renderer) is a test dependency")

NAMES = [
    "plain.txt",
    "a`b`c.txt",
    "``fence`` and ` more.txt",
    "x` [click](https:evil.example) `y.txt",
    "img ![i](https:evil.example?p.png).txt",
    "dir ` [a](b) `/in a directory.txt",
    "<img src=x onerror=alert(1)>.txt",
    "pipe | column.txt",
    "mail me@evil.example now.txt",
    "www.evil.example.txt",
    "clear\x1b[2Jscreen.txt",
    "bidi \u202eexe.txt",
    "back\\slash\\|x.txt",
    "` starts with a backtick.txt",
]


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    out = []
    for name in NAMES:
        path = tmp_path / name
        path.parent.mkdir(exist_ok=True)
        path.write_text("Count me, please.\n")
        out.append(path)
    return out


def _cells(rendered: str) -> list[list[str]]:
    rows = re.findall(r"<tr>(.*?)</tr>", rendered, re.S)
    return [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in rows[1:]]


def test_markdown_report_renders_every_name_as_text(files: list[Path], tmp_path: Path):
    res = cli(*map(str, files), "--offline", "--format", "markdown", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    rendered = cmarkgfm.github_flavored_markdown_to_html(res.stdout)
    assert "<a " not in rendered and "<img" not in rendered and "raw HTML" not in rendered, rendered
    cells = _cells(rendered)
    assert len(cells) == len(NAMES)
    shown = []
    for row in cells:
        match = re.fullmatch(r"<code>(.*)</code>", row[1], re.S)
        assert match, row[1]  # the whole file cell is one code span
        shown.append(html.unescape(match.group(1)))
    expected = [n.replace("\x1b", "\\x1b").replace("\u202e", "\\u202e") for n in NAMES]
    assert sorted(shown) == sorted(expected)


def test_markdown_report_renders_model_ids_and_errors_as_text(tmp_path: Path):
    evil = "[click](https://evil.example)"  # a model id is any string in a request file
    (tmp_path / "req.json").write_text(json.dumps({"model": evil, "messages": [{"role": "user", "content": "hi"}]}))
    (tmp_path / "bad.json").write_text(json.dumps({"model": "claude-sonnet-4-5", "messages": "<b>x</b>"}))
    res = cli("req.json", "bad.json", "--offline", "--allow-unknown-model", "--format", "markdown", cwd=tmp_path)
    rendered = cmarkgfm.github_flavored_markdown_to_html(res.stdout)
    assert "<a " not in rendered and "<b>" not in rendered and "raw HTML" not in rendered, rendered
    assert evil in html.unescape(rendered)  # shown as written


def test_table_shows_escape_codes_instead_of_sending_them(files: list[Path], tmp_path: Path):
    for env in ({}, {"FORCE_COLOR": "1", "COLUMNS": "200"}):  # piped, and as on a colour terminal
        res = cli(*map(str, files), "--offline", cwd=tmp_path, env=env)
        assert res.returncode == 0, res.stderr
        assert "\x1b[2J" not in res.stdout and "\u202e" not in res.stdout
        plain = re.sub(r"\x1b\[[0-9;]*m", "", res.stdout)  # the table's own colours, when on a terminal
        assert "\x1b" not in plain
        assert "clear\\x1b[2Jscreen.txt" in plain.replace("\n", "").replace(" ", "")
        assert "\\u202eexe.txt" in plain
