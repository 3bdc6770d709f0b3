"""PDF parsing in a worker process, bounded in time and memory, with a kill switch per document.

A small PDF can hide an object stream that inflates to tens of megabytes, and pypdf's parsing and text
extraction are pure Python: read in-process, one such document holds a thread (and the GIL, so the
Jupyter server's event loop) for seconds and leaves the interpreter's heap grown. Every PDF is therefore
read by a fresh ``python -m jupyter_token_count._pdfworker`` process: it gets ``PDF_TIME_LIMIT`` seconds
(then it is killed) and ``PDF_MEMORY_LIMIT`` bytes of address space, pypdf's decompression limits are
lowered to ``PDF_MAX_INFLATE`` per stream, and it exits after the one document, so whatever it allocated
goes back to the system. A plain subprocess (not ``multiprocessing``) so that a user's unguarded script
is never re-imported and no fork of a threaded server or kernel ever happens.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InputError

#: seconds one PDF may take to parse (and, for an estimate, to extract its text), worker start included
PDF_TIME_LIMIT = 10.0
#: address space of the worker reading one PDF
PDF_MEMORY_LIMIT = 1024 * 2**20
#: most bytes one PDF stream may inflate to (pypdf's own default is 75 MB)
PDF_MAX_INFLATE = 64 * 2**20
#: PDFs read at the same time by one process (more wait their turn: a burst must not fork dozens of workers)
PDF_WORKERS = 2

_workers = threading.BoundedSemaphore(PDF_WORKERS)

#: why recently seen PDFs could not be read, by sha256: a broken attachment in a live panel is re-checked on
#: every keystroke and must not cost a worker each time. Only answers that depend on the bytes alone are
#: kept (encrypted, unreadable, over the inflate limit), never a time-out or a killed worker, which may
#: depend on the machine's load.
_refusals: OrderedDict[str, str] = OrderedDict()
_REFUSALS_KEPT = 256
_refusals_lock = threading.Lock()


def _refuse(digest: str, message: str) -> InputError:
    with _refusals_lock:
        _refusals[digest] = message
        while len(_refusals) > _REFUSALS_KEPT:
            _refusals.popitem(last=False)
    return InputError(message)


@dataclass(frozen=True)
class PdfPage:
    text: str | None  # None when text was not asked for
    width_pt: float
    height_pt: float


def _worker_env() -> dict[str, str]:
    """The worker imports this very package, wherever it was imported from here (a kernel may have added
    a directory to ``sys.path`` at run time)."""
    root = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": root + (os.pathsep + path if path else "")}


def read_pdf(raw: bytes, *, text: bool) -> tuple[PdfPage, ...]:
    """The pages of a readable, unencrypted PDF (with their text when ``text``); ``InputError`` saying why
    otherwise, including when it exceeds the time or memory limit."""
    digest = hashlib.sha256(raw).hexdigest()
    with _refusals_lock:
        known = _refusals.get(digest)
    if known is not None:
        raise InputError(known)
    cmd = [
        sys.executable,
        "-m",
        "jupyter_token_count._pdfworker",
        "text" if text else "pages",
        str(PDF_MEMORY_LIMIT),
        str(PDF_MAX_INFLATE),
    ]
    try:
        with _workers:
            done = subprocess.run(
                cmd, input=raw, capture_output=True, timeout=PDF_TIME_LIMIT, check=False, env=_worker_env()
            )
    except subprocess.TimeoutExpired:
        raise InputError(
            f"reading the PDF took longer than {PDF_TIME_LIMIT:g} s (the limit per document); "
            "it may be a decompression bomb or extremely complex"
        ) from None
    except OSError as exc:
        raise InputError(f"the PDF could not be read: no worker process could be started ({exc.strerror})") from None
    try:
        answer: dict[str, Any] = json.loads(done.stdout)
    except ValueError:
        answer = {}
    status = answer.get("status")
    if status == "ok":
        return tuple(PdfPage(t, w, h) for t, w, h in answer["pages"])
    if status == "encrypted":
        raise _refuse(digest, "the PDF is encrypted or password-protected; the API only reads plain PDFs")
    if status == "error":
        raise _refuse(digest, f"unreadable PDF ({answer.get('message')})")
    # killed (memory limit hit outside Python's reach) or crashed
    raise InputError(
        f"the PDF could not be read within the limits ({PDF_TIME_LIMIT:g} s, "
        f"{PDF_MEMORY_LIMIT // 2**20} MB of memory; worker exit status {done.returncode})"
    )
