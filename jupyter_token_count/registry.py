"""The model registry: one data file (``models.json``) and the small loader that answers model questions.

Everything that needs a model fact (context window, price, tokenizer family, tool overhead, image tier)
asks here. Ids resolve through aliases and dated forms; an unknown id still gets a best guess at its
tokenizer so offline estimates keep working for models released after this file was written.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field, replace
from functools import cache
from importlib.resources import files
from typing import Any

from .errors import InputError, shown

__all__ = [
    "ModelInfo",
    "Prices",
    "all_models",
    "default_model",
    "estimate_ranges",
    "estimator_figures",
    "few_counts",
    "resolve",
    "tokenizer_data",
    "update_from_api",
]


@dataclass(frozen=True)
class Prices:
    """A model's list prices as models.json states them, USD per million tokens (None: not published).
    ``bands`` are (prompt_above, the prices above that prompt size), every rate of the band (Haiku 5.5 is
    priced that way). How a request is charged from these is ``pricing.py``'s, not the registry's."""

    input: float | None = None
    output: float | None = None
    cache_write_5m: float | None = None
    cache_write_1h: float | None = None
    cache_read: float | None = None
    bands: tuple[tuple[int, Prices], ...] = ()


@dataclass(frozen=True)
class ModelInfo:
    id: str
    display_name: str
    tokenizer: str  # "v3" | "v4.7" | "v4.8"
    context_window: int | None
    max_output: int | None
    prices: Prices
    tool_overhead_auto: int | None
    tool_overhead_any: int | None
    image_tier: str
    #: the forced-tool prompt (``tool_choice: {"type": "tool"}``) where it differs from ``any``
    tool_overhead_tool: int | None = None  # "high" | "standard" | "legacy"
    lifecycle: str = "unknown"
    aliases: tuple[str, ...] = ()
    uncertain: tuple[str, ...] = ()
    known: bool = True  # False for an id the registry had to guess at
    notes: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def ctok_version(self) -> str:
        return _data()["tokenizers"][self.tokenizer]["ctok_version"]

    def image_limits(self) -> dict[str, Any]:
        return dict(_data()["image_tiers"][self.image_tier])

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "display_name": self.display_name,
            "aliases": list(self.aliases),
            "lifecycle": self.lifecycle,
            "tokenizer": self.tokenizer,
            "context_window": self.context_window,
            "max_output": self.max_output,
            "input_price_per_mtok": self.prices.input,
            "output_price_per_mtok": self.prices.output,
            "image_tier": self.image_tier,
            "known": self.known,
            "uncertain": list(self.uncertain),
        }


@cache
def _data() -> dict[str, Any]:
    text = files("jupyter_token_count").joinpath("models.json").read_text(encoding="utf-8")
    return json.loads(text)


_RATES = ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")


def _prices(rec: dict[str, Any]) -> Prices:
    """A record's prices; a band states the rates that change above its prompt size, the rest carry over."""
    price = rec.get("price", {})
    base = Prices(**{k: price.get(k) for k in _RATES})
    bands = tuple(
        (b["prompt_above"], replace(base, **{k: b[k] for k in _RATES if k in b})) for b in rec.get("price_bands", ())
    )
    return replace(base, bands=bands)


def _to_info(rec: dict[str, Any]) -> ModelInfo:
    tools = rec.get("tool_overhead") or {}
    return ModelInfo(
        id=rec["id"],
        display_name=rec["display_name"],
        tokenizer=rec["tokenizer"],
        context_window=rec.get("context_window"),
        max_output=rec.get("max_output"),
        prices=_prices(rec),
        tool_overhead_auto=tools.get("auto"),
        tool_overhead_any=tools.get("any"),
        tool_overhead_tool=tools.get("tool"),
        image_tier=rec["image_tier"],
        lifecycle=rec.get("lifecycle", "unknown"),
        aliases=tuple(rec.get("aliases", ())),
        uncertain=tuple(rec.get("uncertain", ())),
        notes={"tool_overhead": tools.get("note"), "forced_tool_choice_error": tools.get("forced_tool_choice_error")},
    )


_lock = threading.Lock()
_overrides: dict[str, ModelInfo] = {}  # refreshed from the Models API


@cache
def _index() -> dict[str, ModelInfo]:
    out: dict[str, ModelInfo] = {}
    for rec in _data()["models"]:
        info = _to_info(rec)
        out[info.id] = info
        for alias in info.aliases:
            out[alias] = info
    return out


def all_models(include_retired: bool = False) -> list[ModelInfo]:
    """Every model in the registry, newest first (the data file's order)."""
    seen: list[ModelInfo] = []
    for rec in _data()["models"]:
        info = _overrides.get(rec["id"]) or _index()[rec["id"]]
        if include_retired or info.lifecycle != "retired":
            seen.append(info)
    return seen


def default_model() -> str:
    return _data()["default_model"]


def tokenizer_data(family: str) -> dict[str, Any]:
    """The ``tokenizers`` record of one family (ctok version, framing, fallback rates); {} if unknown."""
    return dict(_data()["tokenizers"].get(family, {}))


def estimator_figures(info: ModelInfo) -> dict[str, Any]:
    """Calibrated figures for the offline estimator: the tokenizer family's ``framing`` object, with
    any ``framing`` overrides of the model's own record (looked up by id, then undated id) on top."""
    figures = dict(tokenizer_data(info.tokenizer).get("framing", {}))
    for key in (info.id, _DATE_SUFFIX.sub("", info.id)):
        rec = next((r for r in _data()["models"] if r["id"] == key or key in r.get("aliases", ())), None)
        if rec is not None:
            for name, value in rec.get("framing", {}).items():
                # a model overrides single figures of a group (one wrapper of "tool_result"), not the group
                base = figures.get(name)
                figures[name] = {**base, **value} if isinstance(base, dict) and isinstance(value, dict) else value
            break
    return figures


