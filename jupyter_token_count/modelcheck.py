"""Is a model id real? Our registry decides, and, when a key is set, so does the API's own list
(``GET /v1/models``, asked once per process). An id neither knows is never taken silently:

- with the API's list at hand the id is an error (``UnknownModel``): count_tokens would refuse it anyway,
  and our message names the closest ids instead of a bare 404;
- without it (offline, or no key) the registry may simply predate a new release, so interactive surfaces
  warn and estimate with a guessed tokenizer, while the CLI, which often runs where nobody reads a warning
  (pre-commit, CI), refuses the id unless ``--allow-unknown-model`` is given.
"""

from __future__ import annotations

import difflib
import hashlib
import threading
import time
from collections.abc import Iterable

from . import registry
from .config import Settings, check_mode
from .errors import ApiError, UnknownModel, shown
from .registry import check_length

__all__ = ["api_model_ids", "check_listed", "check_model", "closest", "is_listed", "unknown_message"]

_lock = threading.Lock()
#: (sha256 of the key, base URL) → the ids the API listed; the key itself is never kept here
_listed: dict[tuple[str, str | None], frozenset[str]] = {}
#: the same → when the list last could not be fetched: a live panel must not wait on it at every keystroke
_failed: dict[tuple[str, str | None], float] = {}
RETRY_FAILED_LIST = 60.0


def _known_ids(extra: Iterable[str] = ()) -> list[str]:
    ids: list[str] = []
    for info in registry.all_models(include_retired=True):
        ids.append(info.id)
        ids.extend(info.aliases)
    ids.extend(extra)
    return list(dict.fromkeys(ids))


def closest(model: str, extra: Iterable[str] = (), n: int = 3) -> list[str]:
    """The known ids nearest to ``model`` by spelling, best first (the active ones win ties)."""
    candidates = _known_ids(extra)
    found = difflib.get_close_matches(model.strip(), candidates, n=n, cutoff=0.6)
    if not found:  # a very different spelling: offer the newest models rather than nothing
        found = [m.id for m in registry.all_models()[:n]]
    return found


def unknown_message(model: str, suggestions: list[str], asked_api: bool, why_not_api: str = "no API key") -> str:
    where = (
        "neither jupyter-token-count's model list nor the API's (GET /v1/models) has it"
        if asked_api
        else f"not in jupyter-token-count's model list, and the API's could not be asked ({why_not_api})"
    )
    hint = f"; did you mean {' or '.join(repr(s) for s in suggestions)}?" if suggestions else ""
    return f"unknown model {shown(model)}: {where}{hint}"


def api_model_ids(settings: Settings) -> frozenset[str] | None:
    """The ids ``GET /v1/models`` lists for this key (cached per process), or None when it cannot be asked."""
    key = settings.api_key
    if not key:
        return None
    ident = (hashlib.sha256(key.encode()).hexdigest(), settings.origin)
    with _lock:
        if ident in _listed:
            return _listed[ident]
        if time.monotonic() - _failed.get(ident, -RETRY_FAILED_LIST) < RETRY_FAILED_LIST:
            return None
    from .backends.api import ApiBackend

    backend = ApiBackend(key, settings.origin, settings.timeout)
    try:
        listed = backend.list_models()
    except ApiError:
        with _lock:
            _failed[ident] = time.monotonic()
        return None  # unreachable or refused: the count itself will say what is wrong
    finally:
        if backend._sync is not None:
            backend._sync.close()
    registry.update_from_api(listed)
    ids = frozenset(m["id"] for m in listed if isinstance(m.get("id"), str))
    with _lock:
        _listed[ident] = ids
    return ids


def is_listed(model: str, ids: Iterable[str]) -> bool:
    """``model`` is one of ``ids``, or the undated form of one (``claude-x-1`` for ``claude-x-1-20990101``)."""
    key = registry.resolve(model).id
    return any(key in (mid, registry._DATE_SUFFIX.sub("", mid)) for mid in ids)


def check_listed(
    model: str, api_ids: Iterable[str] | None, *, strict: bool = False, why_not_api: str = "no API key"
) -> str | None:
    """``check_model`` for a caller that holds the API's list already (None: no list to trust)."""
    check_length(model)
    if registry.resolve(model).known:
        return None
    if api_ids is not None:
        ids = list(api_ids)
        if is_listed(model, ids):
            return None
        suggestions = closest(model, ids)
        raise UnknownModel(unknown_message(model, suggestions, True), model, suggestions)
    suggestions = closest(model)
    message = unknown_message(model, suggestions, False, why_not_api)
    if strict:  # the CLI: say how to count a model newer than this release anyway
        raise UnknownModel(
            f"{message} (a model newer than this release? --allow-unknown-model estimates it)", model, suggestions
        )
    return f"{message} Estimated with a guessed tokenizer; the cost is unknown."


def check_model(model: str, settings: Settings, mode: str | None = None, *, strict: bool = False) -> str | None:
    """None when ``model`` is known. Otherwise a warning to show with the estimate, or ``UnknownModel``
    when the API's list was consulted (or ``strict``: the CLI's rule)."""
    check_length(model)
    if registry.resolve(model).known:
        return None
    mode = check_mode(mode or settings.mode)
    if mode == "offline":
        return check_listed(model, None, strict=strict, why_not_api="offline mode")
    if not settings.key_configured:
        return check_listed(model, None, strict=strict)
    ids = api_model_ids(settings)
    return check_listed(model, ids, strict=strict, why_not_api="GET /v1/models failed")
