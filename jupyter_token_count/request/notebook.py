"""Notebooks → content blocks.

A notebook becomes ONE user message. Each non-empty cell is rendered as text with a header line in the
"percent" style many tools read (``# %%`` for code, ``# %% [markdown]``, ``# %% [raw]``), and cells are
joined by a blank line. With outputs included, a cell's text outputs follow it under ``# Out:`` (errors
under ``# Error:``), PNG/JPEG outputs become image blocks in place, and so do the images attached to a
markdown or raw cell (its ``attachments``, pasted or dragged into the cell): both are media the notebook
carries besides the text typed into it, so one switch brings both in. This rendering is stable: the same
notebook always gives the same request, so counts are cached across sessions.

A notebook with no cells, or only empty ones, renders to no blocks at all; ``build_request`` turns that
into the request frame alone (see ``EMPTY_PROBE`` there).
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError, shown
from .files import IMAGE_TYPES
from .guard import check_tree
from .validate import decode_base64

HEADERS = {"code": "# %%", "markdown": "# %% [markdown]", "raw": "# %% [raw]"}
CELL_SEPARATOR = "\n\n"
OUTPUT_HEADER = "# Out:"
ERROR_HEADER = "# Error:"
IMAGE_OUTPUT_TYPES = ("image/png", "image/jpeg")
#: where a cell's content sits in the request it becomes (body → messages → message → content → block):
#: the nesting limit then means the same for a cell as for a request
_CELL_DEPTH = 3
#: the fields of a cell that are read (and so checked)
_USED_FIELDS = ("id", "cell_type", "source", "outputs")


@dataclass(frozen=True)
class Cell:
    id: str
    cell_type: str
    source: str
    outputs: tuple[dict[str, Any], ...] = field(default=(), compare=False)
    index: int = 0
    #: nbformat ``attachments`` of a markdown/raw cell: (file name, {media type: base64})
    attachments: tuple[tuple[str, dict[str, Any]], ...] = field(default=(), compare=False)

    @property
    def where(self) -> str:
        return f"cell {self.index + 1} (id {shown(self.id)})"

    @property
    def empty(self) -> bool:
        return not self.source.strip()


def _text(value: Any, where: str, what: str) -> str:
    """nbformat stores multi-line strings either whole or as a list of lines; ``what`` names the field."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "".join(value)
    raise InputError(f"{what}: expected a string or a list of strings, got {_json_name(value)}", where)


def cells_from_json(raw_cells: Sequence[Any], where: str = "", *, strict: bool = False, start: int = 0) -> list[Cell]:
    """Cells as nbformat (or the JupyterLab front end) gives them → ``Cell`` objects, validated.

    ``strict`` (the REST API, whose contract requires them): every cell has ``id``, ``cell_type`` and
    ``source``. Otherwise (notebook files, older nbformat) a missing id becomes ``index-N``, a missing
    cell_type ``code`` and a missing source empty; a present field always has to have its right type.
    ``start``: the notebook index of the first cell given (cells sent as changes to a notebook)."""
    out: list[Cell] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_cells, start):
        loc = f"{where}cell {i + 1}"
        if not isinstance(raw, dict):
            raise InputError(f"expected an object, got {type(raw).__name__}", loc)
        for key in _USED_FIELDS:  # metadata is never read: however it nests, it is not our concern
            if key in raw:
                check_tree(raw[key], f"{loc} {key}", base_depth=_CELL_DEPTH + 1)
        if strict:
            missing = [k for k in ("id", "cell_type", "source") if k not in raw]
            if missing:
                raise InputError(f"missing {', '.join(missing)} (each cell needs id, cell_type and source)", loc)
        cell_type = raw.get("cell_type", "code")
        if not isinstance(cell_type, str):
            raise InputError(f"cell_type must be a string (code, markdown or raw), got {_json_name(cell_type)}", loc)
        if cell_type not in HEADERS:
            raise InputError(f"unknown cell_type {shown(cell_type)} (expected code, markdown or raw)", loc)
        source = _text(raw.get("source", ""), loc, "source")
        cid = raw.get("id")
        if "id" in raw and not isinstance(cid, str):
            raise InputError(f"id must be a string, got {_json_name(cid)}", loc)
        cid = cid or f"index-{i}"
        if cid in seen:  # ids must address one cell each, or per-cell results would be ambiguous
            cid = f"{cid}#{i}"
        seen.add(cid)
        outputs = raw.get("outputs", ())
        if not isinstance(outputs, (list, tuple)):
            raise InputError(f"outputs must be a list, got {_json_name(outputs)}", loc)
        for j, output in enumerate(outputs):
            if not isinstance(output, dict):
                raise InputError(f"output must be an object, got {_json_name(output)}", f"{loc}, output {j + 1}")
        attachments = raw.get("attachments", {})  # present means typed: null is not "none"
        if not isinstance(attachments, dict):
            raise InputError(
                f"attachments must be an object mapping file names to {{media type: data}}, "
                f"got {_json_name(attachments)}",
                loc,
            )
        for name, bundle in attachments.items():
            # checked whatever the outputs switch: a malformed attachment is a malformed cell
            if not isinstance(bundle, dict):
                raise InputError(
                    f"attachment {shown(name)} must be an object {{media type: data}}, got {_json_name(bundle)}", loc
                )
        out.append(Cell(cid, cell_type, source, tuple(outputs), i, tuple(attachments.items())))
    return out