def _model_rec(info: ModelInfo) -> dict[str, Any] | None:
    """The data file's record of a model (by id, then undated id), or None."""
    for key in (info.id, _DATE_SUFFIX.sub("", info.id)):
        rec = next((r for r in _data()["models"] if r["id"] == key or key in r.get("aliases", ())), None)
        if rec is not None:
            return rec
    return None


def few_counts(info: ModelInfo) -> dict[str, int]:
    """The estimator's figures for ``info`` that rest on fewer than five real counts (dotted path → how many),
    as the fit (``bench/calibration_error.py``) marked them: the family's, less those the model overrides, plus
    the model's own (its tool-use prompt sizes among them). An unknown model's tool prompt is a guess."""
    family = dict(tokenizer_data(info.tokenizer).get("framing", {}).get("few_counts") or {})
    rec = _model_rec(info) if info.known else None
    if rec is not None:
        own = rec.get("framing") or {}
        for path in list(family):
            top, _, sub = path.partition(".")
            value = own.get(top)
            if value is not None and (not sub or not isinstance(value, dict) or sub in value):
                del family[path]
        family.update(rec.get("few_counts") or {})
    else:
        family.update({f"tool_overhead.{k}": 0 for k in ("auto", "any", "tool")})
    return family


def estimate_ranges() -> dict[str, Any]:
    """The fitted coefficients of the offline estimate's range (``backends/offline/ranges.py``)."""
    return dict(_data().get("estimate_ranges") or {})


_DATE_SUFFIX = re.compile(r"-(\d{8})$")
# Decorations seen in third-party tools and transcripts that are not API ids.
_DECORATION = re.compile(r"\[[^\]]*\]$")
_VERSION = re.compile(
    r"claude-(?:(?P<tier>opus|sonnet|haiku|fable|mythos)-)?(?P<major>\d+)(?:[-.](?P<minor>\d{1,2}))?(?:-|$)"
)


def _guess_tokenizer(model_id: str) -> str:
    """Route an unknown id by its version number the way ctok does: < 4.7 → v3, 4.7 → v4.7, later → v4.8."""
    m = _VERSION.search(model_id)
    if not m:
        return "v4.8"
    major = int(m.group("major"))
    minor = int(m.group("minor") or 0)
    if (major, minor) < (4, 7):
        return "v3"
    if (major, minor) < (4, 8):
        return "v4.7"
    return "v4.8"


#: the longest model id taken (the API's are under 50 characters): a longer one is not an id
MAX_MODEL_ID = 256


def check_length(model: str) -> None:
    """Refuse a model id that cannot be one before it is compared, echoed or stored anywhere."""
    if len(model) > MAX_MODEL_ID:
        raise InputError(f"a model id has at most {MAX_MODEL_ID} characters, got {shown(model)}", "model")


def resolve(model: str) -> ModelInfo:
    """The registry's record for ``model`` (id, alias or dated id). Unknown ids get a guessed record
    with ``known=False`` and no price, so callers can say so instead of inventing figures."""
    if not isinstance(model, str) or not model.strip():
        # an InputError (a ValueError too): every surface answers it as the bad input it is (`-m ""` was a traceback)
        raise InputError("model must be a non-empty string such as 'claude-sonnet-5-5'", "model")
    key = _DECORATION.sub("", model.strip())
    with _lock:
        if key in _overrides:
            return _overrides[key]
    index = _index()
    if key in index:
        info = index[key]
        return _overrides.get(info.id, info)
    undated = _DATE_SUFFIX.sub("", key)
    if undated in index:
        base = index[undated]
        return replace(base, id=key)
    tokenizer = _guess_tokenizer(key)
    tier = "standard" if tokenizer == "v3" else "high"
    return ModelInfo(
        id=key,
        display_name=key,
        tokenizer=tokenizer,
        context_window=None,
        max_output=None,
        prices=Prices(),
        tool_overhead_auto=None,
        tool_overhead_any=None,
        image_tier=tier,
        known=False,
        uncertain=("tokenizer", "image_tier", "context_window", "price", "tool_overhead"),
    )


def _sane_tokens(value: Any) -> int | None:
    """A token limit from the API, if believable (a positive whole number below a billion): what the
    models list says is checked like any other upstream answer before it is used."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 1_000_000_000:
        return value
    return None


def update_from_api(models: list[dict[str, Any]]) -> int:
    """Apply what ``GET /v1/models`` says (context window, output cap, display name) over the data
    file. Returns how many registry records changed. Unknown ids are added with guessed fields."""
    changed = 0
    for m in models:
        mid = m.get("id")
        if not isinstance(mid, str):
            continue
        base = resolve(mid)
        name = m.get("display_name")
        new = replace(
            base,
            id=mid,
            display_name=name if isinstance(name, str) and name.strip() else base.display_name,
            context_window=_sane_tokens(m.get("max_input_tokens")) or base.context_window,
            max_output=_sane_tokens(m.get("max_tokens")) or base.max_output,
            lifecycle=base.lifecycle if base.known else "active",
        )
        if new != base:
            changed += 1
        with _lock:
            _overrides[mid] = new
    return changed
