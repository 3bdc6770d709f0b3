"""PDF document blocks → tokens: the coarsest part of the estimate.

The docs say a PDF page costs its extracted text *plus* the page rendered as an image (the PDF-support docs),
but not the render size, which the caller does not control. We assume pages are rasterised at
``RENDER_DPI`` from their media box and then go through the model's image rule like any image (so
the tier's resize caps them). A letter page at 150 dpi is 1275×1650 px: about 1,560 tokens on the
standard tier, 2,700 on the high-resolution tier. Text comes from pypdf's extraction, which differs
from Anthropic's. Treat the result as ±30% or worse; prefer a real count for PDFs.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...errors import InputError
from ...memo import bounded_by_size
from ...pdfread import read_pdf
from .images import image_tokens

#: assumed rasterisation of a page (the docs do not give one); 72 points per inch in PDF user space
RENDER_DPI = 150
_POINTS_PER_INCH = 72


@dataclass
class PdfCost:
    text_tokens: int
    image_tokens: int
    pages: int


def already_read(data_b64: str) -> bool:
    """Whether this PDF was read before (its cost is then quick): an estimate past its deadline reads no other."""
    return _read_pages.known(data_b64)  # type: ignore[attr-defined]


def pdf_cost(data_b64: str, limits: dict[str, Any], count_text: Callable[[str], int]) -> PdfCost | None:
    """Text and page-image tokens of a base64 PDF, or None when it cannot be read."""
    pages = _read_pages(data_b64)
    if pages is None:
        return None
    return PdfCost(
        text_tokens=sum(count_text(text) for text, _, _ in pages),
        image_tokens=sum(image_tokens(w, h, limits) for _, w, h in pages),
        pages=len(pages),
    )


@bounded_by_size(64 * 2**20)  # keyed by the base64 text: bound what it keeps alive, not the count
def _read_pages(data_b64: str) -> tuple[tuple[str, int, int], ...] | None:
    """Each page's extracted text and its size in pixels at ``RENDER_DPI``; None when the PDF cannot be read.
    Cached: parsing and text extraction are the slow part, and a panel with a PDF attached re-estimates it
    on every edit."""
    try:
        raw = base64.b64decode("".join(data_b64.split()), validate=False)
    except (binascii.Error, ValueError):
        return None
    scale = RENDER_DPI / _POINTS_PER_INCH
    try:  # in a worker process bounded in time and memory: an estimate must not hang on a hostile PDF
        pages = read_pdf(raw, text=True)
    except InputError:
        return None
    return tuple((p.text or "", round(p.width_pt * scale), round(p.height_pt * scale)) for p in pages)
