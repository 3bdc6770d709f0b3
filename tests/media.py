"""Real media for tests, made on the fly: images through Pillow, PDFs through pypdf."""

from __future__ import annotations

import io

from PIL import Image


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (64, 48), colour: str = "teal") -> bytes:
    buf = io.BytesIO()
    img = Image.new("RGB", size, colour)
    img.save(buf, format=fmt)
    return buf.getvalue()


def pdf_bytes(pages: int = 1, text: str | None = None) -> bytes:
    """A valid PDF. With ``text``, each page carries it as real text (a Helvetica content stream)."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    for _ in range(pages):
        page = writer.add_blank_page(width=612, height=792)
        if text:
            font = DictionaryObject(
                {
                    NameObject("/Type"): NameObject("/Font"),
                    NameObject("/Subtype"): NameObject("/Type1"),
                    NameObject("/BaseFont"): NameObject("/Helvetica"),
                }
            )
            page[NameObject("/Resources")] = DictionaryObject(
                {NameObject("/Font"): DictionaryObject({NameObject("/F1"): writer._add_object(font)})}
            )
            safe = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            stream = DecodedStreamObject()
            stream.set_data(f"BT /F1 12 Tf 72 720 Td ({safe}) Tj ET".encode("latin-1"))
            page[NameObject("/Contents")] = writer._add_object(stream)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


_PIL_FORMAT = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WEBP"}


def materialize_images(obj):
    """Calibration records store images as ``{"_image": {width, height, media_type}}``: put a real image of
    that size in its place (the count depends only on the pixel size)."""
    import base64

    if isinstance(obj, dict):
        if "_image" in obj:
            spec = obj["_image"]
            media = spec.get("media_type", "image/png")
            data = image_bytes(_PIL_FORMAT.get(media, "PNG"), (spec["width"], spec["height"]))
            rest = {k: v for k, v in obj.items() if k not in ("_image", "source")}
            return {**rest, "source": {"type": "base64", "media_type": media, "data": base64.b64encode(data).decode()}}
        return {k: materialize_images(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [materialize_images(v) for v in obj]
    return obj
