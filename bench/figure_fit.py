"""Fitting the estimator's calibrated figures on the real counts, and leave-one-source-out.

The structural figures enter an estimate linearly (a wrapper costs its figure once per occurrence), so an
estimate is base + Σ multiplicity × figure. The multiplicities of each record are found by perturbing one
figure by +1 (only the figures the record's estimate actually read); fitting is then a small robust (L1)
regression solved by coordinate descent with weighted medians, in which each recorded conversation weighs as
one. Leave-one-source-out fits on every source but one and measures the one left out, for every source: a
figure no training record uses falls back to its prior (``prior``), so nothing measured on the held-out
source reaches its own estimate.

What the fit on every source produces is what ``models.json`` ships (``shipped``): the figures, and which of
them rest on fewer than ``MIN_COUNTS`` real counts (``few_counts``, which widens an estimate's range).
"""

from __future__ import annotations

import copy
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

from calibration_data import conversation, request_body, source

# figures fitted on counts (dotted paths into a ``framing`` object); the rest are measured by ctok
# (frames, turn markers) or published (Anthropic-defined tools, the default tool prompts)
FITTED = (
    "tools.base", "tools.join", "tool_choice_tool", "tool_choice_single",
    "tool_use.base", "tool_use.param", "tool_use.parallel_base", "tool_use.parallel_call",
    "tool_result.base", "tool_result.error", "tool_result.block", "tool_result.image", "tool_result.adjust",
    "thinking", "thinking_config.enabled", "thinking_config.adaptive", "image",
    "document", "document_field.title", "document_field.context", "search_result", "citations",
    "structured_output.base", "input_examples.base", "input_examples.per_example", "task_budget",
    "deferred_tools",
)  # fmt: skip
TOOL_PROMPTS = ("auto", "any", "tool")
FAMILIES = ("v3", "v4.7", "v4.8")
# per-model corrections, fitted for every model (0 for the family by definition), so that which models
# have one is decided by each fold's data, not by the shipped file
FAMILY_FIXED = ("tool_result.adjust",)
PRIOR_WEIGHT = 0.5  # half a conversation: a published figure yields to counts that disagree with it
#: a figure measured on fewer real counts than this is marked in models.json (``few_counts``) and widens ranges
MIN_COUNTS = 5
#: a figure with no count of its own that is assumed to cost what a sibling costs (a document's context is a
#: tagged line like its title)
SIBLINGS = {"document_field.context": "document_field.title"}
#: figures that wrap turns of the transcript: the v4.8 frame (two-token role markers) makes them smaller than
#: v3's in the ratio measured on its tool calls, so an unmeasured one is v3's scaled by that ratio
FRAME_WRAPPERS = ("tool_use", "tool_result")
#: figures that are text in the prompt, not frame: the v4.8 family shares the v4.7 vocabulary, so an
#: unmeasured one is v4.7's (itself v3's where v4.7 has no count)
Key = tuple[str, str]  # (scope: a tokenizer family or a model id, dotted path)


