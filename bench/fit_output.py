"""What the fit on the real counts produces, and where it lives in ``models.json``.

``Analysis`` holds the per-record facts (the estimate's multiplicities, the figures it charged, the fallback
estimate) and the leave-one-source-out folds; from them come the shipped figures (fitted on every source), the
``few_counts`` marks, the range's coefficients (fitted on leave-one-source-out errors) and the nested
measure of the range (for each source, a range fitted without it, applied to it). ``plan`` turns them into
the values ``models.json`` must hold; ``differences`` lists where it does not, ``apply`` writes them.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import range_fit
from calibration_data import kind, request_body, source
from figure_fit import (
    FAMILIES,
    FAMILY_FIXED,
    FITTED,
    MIN_COUNTS,
    Design,
    Key,
    design,
    fit,
    get_path,
    model_record,
    predict,
    registry_figures,
    scope,
    sources_of,
    support,
    thin_paths,
)
from json_edit import JsonText

ENV = "JUPYTER_TOKEN_COUNT_ESTIMATOR"
JsonPath = tuple[str | int, ...]
SIZE_BANDS = ((100, "under 100 tokens"), (1000, "100–1k tokens"), (10_000, "1k–10k tokens"), (None, "10k+ tokens"))
#: slices in the order the tables show them
KINDS = ("text", "structured output", "thinking", "documents", "tools", "images", "PDFs")


def size_band(n: int) -> str:
    return next(label for top, label in SIZE_BANDS if top is None or n < top)


@dataclass
class Probe:
    """What one record's estimate at the shipped figures charged (``Estimate.uses`` / ``raw``)."""

    uses: dict[str, int]
    charged: dict[str, int]
    raw: dict[str, float]
    known: bool
    info: Any


def _probe(rec: dict[str, Any]) -> tuple[Probe, int]:
    from jupyter_token_count.backends import offline
    from jupyter_token_count.registry import resolve

    info = resolve(rec["model"])
    est = offline.estimate(request_body(rec), info)
    return Probe(est.uses, est.charged, est.raw, info.known, info), est.input_tokens


def with_estimator(mode: str, fn: Callable[[], Any]) -> Any:
    """``fn()`` with the text tokenized by ctok (``mode="ctok"``) or by the fallback heuristic."""
    saved = os.environ.get(ENV)
    if mode == "fallback":
        os.environ[ENV] = "fallback"
    else:
        os.environ.pop(ENV, None)
    try:
        return fn()
    finally:
        if saved is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = saved


