"""Structured outputs: how a JSON schema given in ``output_format`` / ``output_config.format`` reaches
the prompt.

The real counts are matched by the schema pretty-printed as JSON with a two-space indent, in the key
order it was sent (no sorting, no compaction), plus a fixed instruction of about 82 tokens on the v3
tokenizer whatever the schema's size, nesting, ``$defs`` or ``anyOf``: the earlier per-property
figure was a proxy for the newlines and indentation of that rendering, so it grew wrong with nested
schemas. The fixed part is the ``structured_output`` figure in ``models.json``.
"""

from __future__ import annotations

import json
from typing import Any


def schema_format(body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(JSON-pointer path, format object) of each JSON-schema output format in the body."""
    out: list[tuple[str, dict[str, Any]]] = []
    fmt = body.get("output_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        out.append(("/output_format", fmt))
    config = body.get("output_config")
    if isinstance(config, dict):
        fmt = config.get("format")
        if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
            out.append(("/output_config", fmt))
    return out


def schema_text(schema: Any) -> str:
    """The rendering of a schema whose tokens match the calibration counts."""
    try:
        return json.dumps(schema, indent=2, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(schema)
