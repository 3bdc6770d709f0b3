"""Worker process for ``pdfread``: reads ONE PDF from stdin and prints its pages as JSON.

``python -m jupyter_token_count._pdfworker {pages|text} MEMORY_LIMIT MAX_INFLATE``. It imports nothing
from the package beyond its lazy ``__init__``, limits its own address space first, and never raises:
every outcome is one JSON object on stdout.
"""

from __future__ import annotations

import io
import json
import logging
import sys
from typing import Any


def _limits(memory: int) -> None:
    try:
        import resource
    except ImportError:  # not on this platform: the parent's time limit still holds
        return
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = memory if hard == resource.RLIM_INFINITY else min(memory, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


def read(raw: bytes, want_text: bool, max_inflate: int) -> dict[str, Any]:
    import pypdf

    config: dict[str, int] = {}
    fields = getattr(pypdf.Configuration, "__dataclass_fields__", {})
    for name in fields:
        if name.endswith(("_output_length", "declared_stream_length", "buffer_size")):
            config[name] = max_inflate
    if config and hasattr(pypdf, "overwrite_configuration"):
        pypdf.overwrite_configuration(**config)
    reader = pypdf.PdfReader(io.BytesIO(raw), strict=False)
    if reader.is_encrypted:
        return {"status": "encrypted"}
    pages = []
    for page in reader.pages:
        text = None
        if want_text:
            try:
                text = page.extract_text() or ""
            except MemoryError:
                raise
            except Exception:  # one bad page's text: the rest still counts
                text = ""
        try:
            box = page.mediabox
            w, h = float(box.width), float(box.height)
            if page.get("/Rotate", 0) in (90, 270):
                w, h = h, w
        except MemoryError:
            raise
        except Exception:
            w, h = 612.0, 792.0  # US letter
        pages.append((text, w, h))
    return {"status": "ok", "pages": pages}


def main() -> None:
    mode, memory, max_inflate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    _limits(memory)
    logging.disable(logging.CRITICAL)  # pypdf's repair warnings: the parent says what matters, once
    try:
        answer = read(sys.stdin.buffer.read(), mode == "text", max_inflate)
    except MemoryError:
        answer = {"status": "error", "message": f"reading it needs more than {memory // 2**20} MB of memory"}
    except RecursionError:
        answer = {"status": "error", "message": "its objects are nested too deeply"}
    except Exception as exc:
        if type(exc).__name__ == "LimitReachedError":
            message = f"a compressed stream in it inflates to more than {max_inflate // 2**20} MB, the limit"
        else:
            message = f"{type(exc).__name__}: {exc}"
        answer = {"status": "error", "message": message}
    sys.stdout.write(json.dumps(answer))


if __name__ == "__main__":
    main()