class _Reads(dict):
    """A figures dict that remembers which top-level figures an estimate read."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.read: set[str] = set()

    def get(self, key: Any, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: Any) -> Any:
        self.read.add(key)
        return super().__getitem__(key)


def get_path(fig: dict[str, Any], path: str) -> Any:
    top, _, sub = path.partition(".")
    value = fig.get(top)
    return (value.get(sub) if isinstance(value, dict) else None) if sub else value


def _set(fig: dict[str, Any], path: str, value: int) -> None:
    top, _, sub = path.partition(".")
    if sub:
        fig[top] = {**(fig.get(top) or {}), sub: value}
    else:
        fig[top] = value


@cache
def model_record(model_id: str) -> dict[str, Any]:
    from jupyter_token_count import registry

    for rec in registry._data()["models"]:
        if rec["id"] == model_id or model_id in rec.get("aliases", ()):
            return rec
    return {}


def scope(info: Any, path: str) -> str:
    """A model's own framing override (or tool prompt) makes a figure per model; otherwise it belongs to
    the family."""
    if path.startswith("tool_overhead."):
        return info.id
    own = model_record(info.id).get("framing") or {}
    return info.id if path in FAMILY_FIXED or get_path(own, path) is not None else info.tokenizer


def _estimate_with(body: dict[str, Any], info: Any, params: dict[Key, int]) -> tuple[int, set[str]]:
    """The estimate with figures overridden by ``params``, and the figures it read."""
    from jupyter_token_count.backends import offline
    from jupyter_token_count.registry import estimator_figures

    fig = _Reads(copy.deepcopy(estimator_figures(info)))
    for path in FITTED:
        key = (scope(info, path), path)
        if key in params:
            _set(fig, path, params[key])
    prompts = {k: params.get((info.id, f"tool_overhead.{k}")) for k in TOOL_PROMPTS}
    info = replace(
        info,
        tool_overhead_auto=prompts["auto"] if prompts["auto"] is not None else info.tool_overhead_auto,
        tool_overhead_any=prompts["any"] if prompts["any"] is not None else info.tool_overhead_any,
        tool_overhead_tool=prompts["tool"] if prompts["tool"] is not None else info.tool_overhead_tool,
    )
    saved = offline.estimator_figures
    offline.estimator_figures = lambda _info: fig  # type: ignore[assignment]
    try:
        fig.read.clear()
        return offline.estimate(body, info).input_tokens, set(fig.read)
    finally:
        offline.estimator_figures = saved  # type: ignore[assignment]


def current_figures(info: Any) -> dict[Key, int]:
    """The shipped value of every fitted figure that applies to ``info`` (a model's own forced-tool prompt only
    where it ships one: otherwise naming a tool uses the ``any`` prompt)."""
    from jupyter_token_count.registry import estimator_figures

    fig = estimator_figures(info)
    out: dict[Key, int] = {}
    for path in FITTED:
        value = get_path(fig, path)
        if isinstance(value, int):
            out[(scope(info, path), path)] = value
    if info.known:
        out[(info.id, "tool_overhead.auto")] = info.tool_overhead_auto or 0
        out[(info.id, "tool_overhead.any")] = info.tool_overhead_any or 0
        if info.tool_overhead_tool is not None:
            out[(info.id, "tool_overhead.tool")] = info.tool_overhead_tool
    return out


def registry_figures() -> dict[Key, int]:
    """The shipped value of every fitted figure of every model in the registry."""
    from jupyter_token_count import registry

    out: dict[Key, int] = {}
    for info in registry.all_models(include_retired=True):
        out.update(current_figures(info))
    return out


def _family_rank(scope_: str) -> int:
    return FAMILIES.index(scope_) if scope_ in FAMILIES else len(FAMILIES)


def prior(key: Key, fitted: dict[Key, int], used: set[Key] | None = None) -> int:
    """What a figure falls back to when no training record uses it: the published size of a model's tool
    prompt (``any`` for naming a tool), the family's figure for a model's own, a sibling's figure, and for a
    newer tokenizer family the related family's (``SIBLINGS``, ``FRAME_WRAPPERS``); else 0."""
    scope_, path = key
    used = used if used is not None else set()
    if path.startswith("tool_overhead."):
        rec = model_record(scope_).get("tool_overhead") or {}
        published = rec.get("published") or {}
        which = path.split(".")[1]
        if which == "tool":  # no published figure of its own: the "any" prompt
            return fitted.get((scope_, "tool_overhead.any"), published.get("any", rec.get("any", 0)))
        return int(published.get(which, rec.get(which, 0)) or 0)
    if scope_ not in FAMILIES:  # a model's own override: its family's figure (0 for a per-model correction)
        from jupyter_token_count.registry import resolve

        return 0 if path in FAMILY_FIXED else fitted.get((resolve(scope_).tokenizer, path), 0)
    if path in SIBLINGS and (scope_, SIBLINGS[path]) in fitted:
        return fitted[(scope_, SIBLINGS[path])]
    top = path.split(".")[0]
    if scope_ == "v4.8" and top in FRAME_WRAPPERS:
        base = fitted.get(("v3", path), 0)
        measured = [
            (fitted[("v4.8", p)], fitted[("v3", p)])
            for p in ("tool_use.base", "tool_result.base")
            if ("v4.8", p) in used and fitted.get(("v3", p))
        ]
        if measured:
            return round(base * sum(a for a, _ in measured) / sum(b for _, b in measured))
        return base
    if scope_ == "v4.8":
        return fitted.get(("v4.7", path), fitted.get(("v3", path), 0))
    if scope_ == "v4.7":
        return fitted.get(("v3", path), 0)
    return 0


@dataclass
class Design:
    """Per labelled record: the estimate at the shipped figures and how it moves with each figure."""

    records: list[dict[str, Any]]
    base: list[int]
    mult: list[dict[Key, int]]
    start: dict[Key, int]

    def __post_init__(self) -> None:
        self.convo = [conversation(r) for r in self.records]