class Analysis:
    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records
        self.d: Design = with_estimator("ctok", lambda: design(records))
        self.probes = [with_estimator("ctok", lambda r=r: _probe(r)[0]) for r in records]
        self.base = {"ctok": self.d.base, "fallback": with_estimator("fallback", self._bases)}
        self.everything = list(range(len(records)))
        self.start = {**registry_figures(), **self.d.start}
        self.sources = sources_of(self.d)
        self._fits: dict[frozenset[str], dict[Key, int]] = {}

    def _bases(self) -> list[int]:
        return [_probe(r)[1] for r in self.records]

    def without(self, *left_out: str) -> list[int]:
        drop = set(left_out)
        return [i for i in self.everything if source(self.records[i]) not in drop]

    def params(self, *left_out: str) -> dict[Key, int]:
        """The figures fitted on every source but ``left_out`` (memoised)."""
        key = frozenset(left_out)
        if key not in self._fits:
            self._fits[key] = fit(self.d, self.without(*left_out), start=self.start)
        return self._fits[key]

    # -- rows for the range ------------------------------------------------------------------------------
    def row(self, i: int, estimator: str, params: dict[Key, int], counts: Counter[Key]) -> range_fit.Row:
        from jupyter_token_count.backends.offline import ranges

        rec, probe = self.records[i], self.probes[i]
        est = predict(self.d, i, params, self.base[estimator])
        thin = thin_paths(probe.info, probe.uses, counts, params)
        feats = ranges.features(est, probe.uses, probe.charged, probe.raw, thin, known=probe.known)
        slices = ("all", kind(rec), f"{probe.info.tokenizer} family", size_band(rec["input_tokens"]))
        if thin:
            slices += ("few-count figures",)
        return range_fit.Row(rec, est, rec["input_tokens"], feats, slices)

    def loso_rows(self, estimator: str, *also_out: str) -> list[range_fit.Row]:
        """Every record (but those of ``also_out``) estimated without its own source (and ``also_out``)."""
        rows = []
        for src, idx in self.sources.items():
            if src in also_out:
                continue
            params = self.params(src, *also_out)
            counts = support(self.d, self.without(src, *also_out))
            rows.extend(self.row(i, estimator, params, counts) for i in idx)
        return rows

    def coefficients(self, estimator: str) -> dict[str, dict[str, float]]:
        priors = range_fit.PRIORS if estimator == "ctok" else range_fit.FALLBACK_PRIORS
        return range_fit.fit_coefficients(
            self.loso_rows(estimator), priors, tau=self.tau(estimator), target=range_fit.KIND_TARGET[estimator]
        )

    @staticmethod
    def tau(estimator: str) -> float:
        return range_fit.TAU if estimator == "ctok" else range_fit.FALLBACK_TAU

    def nested(self, estimator: str) -> tuple[list[range_fit.Row], list[tuple[int, int]]]:
        """Every record with the range fitted without its source: the honest measure of the range."""
        priors = range_fit.PRIORS if estimator == "ctok" else range_fit.FALLBACK_PRIORS
        rows: list[range_fit.Row] = []
        ranges: list[tuple[int, int]] = []
        for src, idx in self.sources.items():
            coefficients = range_fit.fit_coefficients(
                self.loso_rows(estimator, src), priors, tau=self.tau(estimator), target=range_fit.KIND_TARGET[estimator]
            )
            params, counts = self.params(src), support(self.d, self.without(src))
            for i in idx:
                row = self.row(i, estimator, params, counts)
                rows.append(row)
                ranges.append(range_fit.interval(row, coefficients))
        return rows, ranges


# ---- the shipped values ----------------------------------------------------------------------------------


def _model_index() -> dict[str, int]:
    from jupyter_token_count import registry

    return {rec["id"]: n for n, rec in enumerate(registry._data()["models"])}


def _location(key: Key, index: dict[str, int]) -> JsonPath:
    scope_, path = key
    parts: tuple[str, ...] = tuple(path.split("."))
    if scope_ in FAMILIES:
        return ("tokenizers", scope_, "framing", *parts)
    if path.startswith("tool_overhead."):
        return ("models", index[scope_], *parts)
    return ("models", index[scope_], "framing", *parts)