def _json_name(value: Any) -> str:
    """The JSON type of a value, as a user who sent JSON knows it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def load_notebook(obj: Any, where: str = "notebook") -> list[Cell]:
    """A notebook as JSON text, a dict or an nbformat ``NotebookNode`` → its cells."""
    if isinstance(obj, (str, bytes)):
        try:
            obj = json.loads(obj)
        except json.JSONDecodeError as exc:
            raise InputError(f"not a notebook: invalid JSON at line {exc.lineno}, column {exc.colno}", where) from None
    if not isinstance(obj, dict) or not isinstance(obj.get("cells"), list):
        raise InputError("not a notebook: expected an object with a 'cells' list (nbformat 4)", where)
    major = obj.get("nbformat", 4)
    if major != 4:
        raise InputError(
            f"nbformat {major} is not supported; open and re-save it with Jupyter to get nbformat 4", where
        )
    return cells_from_json(obj["cells"])


def _output_parts(cell: Cell) -> list[dict[str, Any] | str]:
    """A cell's outputs → strings (text) and image blocks, in order."""
    parts: list[dict[str, Any] | str] = []
    for j, out in enumerate(cell.outputs):
        loc = f"{cell.where}, output {j + 1}"
        if not isinstance(out, dict):
            raise InputError("output must be an object", loc)
        kind = out.get("output_type")
        if kind == "stream":
            text = _text(out.get("text", ""), loc, "text")
            if text.strip():
                parts.append(f"{OUTPUT_HEADER}\n{text.rstrip()}")
        elif kind == "error":
            ename, evalue = out.get("ename", "Error"), out.get("evalue", "")
            if not isinstance(ename, str) or not isinstance(evalue, str):
                raise InputError("error outputs need 'ename' and 'evalue' as strings", loc)
            parts.append(f"{ERROR_HEADER}\n{ename}: {evalue}".rstrip())
        elif kind in ("execute_result", "display_data"):
            data = out.get("data", {})
            if not isinstance(data, dict):
                raise InputError(f"{kind} 'data' must be an object (a MIME bundle), got {_json_name(data)}", loc)
            image_type = next((t for t in IMAGE_OUTPUT_TYPES if t in data), None)
            if image_type:
                parts.append(_image(data[image_type], image_type, loc, "output"))
            elif "text/plain" in data:
                text = _text(data["text/plain"], loc, "text/plain")
                if text.strip():
                    parts.append(f"{OUTPUT_HEADER}\n{text.rstrip()}")
    return parts


def _image(payload: Any, media_type: str, loc: str, what: str) -> dict[str, Any]:
    data = _text(payload, loc, media_type).replace("\n", "")
    try:
        decode_base64(data)  # the same cached decode validation does next
    except (binascii.Error, ValueError):
        raise InputError(f"{media_type} {what} is not valid base64", loc) from None
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


def _attachment_parts(cell: Cell) -> list[dict[str, Any] | str]:
    """A markdown/raw cell's attached images, in the notebook's order. Attachments of other kinds (SVG,
    PDF) are not images the API takes and are left out, as non-image outputs are."""
    parts: list[dict[str, Any] | str] = []
    for name, bundle in cell.attachments:
        loc = f"{cell.where}, attachment {shown(name)}"
        if not isinstance(bundle, dict):
            raise InputError("expected an object mapping a media type to base64 data", loc)
        media_type = next((t for t in IMAGE_TYPES if t in bundle), None)
        if media_type:
            parts.append(_image(bundle[media_type], media_type, loc, "attachment"))
    return parts


def cell_parts(cell: Cell, include_outputs: bool = False) -> list[dict[str, Any] | str]:
    """One cell → its text (header + source) and, optionally, its outputs (code cells) or attached images
    (markdown and raw cells). Empty cells give nothing."""
    if cell.empty:
        return []
    parts: list[dict[str, Any] | str] = [f"{HEADERS[cell.cell_type]}\n{cell.source.rstrip()}"]
    if include_outputs:
        parts.extend(_output_parts(cell) if cell.cell_type == "code" else _attachment_parts(cell))
    return parts


def join_parts(parts: Iterable[dict[str, Any] | str]) -> list[dict[str, Any]]:
    """Strings → text blocks, consecutive strings merged with the cell separator; blocks kept in place."""
    blocks: list[dict[str, Any]] = []
    pending: list[str] = []
    for part in parts:
        if isinstance(part, str):
            pending.append(part)
            continue
        if pending:
            blocks.append({"type": "text", "text": CELL_SEPARATOR.join(pending)})
            pending = []
        blocks.append(part)
    if pending:
        blocks.append({"type": "text", "text": CELL_SEPARATOR.join(pending)})
    return blocks


def cell_blocks(cell: Cell, include_outputs: bool = False) -> list[dict[str, Any]]:
    return join_parts(cell_parts(cell, include_outputs))


def notebook_blocks(cells: Iterable[Cell], include_outputs: bool = False) -> list[dict[str, Any]]:
    parts: list[dict[str, Any] | str] = []
    for cell in cells:
        parts.extend(cell_parts(cell, include_outputs))
    return join_parts(parts)