def design(records: list[dict[str, Any]]) -> Design:
    from jupyter_token_count.registry import resolve

    base, mult, start = [], [], {}
    for rec in records:
        info = resolve(rec["model"])
        cur = current_figures(info)
        start.update(cur)
        body = request_body(rec)
        est, read = _estimate_with(body, info, cur)
        m: dict[Key, int] = {}
        for key, value in cur.items():
            top = key[1].split(".")[0]
            if top not in read and not (top == "tool_overhead" and body.get("tools")):
                continue
            n = _estimate_with(body, info, {**cur, key: value + 1})[0] - est
            if n:
                m[key] = n
        base.append(est)
        mult.append(m)
    return Design(records, base, mult, start)


def predict(d: Design, i: int, params: dict[Key, int], base: list[int] | None = None) -> int:
    """Record ``i``'s estimate with the figures ``params`` (``base``: the estimates at the shipped figures made
    another way, e.g. by the fallback estimator; the figures' multiplicities are the same)."""
    b = (base or d.base)[i]
    return b + sum(n * (params[k] - d.start[k]) for k, n in d.mult[i].items())


def _weighted_median(pairs: list[tuple[float, float]]) -> float:
    pairs.sort()
    half = sum(w for _, w in pairs) / 2
    acc = 0.0
    for value, w in pairs:
        acc += w
        if acc >= half:
            return value
    return pairs[-1][0]


def used_keys(d: Design, train: Iterable[int]) -> set[Key]:
    """The figures some training record measures (a family's per-model correction is 0 by definition)."""
    return {k for i in train for k in d.mult[i] if k[1] not in FAMILY_FIXED or k[0] not in FAMILIES}


def fit(d: Design, train: list[int], sweeps: int = 6, start: dict[Key, int] | None = None) -> dict[Key, int]:
    """L1 fit of every figure some training record uses; the others take their prior (``start``: every
    figure to produce, by default the design's). Each recorded conversation weighs as one, however many of
    its growing prefixes were recorded."""
    used = used_keys(d, train)
    size: dict[str, int] = defaultdict(int)
    for i in train:
        size[d.convo[i]] += 1
    params = {**(start or {}), **d.start}
    order = sorted(used, key=lambda k: (_family_rank(k[0]), k))
    for _ in range(sweeps):
        for key in order:
            pairs = []
            for i in train:
                n = d.mult[i].get(key)
                if n:
                    resid = d.records[i]["input_tokens"] - predict(d, i, params)
                    pairs.append((params[key] + resid / n, abs(n) / size[d.convo[i]]))
            if key[1].startswith("tool_overhead.") or key[0] not in FAMILIES:
                # a published tool prompt, or the family's figure for one model's own, is evidence too
                pairs.append((float(prior(key, params, used)), PRIOR_WEIGHT))
            params[key] = round(_weighted_median(pairs))
    for key in sorted(set(params) - used, key=lambda k: (_family_rank(k[0]), k)):
        params[key] = prior(key, params, used)
    return params


def support(d: Design, train: Iterable[int]) -> Counter[Key]:
    """How many training records measure each figure."""
    out: Counter[Key] = Counter()
    for i in train:
        for k in d.mult[i]:
            out[k] += 1
    return out


def thin_paths(info: Any, uses: Iterable[str], counts: Counter[Key], params: dict[Key, int]) -> dict[str, int]:
    """Which figures (runtime paths) an estimate for ``info`` charged rest on fewer than ``MIN_COUNTS``
    counts, and on how many: the fitted ones by ``counts``, a per-model correction only where one applies, and
    a guessed tool prompt always (on none)."""
    out = {}
    for path in uses:
        if path.startswith("tool_overhead_default."):
            out[path] = 0
            continue
        if path not in FITTED and not path.startswith("tool_overhead."):
            continue
        key = (scope(info, path), path)
        if path in FAMILY_FIXED and not params.get(key):
            continue
        if counts.get(key, 0) < MIN_COUNTS:
            out[path] = counts.get(key, 0)
    return out


def sources_of(d: Design) -> dict[str, list[int]]:
    out: dict[str, list[int]] = defaultdict(list)
    for i, rec in enumerate(d.records):
        out[source(rec)].append(i)
    return dict(out)


def leave_one_source_out(d: Design) -> list[tuple[dict[str, Any], int, float]]:
    """Every record estimated with figures fitted on the other sources only."""
    rows: list[tuple[dict[str, Any], int, float]] = [None] * len(d.records)  # type: ignore[list-item]
    for held in sources_of(d).values():
        held_set = set(held)
        params = fit(d, [i for i in range(len(d.records)) if i not in held_set])
        for i in held:
            est = predict(d, i, params)
            real = d.records[i]["input_tokens"]
            rows[i] = (d.records[i], est, 100.0 * (est - real) / max(1, real))
    return rows
