"""Betas: which ``anthropic-beta`` value a request's fields and blocks need, in one table.

The count endpoint, like the Messages API, refuses a field that only a beta enables unless that beta is in the
request's ``anthropic-beta`` header (``400 <field>: Extra inputs are not permitted``), and refuses beta values
it does not know. A count request therefore carries its betas (``CountRequest.betas``); the ones its body needs
are added to those given, so a request counts as the call that sends it would be counted.

Sources of the table: the ``anthropic`` SDK 2.17 typed parameters (``types/beta/message_count_tokens_params.py``,
``types/anthropic_beta_param.py``; its beta tool runner names ``compact-2026-09-04`` for ``compaction``) and
Anthropic's context-editing, Files API, MCP connector and structured-outputs documentation, as gathered in the
project's api-betas reference. A feature may be enabled by several versions of its beta: any of them is enough;
the first is the one added.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import InputError

#: what the SDK's ``beta.messages.count_tokens`` always adds itself: never part of a request's own betas
TOKEN_COUNTING = "token-counting-2024-11-01"

#: a beta value as the header carries it (comma-separated, so no comma, no space)
_BETA = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True)
class Feature:
    #: what the user wrote, as the API's error would name it
    name: str
    #: betas that enable it, the current one first (the one added when none is given)
    betas: tuple[str, ...]
    #: why, in a few words (the README's table and error messages)
    what: str


CONTEXT_EDITING = Feature(
    "context_management", ("context-management-2025-06-27",), "context editing (clearing tool results, thinking)"
)
COMPACTION_EDIT = Feature(
    "context_management with a compact_20260112 edit", ("compact-2026-01-12",), "server-side compaction as an edit"
)
COMPACTION = Feature("compaction", ("compact-2026-09-04",), "a compaction request (accepted and ignored by counting)")
FILES = Feature(
    "file sources, container_upload blocks", ("files-api-2025-04-14",), "uploads of the Files API (by file_id)"
)
MCP = Feature(
    "mcp_servers",
    ("mcp-client-2025-11-20", "mcp-client-2026-09-15", "mcp-client-2025-04-04"),
    "remote MCP servers (the MCP connector) and their tool sets",
)
OUTPUT_FORMAT = Feature(
    "output_format",
    ("structured-outputs-2025-11-13",),
    "structured outputs, the older field (now output_config.format)",
)

#: every feature of the table, for the README and the stand-in
FEATURES: tuple[Feature, ...] = (CONTEXT_EDITING, COMPACTION_EDIT, COMPACTION, FILES, MCP, OUTPUT_FORMAT)

#: context-management edit types → the feature they belong to (an unknown type is left to the API to judge)
EDIT_FEATURES = {
    "clear_tool_uses_20250919": CONTEXT_EDITING,
    "clear_thinking_20251015": CONTEXT_EDITING,
    "compact_20260112": COMPACTION_EDIT,
}

#: top-level fields only a beta enables
FIELD_FEATURES = {"compaction": COMPACTION, "mcp_servers": MCP, "output_format": OUTPUT_FORMAT}


def _sources(value: Any) -> Iterator[dict[str, Any]]:
    """Every block's ``source`` object and every container upload, however deep (tool results, documents)."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            if v.get("type") == "container_upload":
                yield {"type": "file", "file_id": v.get("file_id")}
            src = v.get("source")
            if isinstance(src, dict):
                yield src
            stack.extend(x for x in v.values() if isinstance(x, (dict, list)))
        elif isinstance(v, list):
            stack.extend(x for x in v if isinstance(x, (dict, list)))


def features(body: dict[str, Any]) -> list[Feature]:
    """The beta features ``body`` uses, in table order."""
    used: set[Feature] = set()
    for field, feature in FIELD_FEATURES.items():
        if body.get(field) is not None:
            used.add(feature)
    cm = body.get("context_management")
    if cm is not None:
        edits = cm.get("edits") if isinstance(cm, dict) else None
        kinds = [EDIT_FEATURES.get(e.get("type")) for e in edits or [] if isinstance(e, dict)]
        used.update(k for k in kinds if k is not None)
        if not any(kinds):  # no edit we know: the field itself needs context editing's beta
            used.add(CONTEXT_EDITING)
    if any(src.get("type") == "file" for src in _sources(body.get("messages")) if isinstance(src, dict)):
        used.add(FILES)
    return [f for f in FEATURES if f in used]


def check_betas(values: Any, where: str = "betas") -> tuple[str, ...]:
    """A list of beta names as given (a list of strings, or one string) → a tuple; InputError for anything else.
    Whether the API knows a name is the API's to say (its 400 names it)."""
    if values is None:
        return ()
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, (list, tuple)):
        raise InputError(f"expected a list of beta names, got {type(values).__name__}", where)
    out: list[str] = []
    for i, v in enumerate(values):
        if not isinstance(v, str) or not _BETA.match(v.strip()):
            shown = repr(v)[:60]
            raise InputError(
                f"{shown} is not a beta name (one value of the anthropic-beta header, e.g. "
                f"'context-management-2025-06-27')",
                f"{where}[{i}]",
            )
        out.append(v.strip())
    return tuple(out)


def parse_header(value: str | None) -> tuple[str, ...]:
    """The values of an ``anthropic-beta`` header (comma-separated), as the call sent them."""
    if not value:
        return ()
    return tuple(v.strip() for v in value.split(",") if v.strip())


def normalise(betas: Iterable[str]) -> tuple[str, ...]:
    """Sorted, without duplicates and without the token-counting beta the SDK adds itself: the header's order
    means nothing, and equal sets must key the cache equally."""
    return tuple(sorted({b for b in betas if b and b != TOKEN_COUNTING}))


def with_needed(body: dict[str, Any], given: Iterable[str]) -> tuple[str, ...]:
    """``given`` plus, for each beta feature the body uses and no given beta enables, its current beta."""
    have = set(given)
    for feature in features(body):
        if not have.intersection(feature.betas):
            have.add(feature.betas[0])
    return normalise(have)


def missing(body: dict[str, Any], betas: Iterable[str]) -> list[Feature]:
    """Features the body uses that none of ``betas`` enables (what the API would refuse)."""
    have = set(betas)
    return [f for f in features(body) if not have.intersection(f.betas)]
