"""Edits of a hand-formatted JSON file that keep its formatting: values replaced, keys added or removed in
place, everything else byte for byte (``models.json`` is laid out for people; a fit writes a few numbers).

    doc = JsonText(text)
    doc.set(("tokenizers", "v3", "framing", "thinking"), 7)      # replace, or add to the parent object
    doc.delete(("models", 3, "framing", "thinking_config"))
    text = doc.text
"""

from __future__ import annotations

import json
import re
from typing import Any

Path = tuple[str | int, ...]

_WS = re.compile(r"\s*")
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


class JsonText:
    def __init__(self, text: str) -> None:
        self.text = text
        json.loads(text)  # malformed input fails here, with json's message

    # -- locating ----------------------------------------------------------------------------------------
    def _skip(self, i: int) -> int:
        m = _WS.match(self.text, i)
        return m.end() if m else i

    def _end(self, i: int) -> int:
        """End of the value starting at ``i``."""
        c = self.text[i]
        if c == '"':
            m = _STRING.match(self.text, i)
            assert m
            return m.end()
        if c in "{[":
            close = "}" if c == "{" else "]"
            j = self._skip(i + 1)
            if self.text[j] == close:
                return j + 1
            while True:
                if c == "{":
                    m = _STRING.match(self.text, j)
                    assert m
                    j = self._skip(self._skip(m.end()) + 1)  # past the key and the colon
                j = self._skip(self._end(j))
                if self.text[j] == ",":
                    j = self._skip(j + 1)
                    continue
                assert self.text[j] == close
                return j + 1
        m = _NUMBER.match(self.text, i)
        if m:
            return m.end()
        for word in ("true", "false", "null"):
            if self.text.startswith(word, i):
                return i + len(word)
        raise ValueError(f"unexpected JSON at {i}")

    def _members(self, i: int) -> list[tuple[str | int, int, int, int]]:
        """(key or index, start of the member (its key for objects), value start, value end) of the
        object or array at ``i``."""
        c = self.text[i]
        close = "}" if c == "{" else "]"
        out: list[tuple[str | int, int, int, int]] = []
        j = self._skip(i + 1)
        index = 0
        while self.text[j] != close:
            start = j
            key: str | int = index
            if c == "{":
                m = _STRING.match(self.text, j)
                assert m
                key = json.loads(m.group())
                j = self._skip(self._skip(m.end()) + 1)
            end = self._end(j)
            out.append((key, start, j, end))
            index += 1
            j = self._skip(end)
            if self.text[j] == ",":
                j = self._skip(j + 1)
        return out

    def _find(self, path: Path) -> tuple[int, int] | None:
        i = self._skip(0)
        end = self._end(i)
        for key in path:
            if self.text[i] not in "{[":
                return None
            hit = next(((s, e) for k, _, s, e in self._members(i) if k == key), None)
            if hit is None:
                return None
            i, end = hit
        return i, end

    def get(self, path: Path) -> Any:
        span = self._find(path)
        return None if span is None else json.loads(self.text[span[0] : span[1]])

    # -- editing -----------------------------------------------------------------------------------------
    def set(self, path: Path, value: Any) -> None:
        """Replace the value at ``path``; a missing last key is added at the end of its object (which must
        exist), on the line of the object's last member."""
        rendered = render(value)
        span = self._find(path)
        if span is not None:
            self.text = self.text[: span[0]] + rendered + self.text[span[1] :]
            return
        parent = self._find(path[:-1])
        if parent is None or self.text[parent[0]] != "{":
            raise KeyError(f"no object at {path[:-1]!r} to add {path[-1]!r} to")
        members = self._members(parent[0])
        entry = f"{json.dumps(path[-1])}: {rendered}"
        if not members:
            at = parent[0] + 1
            self.text = self.text[:at] + entry + self.text[at:]
            return
        at = members[-1][3]
        self.text = self.text[:at] + ", " + entry + self.text[at:]

    def delete(self, path: Path) -> None:
        """Remove the member at ``path`` (and the comma that joined it), if present."""
        parent = self._find(path[:-1])
        if parent is None:
            return
        members = self._members(parent[0])
        pos = next((n for n, m in enumerate(members) if m[0] == path[-1]), None)
        if pos is None:
            return
        _, start, _, end = members[pos]
        if pos + 1 < len(members):  # up to the next member (the comma and the space after it)
            end = members[pos + 1][1]
        elif pos > 0:  # the last one: from the end of the previous member
            start = members[pos - 1][3]
        self.text = self.text[:start] + self.text[end:]


def render(value: Any) -> str:
    """A value on one line, the way the file writes small objects: ``{"auto": 286, "any": 406}``."""
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
