"""Image blocks → tokens, by the documented per-tier rules (the vision docs' image-cost rules).

* ``patch28`` (every current model): one token per 28×28 patch of the image *after* the resize the API
  applies when a side, rounded up to a multiple of 28, exceeds the tier's edge limit or the patch count
  exceeds its token limit. The resize keeps the aspect ratio: a binary search for the largest long edge
  whose short edge (scaled in proportion and rounded) passes both limits. The reference text says the
  short edge is rounded half-to-even, but its own worked example 2000×1500 → 1269×952 needs 1270 to be
  rejected (1270 × 0.75 = 952.5 must round *up*); rounding half up reproduces every worked example.
* ``area750`` (retired 3.x models): width × height / 750 after scaling the image down (aspect kept) to
  the long-edge limit and to the token cap.

Only the header of the base64 data is decoded, with Pillow, to read the dimensions.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
from typing import Any

PATCH = 28


def _scaled(value: int, num: int, den: int) -> int:
    """round(value × num / den), halves rounded up, in integers (no float ties to worry about)."""
    return (2 * value * num + den) // (2 * den)


def _patches(w: int, h: int) -> int:
    return math.ceil(w / PATCH) * math.ceil(h / PATCH)


def _fits(w: int, h: int, max_edge: int, max_tokens: int) -> bool:
    return (
        math.ceil(w / PATCH) * PATCH <= max_edge
        and math.ceil(h / PATCH) * PATCH <= max_edge
        and _patches(w, h) <= max_tokens
    )


def patch28_size(width: int, height: int, max_edge: int, max_tokens: int) -> tuple[int, int]:
    """The size the API resizes an image to under the patch rule (unchanged if it already fits)."""
    if _fits(width, height, max_edge, max_tokens):
        return width, height
    long_side, short_side = max(width, height), min(width, height)

    def short_for(long_edge: int) -> int:
        return max(1, _scaled(long_edge, short_side, long_side))

    def ok(long_edge: int) -> bool:
        return _fits(long_edge, short_for(long_edge), max_edge, max_tokens)

    lo, hi = 1, long_side
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid - 1
    new_long, new_short = lo, short_for(lo)
    return (new_long, new_short) if width >= height else (new_short, new_long)


def area750_size(width: int, height: int, max_edge: int, max_tokens: int) -> tuple[int, int]:
    """The legacy rule's resize: long edge within ``max_edge`` and w·h/750 within ``max_tokens``."""
    scale = min(1.0, max_edge / max(width, height), math.sqrt(max_tokens * 750 / (width * height)))
    if scale >= 1.0:
        return width, height
    return max(1, int(width * scale)), max(1, int(height * scale))


def image_tokens(width: int, height: int, limits: dict[str, Any]) -> int:
    """Tokens of one image of ``width`` × ``height`` pixels under a tier's limits (``image_limits()``)."""
    if width <= 0 or height <= 0:
        return 0
    max_edge = int(limits.get("max_edge", 1568))
    max_tokens = int(limits.get("max_tokens", 1568))
    if limits.get("rule") == "area750":
        w, h = area750_size(width, height, max_edge, max_tokens)
        return max(1, min(max_tokens, round(w * h / 750)))
    w, h = patch28_size(width, height, max_edge, max_tokens)
    return _patches(w, h)


def _decode_head(data: str, n_chars: int) -> bytes:
    head = "".join(data[: n_chars + 64].split())  # base64 may carry line breaks
    head = head[: len(head) // 4 * 4]
    return base64.b64decode(head, validate=False)


def base64_image_size(data: str) -> tuple[int, int] | None:
    """(width, height) from base64 image data, decoding only as much as Pillow needs to read the header."""
    from PIL import Image

    for n in (65_536, 1_048_576, len(data)):
        try:
            raw = _decode_head(data, n)
            with Image.open(io.BytesIO(raw)) as im:
                return int(im.width), int(im.height)
        except (OSError, ValueError, binascii.Error, SyntaxError):
            if n >= len(data):
                return None
            continue
        except Exception:
            return None
    return None
