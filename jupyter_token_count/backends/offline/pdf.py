"""PDF document blocks → tokens: the coarsest part of the estimate.

The docs say a PDF page costs its extracted text *plus* the page rendered as an image (reference §6),
but not the render size, which the caller does not control. We assume pages are rasterised at
``RENDER_DPI`` from their media box and then go through the model's image rule like any image (so
the tier's resize caps them). A letter page at 150 dpi is 1275×1650 px: about 1,560 tokens on the
standard tier, 2,700 on the high-resolution tier. Text comes from pypdf's extraction, which differs
from Anthropic's. Treat the result as ±30% or worse; prefer a real count for PDFs.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .images import image_tokens

#: assumed rasterisation of a page (the docs do not give one); 72 points per inch in PDF user space
RENDER_DPI = 150
_POINTS_PER_INCH = 72


@dataclass
class PdfCost:
    text_tokens: int
    image_tokens: int
    pages: int


def pdf_cost(data_b64: str, limits: dict[str, Any], count_text: Callable[[str], int]) -> PdfCost | None:
    """Text and page-image tokens of a base64 PDF, or None when it cannot be read."""
    try:
        raw = base64.b64decode("".join(data_b64.split()), validate=False)
    except (binascii.Error, ValueError):
        return None
    try:
        from pypdf import PdfReader

        # pypdf logs every malformed object it recovers from; an estimate does not need to hear it
        logging.getLogger("pypdf").setLevel(logging.ERROR)
        reader = PdfReader(io.BytesIO(raw))
        if reader.is_encrypted:
            return None
        text_total = 0
        image_total = 0
        pages = 0
        for page in reader.pages:
            pages += 1
            try:
                text = page.extract_text() or ""
            except Exception:
                text = ""
            text_total += count_text(text)
            try:
                box = page.mediabox
                width_pt, height_pt = float(box.width), float(box.height)
                if page.get("/Rotate", 0) in (90, 270):
                    width_pt, height_pt = height_pt, width_pt
            except Exception:
                width_pt, height_pt = 612.0, 792.0  # US letter
            scale = RENDER_DPI / _POINTS_PER_INCH
            image_total += image_tokens(round(width_pt * scale), round(height_pt * scale), limits)
        return PdfCost(text_total, image_total, pages)
    except Exception:
        return None
