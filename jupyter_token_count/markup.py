"""Text from the data (a file name, a model id, a custom_id, a row's label) as it may reach a terminal or a markdown
report: shown as written, never acted on. Issue 22's rules, shared by every report (``cli``, ``job.cli``)."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["console", "md", "md_code", "reader_may_leave", "visible"]

#: what a terminal acts on (C0 and C1 controls, DEL) or lets reorder what it shows (bidirectional controls)
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
#: ASCII punctuation but "@": each may open markup in markdown, and a backslash makes it a literal
MD_PUNCT = re.compile(r"([!-/:-?\[-`{-~])")


def visible(text: str) -> str:
    """Text from the data (a file name, a model id, a cell's first line) as it may reach a terminal or a report:
    control characters shown as escapes (``\\x1b``), never acted on."""
    return UNSAFE.sub(lambda m: repr(m.group())[1:-1], text)


def md(text: str) -> str:
    """Text from the data in a markdown table cell, rendered as written: every punctuation character escaped (no
    link, image, HTML, emphasis or code span can start, and a pipe cannot end the cell), and "@" in a code span of
    its own (an e-mail address is made a link whatever its escapes)."""
    return MD_PUNCT.sub(r"\\\1", visible(text)).replace("@", "`@`")


def md_code(text: str) -> str:
    """Text from the data as a markdown code span that nothing in it can close: the fence is longer than any run
    of backticks inside; a pipe is escaped for the table (GitHub shows it as a pipe inside code)."""
    text = visible(text).replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text[:1] in ("`", " ") or text[-1:] in ("`", " ") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def console(stderr: bool = False) -> Any:
    """A rich console for a report or a progress bar: a terminal's own width, or 160 columns when piped (a table
    squeezed into 80 columns wraps every name)."""
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:  # rich's own exits 1, which our CLI means as "over budget"
            self.quiet = True
            raise BrokenPipeError

    out = _Console(stderr=stderr, highlight=False)
    if not out.is_terminal:
        out = _Console(stderr=stderr, highlight=False, width=160)
    return out


@contextmanager
def reader_may_leave() -> Iterator[None]:
    """Around writing a report to stdout: a reader that stopped reading (``| head -1``) makes the rest of the report
    go nowhere, quietly, instead of a BrokenPipeError traceback; the caller's exit status stands."""
    try:
        yield
        sys.stdout.flush()  # a pipe's buffer is written here, not by the interpreter's last flush at exit
    except BrokenPipeError:
        # what is still buffered, and the interpreter's last flush, go to /dev/null rather than fail again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