def plan(a: Analysis) -> tuple[dict[JsonPath, Any], list[JsonPath]]:
    """(the value every fitted place in models.json must hold, the places that must not exist)."""
    from jupyter_token_count import registry

    params = a.params()
    counts = support(a.d, a.everything)
    index = _model_index()
    values: dict[JsonPath, Any] = {}
    absent: list[JsonPath] = []
    family_value = {k: v for k, v in params.items() if k[0] in FAMILIES}
    for key, value in sorted(params.items()):
        scope_, path = key
        if scope_ not in FAMILIES and scope_ not in index:
            continue  # a dated id of a registry model resolves to it
        if scope_ not in FAMILIES and not path.startswith("tool_overhead."):
            # a model's own figure is written only where it differs from what it would otherwise get
            default = 0 if path in FAMILY_FIXED else family_value.get((registry.resolve(scope_).tokenizer, path))
            own = get_path(model_record(scope_).get("framing") or {}, path) is not None
            if value == default:
                if own:
                    absent.append(_location(key, index))
                continue
        if scope_ in FAMILIES and path in FAMILY_FIXED:
            continue
        values[_location(key, index)] = value
    # few counts: per family (its fitted figures and the guessed default tool prompts), per model (its own)
    for fam in FAMILIES:
        fig = registry.tokenizer_data(fam).get("framing", {})
        marks = {
            path: counts.get((fam, path), 0)
            for path in FITTED
            if path not in FAMILY_FIXED
            and isinstance(get_path(fig, path), int)
            and counts.get((fam, path), 0) < MIN_COUNTS
        }
        marks.update(
            {
                f"tool_overhead_default.{k}": 0
                for k in ("auto", "any")
                if get_path(fig, f"tool_overhead_default.{k}") is not None
            }
        )
        values[("tokenizers", fam, "framing", "few_counts")] = dict(sorted(marks.items()))
        carried = sorted(
            {p.split(".")[0] for p in FITTED if (fam, p) in params}
            - {p.split(".")[0] for p in FITTED if counts.get((fam, p), 0)}
        )
        if fam != "v3":
            values[("tokenizers", fam, "framing", "carried_over")] = carried
    for rec in registry._data()["models"]:
        info = registry.resolve(rec["id"])
        marks = {}
        for key, value in params.items():
            if key[0] != rec["id"]:
                continue
            path = key[1]
            if not path.startswith("tool_overhead."):
                if path in FAMILY_FIXED and not value:
                    continue
                if (
                    scope(info, path) != rec["id"]
                    and ("models", index[rec["id"]], "framing", *path.split(".")) not in values
                ):
                    continue
            if counts.get(key, 0) < MIN_COUNTS:
                marks[path] = counts.get(key, 0)
        if marks:
            values[("models", index[rec["id"]], "few_counts")] = dict(sorted(marks.items()))
        else:
            absent.append(("models", index[rec["id"]], "few_counts"))
    values[("estimate_ranges",)] = {
        "_source": (
            "written by bench/calibration_error.py --write: the offline estimate's range (backends/offline/ranges.py). "
            "Distances below and above the estimate are sums of coefficient x feature, fitted as the "
            f"{range_fit.TAU:.0%} quantile ({range_fit.FALLBACK_TAU:.0%} for the fallback) of each side of the "
            "leave-one-source-out errors on the real counts, per kind of request where a kind has "
            f"{range_fit.GROUP_MIN}+ counts (by_kind), plus a margin per kind (pad); features on fewer than "
            f"{range_fit.MIN_COUNTS} counts keep the script's declared priors. Meant to hold the real count 9 times "
            "in 10."
        ),
        "ctok": with_estimator("ctok", lambda: a.coefficients("ctok")),
        "fallback": with_estimator("fallback", lambda: a.coefficients("fallback")),
    }
    return values, absent


def differences(text: str, values: dict[JsonPath, Any], absent: Sequence[JsonPath]) -> list[str]:
    doc = JsonText(text)
    out = []
    for path, value in values.items():
        shipped = doc.get(path)
        if shipped != value:
            out.append(f"{_name(path)}: shipped {_short(shipped)}, the fit produces {_short(value)}")
    for path in absent:
        if doc.get(path) is not None:
            out.append(f"{_name(path)}: shipped {_short(doc.get(path))}, the fit produces none")
    return out


def apply(text: str, values: dict[JsonPath, Any], absent: Sequence[JsonPath]) -> str:
    doc = JsonText(text)
    for path in absent:
        doc.delete(path)
        parent = doc.get(path[:-1])
        if isinstance(parent, dict) and not parent and path[-2] not in ("framing",):
            doc.delete(path[:-1])  # an emptied group goes too
    for path, value in values.items():
        if doc.get(path) != value:
            for depth in range(1, len(path)):  # parents that do not exist yet
                if doc.get(path[:depth]) is None:
                    doc.set(path[:depth], {})
            doc.set(path, value)
    return doc.text


def _name(path: JsonPath) -> str:
    from jupyter_token_count import registry

    if path[0] == "models":
        return f"{registry._data()['models'][int(path[1])]['id']}: " + ".".join(str(p) for p in path[2:])
    return ".".join(str(p) for p in path)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "…"
