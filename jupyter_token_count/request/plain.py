"""SDK objects → plain JSON: what users hold (the SDK's response objects and param types, mappings) becomes
the dicts and lists a request body is made of."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Keys a response object carries that a request must not (SDK "parsed" helpers add these).
_RESPONSE_ONLY = frozenset({"parsed_output"})


def plain(obj: Any) -> Any:
    """Turn an SDK object into a plain dict; leave everything else alone (one level: see ``plain_deep``)."""
    if hasattr(obj, "model_dump") and callable(obj.model_dump):
        # unset optional fields are dropped: the API would reject them as null
        return strip(obj.model_dump(mode="json", exclude_none=True, by_alias=True))
    if isinstance(obj, Mapping) and not isinstance(obj, dict):
        obj = dict(obj)
    return obj


def plain_deep(value: Any) -> Any:
    """``plain`` all the way down: SDK objects anywhere inside ``value`` become plain dicts."""
    value = plain(value)
    if isinstance(value, dict):
        return {k: plain_deep(x) for k, x in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_deep(x) for x in value]
    return value


def strip(data: Any) -> Any:
    """``data`` without the keys only a response carries."""
    if isinstance(data, dict):
        return {k: strip(v) for k, v in data.items() if k not in _RESPONSE_ONLY}
    if isinstance(data, list):
        return [strip(v) for v in data]
    return data
