"""The count request: the exact JSON body of ``POST /v1/messages/count_tokens``, the betas it is sent with,
and its cache key."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

#: Top-level body fields count_tokens accepts: the SDK's ``messages.count_tokens`` and ``beta.messages.count_tokens``
#: parameters (the beta-only ones need their beta: ``betas.py``), and ``output_format``, which the SDK no longer
#: types but the API still takes with the structured-outputs beta.
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
    "mcp_servers",
    "compaction",
    "billing_policy",
)

#: Count parameters that the SDK sends as headers, not in the body (``anthropic-user-profile-id``,
#: ``anthropic-workspace-id``): carried beside the body; they do not change the count.
HEADER_FIELDS: tuple[str, ...] = ("user_profile_id", "workspace_id")

#: Fields of a ``messages.create`` call that do not change the input and that count_tokens rejects. ``betas``
#: is not here: it travels with the request (``CountRequest.betas``).
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
    """A validated count_tokens body and the betas it is sent with. ``body`` is plain JSON data, safe to send
    or store; it is not changed after validation, so its canonical form is serialised once (validation measures
    it, the counter hashes it, and a widget keys on it again: a notebook recount does this for every cell)."""

    body: dict[str, Any]
    #: True for an empty notebook or file: ``body`` carries ``EMPTY_PROBE`` as its user message, and the
    #: count is that body's less ``EMPTY_PROBE_TOKENS`` (``api.settle`` does it)
    empty: bool = False
    #: the ``anthropic-beta`` values it is counted with (sorted, without the token-counting beta the SDK adds);
    #: empty: the GA endpoint
    betas: tuple[str, ...] = ()
    #: ``user_profile_id`` / ``workspace_id`` as given (sent as the SDK's headers; not part of the key: they do
    #: not change the count)
    headers: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    @property
    def model(self) -> str:
        return self.body["model"]

    @cached_property
    def _canonical_utf8(self) -> bytes:
        return canonical_json(self.body).encode("utf-8")

    def canonical(self) -> str:
        return self._canonical_utf8.decode("utf-8")

    @cached_property
    def identity(self) -> str:
        """sha256(betas + model + canonical JSON of the body): what this request is, wherever it is counted. Keys
        memos of offline work; an exact count is keyed by ``cache_key`` (which adds where it was counted)."""
        head = "\n".join(["jtc-count-v2", ",".join(self.betas), self.model])
        return hashlib.sha256(head.encode("utf-8") + b"\n" + self._canonical_utf8).hexdigest()

    def cache_key(self, origin: str) -> str:
        """The key of this request's exact count as answered by the API at ``origin`` (its base URL), in every
        cache level (memory, SQLite, a hub's Redis): sha256(origin + betas + model + canonical body). Only the
        counter calls it, with its own origin (``Counter.key``)."""
        return self.key_of(origin, self.identity)

    @staticmethod
    def key_of(origin: str, identity: str) -> str:
        """``cache_key`` from a request's ``identity`` alone (a notebook's total found by its digest while typing)."""
        return hashlib.sha256(f"{origin}\n{identity}".encode()).hexdigest()

    @property
    def size_bytes(self) -> int:
        return len(self._canonical_utf8)
