"""Text from the data (a file name, a model id, a cell's first line, an error) made safe for where it is shown:
a terminal never acts on it, a markdown table renders it as written."""

from __future__ import annotations

import re

#: what a terminal acts on (C0 and C1 controls, DEL) or lets reorder what it shows (bidirectional controls)
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
#: ASCII punctuation but "@": each may open markup in markdown, and a backslash makes it a literal
_MD_PUNCT = re.compile(r"([!-/:-?\[-`{-~])")


def visible(text: str) -> str:
    """Control characters shown as escapes (``\\x1b``), never acted on."""
    return _UNSAFE.sub(lambda m: repr(m.group())[1:-1], text)


def md(text: str) -> str:
    """Text in a markdown table cell, rendered as written: every punctuation character escaped (no link, image,
    HTML, emphasis or code span can start, and a pipe cannot end the cell), and "@" in a code span of its own (an
    e-mail address is made a link whatever its escapes)."""
    return _MD_PUNCT.sub(r"\\\1", visible(text)).replace("@", "`@`")


def md_code(text: str) -> str:
    """Text as a markdown code span that nothing in it can close: the fence is longer than any run of backticks
    inside; a pipe is escaped for the table (GitHub shows it as a pipe inside code)."""
    text = visible(text).replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text[:1] in ("`", " ") or text[-1:] in ("`", " ") else ""
    return f"{fence}{pad}{text}{pad}{fence}"
