"""The structural checks every input passes before any other code looks at it: nesting depth, valid
Unicode in every string and key, finite numbers, and JSON-compatible key types.

The walk is iterative, so a body nested thousands of levels deep is refused with a 400 that names the
place instead of exhausting Python's recursion limit somewhere further on (the validator, the
canonical encoder, the offline estimator all recurse). A lone surrogate such as ``"\\ud800"`` (legal
in a JSON escape, illegal in UTF-8) is refused here because the request could never be sent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..errors import InputError, shown

#: Deepest nesting of objects and arrays accepted anywhere in a request or notebook cell, counted from
#: the request body (a message's content list is level 3, a block in it level 4). Real tool schemas and
#: tool inputs use a handful of levels; 64 leaves plenty of room while keeping every recursive consumer
#: (ours, the json module, pydantic in the SDK) far from Python's recursion limit.
MAX_DEPTH = 64

#: A path longer than this is shortened in the middle when it is shown in an error.
_MAX_PATH_CHARS = 160


def _key_text(key: str) -> str:
    return key if key.isidentifier() else repr(key)


def _join(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    text = _key_text(key) if isinstance(key, str) and _valid_unicode(key) else repr(key)
    return f"{path}.{text}" if path else text


def _short(path: str) -> str:
    if len(path) <= _MAX_PATH_CHARS:
        return path
    half = _MAX_PATH_CHARS // 2
    return f"{path[:half]}…{path[-half:]}"


def _valid_unicode(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _bad_unicode(text: str) -> str:
    for i, ch in enumerate(text):
        if 0xD800 <= ord(ch) <= 0xDFFF:
            return f"contains a lone surrogate (U+{ord(ch):04X}) at character {i}; strings must be valid Unicode"
    return "is not valid Unicode"


def check_tree(
    obj: Any, where: str = "", *, max_depth: int = MAX_DEPTH, base_depth: int = 0, json_only: bool = False
) -> None:
    """Raise ``InputError`` naming the first place in ``obj`` (JSON-like data: dicts, lists, tuples and
    scalars; anything else is left to the adapters) that is nested deeper than ``max_depth``, holds a
    string or key that is not valid Unicode, or a number that is not finite. ``base_depth`` is the depth
    ``obj`` itself sits at in the request (so a cell's outputs are measured like the request they become).
    ``json_only``: ``obj`` is a built body, so anything JSON cannot hold (bytes, a set, a non-string key, an
    integer past Python's digit limit) is refused too, where it is."""
    stack: list[tuple[Any, str, int]] = [(obj, where, base_depth)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, str):
            if not _valid_unicode(node):
                raise InputError(f"this string {_bad_unicode(node)}", _short(path) or None)
        elif isinstance(node, float):
            if not math.isfinite(node):
                raise InputError(f"{shown(node)} is not a valid JSON number", _short(path) or None)
        elif json_only and isinstance(node, int) and not isinstance(node, bool):
            try:
                str(node)
            except ValueError:  # past sys.get_int_max_str_digits(): json.dumps cannot write it
                raise InputError(
                    f"an integer of about {node.bit_length() * 0.30103:,.0f} digits is too large for JSON",
                    _short(path) or None,
                ) from None
        elif json_only and not isinstance(node, (Mapping, list, tuple, bool)) and node is not None:
            raise InputError(
                f"expected a JSON value (a string, number, boolean, null, object or array), got {type(node).__name__}",
                _short(path) or None,
            )
        elif isinstance(node, (Mapping, list, tuple)):
            if depth >= max_depth:
                raise InputError(
                    f"nested more than {max_depth} levels deep (objects and arrays); this is the documented limit",
                    _short(path) or None,
                )
            if isinstance(node, Mapping):
                for key, value in node.items():
                    if isinstance(key, str):
                        if not _valid_unicode(key):
                            raise InputError(f"a key {_bad_unicode(key)}", _short(path) or None)
                    elif json_only or (not isinstance(key, (int, float, bool)) and key is not None):
                        raise InputError(f"object keys must be strings, not {type(key).__name__}", _short(path) or None)
                    stack.append((value, _join(path, key), depth + 1))
            else:
                stack.extend((value, _join(path, i), depth + 1) for i, value in enumerate(node))
