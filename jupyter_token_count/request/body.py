"""The count request: the exact JSON body of ``POST /v1/messages/count_tokens``, and its cache key."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

#: Top-level fields count_tokens accepts (the SDK's ``messages.count_tokens`` parameters).
COUNT_FIELDS: tuple[str, ...] = (
    "model",
    "messages",
    "system",
    "tools",
    "tool_choice",
    "thinking",
    "output_config",
    "output_format",
    "cache_control",
    "context_management",
    "speed",
)

#: Fields of a ``messages.create`` call that do not change the input and that count_tokens rejects.
DROPPED_FIELDS: frozenset[str] = frozenset(
    {
        "max_tokens",
        "temperature",
        "top_p",
        "top_k",
        "stream",
        "stop_sequences",
        "metadata",
        "service_tier",
        "inference_geo",
        "container",
        "extra_headers",
        "extra_query",
        "extra_body",
        "timeout",
        "betas",
        "user_profile_id",
        "workspace_id",
    }
)


def canonical_json(obj: Any) -> str:
    """Sorted keys, no whitespace: equal requests serialise equally however they were built."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


#: What a notebook or file that renders to nothing is counted as: this one-character user message, less
#: its one token (a lone full stop is one token in every Claude tokenizer). So an empty notebook costs the
#: request frame alone, the same figure as ``frame + Σ cells`` with no cells, and it stays countable by
#: the API (which refuses an empty message) and cacheable like any other request.
EMPTY_PROBE = "."
EMPTY_PROBE_TOKENS = 1


@dataclass(frozen=True)
class CountRequest:
    """A validated count_tokens body. ``body`` is plain JSON data, safe to send or store; it is not changed
    after validation, so its canonical form is serialised once (validation measures it, the counter hashes
    it, and a widget keys on it again: a notebook recount does this for every cell)."""

    body: dict[str, Any]
    #: True for an empty notebook or file: ``body`` carries ``EMPTY_PROBE`` as its user message, and the
    #: count is that body's less ``EMPTY_PROBE_TOKENS`` (``api.settle`` does it)
    empty: bool = False

    @property
    def model(self) -> str:
        return self.body["model"]

    @cached_property
    def _canonical_utf8(self) -> bytes:
        return canonical_json(self.body).encode("utf-8")

    def canonical(self) -> str:
        return self._canonical_utf8.decode("utf-8")

    @cached_property
    def _key(self) -> str:
        return hashlib.sha256(self.model.encode("utf-8") + b"\n" + self._canonical_utf8).hexdigest()

    def cache_key(self) -> str:
        """sha256(model + canonical JSON of the body)."""
        return self._key

    @property
    def size_bytes(self) -> int:
        return len(self._canonical_utf8)
