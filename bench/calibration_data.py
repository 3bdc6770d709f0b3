"""The real counts (``../shared/calibration``, kept outside the repository): reading them, rebuilding each
request body (a synthetic image of the recorded size stands in for image bytes), and naming what a record is
(its source, its conversation, its kind of request) for fitting and slicing."""

from __future__ import annotations

import base64
import copy
import io
import json
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = ROOT.parent / "shared" / "calibration"
LABELLED = ("real_counts.jsonl", "real_counts_images.jsonl")
UNLABELLED = ("unlabelled_requests.jsonl", "unlabelled_requests_images.jsonl")


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def load(directory: Path, names: Iterable[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name in names:
        path = directory / name
        if path.exists():
            out.extend(read_jsonl(path))
    return out


@cache
def synthetic_image(width: int, height: int, media_type: str) -> str:
    """Base64 of a plain image of the given size: only the dimensions matter to the count."""
    from PIL import Image

    fmt = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/webp": "WEBP"}.get(media_type, "PNG")
    buf = io.BytesIO()
    Image.new("RGB", (max(1, width), max(1, height)), (128, 128, 128)).save(buf, format=fmt)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def with_images(body: Any) -> Any:
    """A copy of ``body`` where every block with ``_image`` carries a synthetic image of that size."""
    if isinstance(body, list):
        return [with_images(x) for x in body]
    if not isinstance(body, dict):
        return body
    out = {k: with_images(v) for k, v in body.items() if k != "_image"}
    meta = body.get("_image")
    if isinstance(meta, dict) and isinstance(out.get("source"), dict):
        media = out["source"].get("media_type") or meta.get("media_type_declared") or "image/png"
        out["source"] = {
            **out["source"],
            "data": synthetic_image(int(meta["width"]), int(meta["height"]), media),
        }
    return out


def request_body(rec: dict[str, Any]) -> dict[str, Any]:
    body = with_images(copy.deepcopy(rec["request"]))
    body["model"] = rec["model"]
    return body


def group(rec: dict[str, Any]) -> str:
    """The README's three groups: text only, with tools, with images."""
    tags = set(rec.get("tags", ()))
    if "image" in tags:
        return "with images"
    req = rec["request"]
    if req.get("tools") or "history_tool_use" in tags or "history_tool_result" in tags:
        return "with tools"
    return "text-only"


def _has_block(value: Any, kinds: tuple[str, ...]) -> bool:
    if isinstance(value, dict):
        return value.get("type") in kinds or any(_has_block(v, kinds) for v in value.values())
    if isinstance(value, list):
        return any(_has_block(v, kinds) for v in value)
    return False


def kind(rec: dict[str, Any]) -> str:
    """What a request mostly is, for the range's slices: the first that applies of images, PDFs, tools,
    documents (documents, search results, citations), thinking, structured output, else text."""
    req = rec["request"]
    tags = set(rec.get("tags", ()))
    messages = req.get("messages")
    if "image" in tags or _has_block(messages, ("image",)):
        return "images"
    if "application/pdf" in json.dumps(messages):
        return "PDFs"
    if group(rec) == "with tools":
        return "tools"
    if _has_block(messages, ("document", "search_result")):
        return "documents"
    if req.get("thinking") or _has_block(messages, ("thinking", "redacted_thinking")):
        return "thinking"
    if req.get("output_format") or (isinstance(req.get("output_config"), dict) and req["output_config"].get("format")):
        return "structured output"
    return "text"


def source(rec: dict[str, Any]) -> str:
    """The project a record was mined from (its id's prefix), for slicing: figures calibrated mostly on
    one source should hold on the others."""
    rid = str(rec.get("id", "")).removeprefix("img-")
    return rid.rsplit("-", 1)[0] if "-" in rid else rid


def conversation(rec: dict[str, Any]) -> str:
    """Records of one recorded conversation (a test that loops, re-sending a growing history) share
    their source, model, tools and first message."""
    req = rec["request"]
    msgs = req.get("messages") or [{}]
    tools = [t.get("name") for t in req.get("tools") or [] if isinstance(t, dict)]
    return json.dumps([source(rec), rec["model"], tools, msgs[0]], sort_keys=True, default=str)
