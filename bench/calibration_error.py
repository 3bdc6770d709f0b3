"""How far the offline estimator is from real counts.

Reads ``../shared/calibration/`` relative to the project root (real ``input_tokens`` recorded from the
API, see that folder's README) when it is present, estimates every labelled request with the real
estimator, and prints the absolute error in percent (median, p90), the share exact to ±1 token and the
share within 2%, sliced by feature group, tokenizer family and tag, once with ctok and once with the
fallback heuristic. It also estimates every unlabelled request and reports any that raise, and (ctok only)
refits the calibrated figures leave-one-source-out: for each source, fit on all the others and measure it,
printed next to the figures fitted on everything (``--no-loso`` skips that).

Calibration images carry only their size (``_image``); a synthetic image of that size and type stands
in for the bytes. Prints figures, not pass/fail.

    python bench/calibration_error.py [--calibration DIR] [--estimator ctok|fallback|both] [--worst N] [--no-loso]
"""

from __future__ import annotations

import argparse
import base64
import copy
import io
import json
import math
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = ROOT.parent / "shared" / "calibration"
LABELLED = ("real_counts.jsonl", "real_counts_images.jsonl")
UNLABELLED = ("unlabelled_requests.jsonl", "unlabelled_requests_images.jsonl")
ENV = "JUPYTER_TOKEN_COUNT_ESTIMATOR"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# ---- records ------------------------------------------------------------------------------------------


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


@cache
def synthetic_image(width: int, height: int, media_type: str) -> str:
    """Base64 of a plain image of the given size: only the dimensions matter to the count."""
    from PIL import Image

    fmt = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/webp": "WEBP"}.get(media_type, "PNG")
    buf = io.BytesIO()
    Image.new("RGB", (max(1, width), max(1, height)), (128, 128, 128)).save(buf, format=fmt)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def with_images(body: Any) -> Any:
    """A copy of ``body`` where every block with ``_image`` carries a synthetic image of that size."""
    if isinstance(body, list):
        return [with_images(x) for x in body]
    if not isinstance(body, dict):
        return body
    out = {k: with_images(v) for k, v in body.items() if k != "_image"}
    meta = body.get("_image")
    if isinstance(meta, dict) and isinstance(out.get("source"), dict):
        media = out["source"].get("media_type") or meta.get("media_type_declared") or "image/png"
        out["source"] = {
            **out["source"],
            "data": synthetic_image(int(meta["width"]), int(meta["height"]), media),
        }
    return out


def request_body(rec: dict[str, Any]) -> dict[str, Any]:
    body = with_images(copy.deepcopy(rec["request"]))
    body["model"] = rec["model"]
    return body


def group(rec: dict[str, Any]) -> str:
    tags = set(rec.get("tags", ()))
    if "image" in tags:
        return "with images"
    req = rec["request"]
    if req.get("tools") or "history_tool_use" in tags or "history_tool_result" in tags:
        return "with tools"
    return "text-only"


def source(rec: dict[str, Any]) -> str:
    """The project a record was mined from (its id's prefix), for slicing: figures calibrated mostly on
    one source should hold on the others."""
    rid = str(rec.get("id", "")).removeprefix("img-")
    return rid.rsplit("-", 1)[0] if "-" in rid else rid


def load(directory: Path, names: Iterable[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name in names:
        path = directory / name
        if path.exists():
            out.extend(read_jsonl(path))
    return out


# ---- measuring ----------------------------------------------------------------------------------------


def estimate_record(rec: dict[str, Any]) -> int:
    from jupyter_token_count.backends import offline
    from jupyter_token_count.registry import resolve

    return offline.estimate(request_body(rec), resolve(rec["model"])).input_tokens


def errors(records: list[dict[str, Any]]) -> list[tuple[dict[str, Any], int, float]]:
    """(record, estimate, signed error in % of the real count) per labelled record."""
    out = []
    for rec in records:
        est = estimate_record(rec)
        real = rec["input_tokens"]
        out.append((rec, est, 100.0 * (est - real) / max(1, real)))
    return out


def summary(rows: list[tuple[dict[str, Any], int, float]]) -> dict[str, float]:
    if not rows:
        return {}
    abs_pct = sorted(abs(e) for _, _, e in rows)
    p90 = abs_pct[min(len(abs_pct) - 1, math.ceil(0.9 * len(abs_pct)) - 1)]
    exact = sum(1 for rec, est, _ in rows if abs(est - rec["input_tokens"]) <= 1)
    within2 = sum(1 for x in abs_pct if x <= 2.0)
    exact_conf = [r for r in rows if r[0].get("confidence") == "exact"]
    return {
        "n": len(rows),
        "median": statistics.median(abs_pct),
        "p90": p90,
        "exact": 100.0 * exact / len(rows),
        "within2": 100.0 * within2 / len(rows),
        "median_exact_conf": statistics.median(abs(e) for _, _, e in exact_conf) if exact_conf else float("nan"),
        "bias": statistics.median(e for _, _, e in rows),
    }


def _line(label: str, s: dict[str, float]) -> str:
    if not s:
        return f"  {label:<34} (none)"
    return (
        f"  {label:<34} n={int(s['n']):>4}  median {s['median']:5.2f}%  p90 {s['p90']:6.2f}%  "
        f"exact±1 {s['exact']:5.1f}%  within2% {s['within2']:5.1f}%  signed median {s['bias']:+5.2f}%  "
        f"(median on confidence=exact: {s['median_exact_conf']:.2f}%)"
    )


def report(rows: list[tuple[dict[str, Any], int, float]], worst: int) -> None:
    from jupyter_token_count.registry import resolve

    print(_line("ALL", summary(rows)))
    by_group: dict[str, list] = defaultdict(list)
    by_family: dict[str, list] = defaultdict(list)
    by_tag: dict[str, list] = defaultdict(list)
    by_source: dict[str, list] = defaultdict(list)
    for row in rows:
        rec = row[0]
        by_group[group(rec)].append(row)
        by_source[source(rec)].append(row)
        by_family[resolve(rec["model"]).tokenizer].append(row)
        for tag in rec.get("tags", ()):
            by_tag[tag].append(row)
    print(" by group:")
    for g in ("text-only", "with tools", "with images"):
        print(_line(g, summary(by_group.get(g, []))))
    print(" by tokenizer family:")
    for fam in sorted(by_family):
        print(_line(fam, summary(by_family[fam])))
    print(" by source (the test suite or notebook a record was mined from):")
    for src in sorted(by_source, key=lambda t: -len(by_source[t])):
        print(_line(src, summary(by_source[src])))
    print(" by tag:")
    for tag in sorted(by_tag, key=lambda t: -len(by_tag[t])):
        print(_line(tag, summary(by_tag[tag])))
    if worst:
        print(f" {worst} largest errors:")
        for rec, est, e in sorted(rows, key=lambda r: -abs(r[2]))[:worst]:
            print(
                f"  {e:+7.2f}%  est {est:>7} real {rec['input_tokens']:>7}  {rec['model']:<28} {rec['id']}  "
                f"{','.join(rec.get('tags', []))}"
            )


# ---- fitting the calibrated figures, and leave-one-source-out ------------------------------------------
#
# The structural figures enter an estimate linearly (a wrapper costs its figure once per occurrence), so
# an estimate is base + Σ multiplicity × figure. The multiplicities of each record are found by
# perturbing one figure by +1 (only the figures the record's estimate actually read); fitting is then a
# small robust (L1) regression solved by coordinate descent with weighted medians. Leave-one-source-out
# fits on every source but one and measures the one left out, for every source: a figure no training
# record uses falls back to its prior (the published figure for a model's tool prompt, the fold's v3
# figure for one carried over to a newer tokenizer, else 0), so nothing measured on the held-out
# source reaches its own estimate.

# figures fitted on counts (dotted paths into a ``framing`` object); the rest are measured by ctok
# (frames, turn markers) or published (Anthropic-defined tools, the default tool prompts)
FITTED = (
    "tools.base", "tools.join", "tool_choice_tool",
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
PRIOR_WEIGHT = 1.0  # one conversation's worth of weight given to a published figure in a fit

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


def _get(fig: dict[str, Any], path: str) -> Any:
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
def _model_record(model_id: str) -> dict[str, Any]:
    from jupyter_token_count import registry

    for rec in registry._data()["models"]:
        if rec["id"] == model_id or model_id in rec.get("aliases", ()):
            return rec
    return {}


def _scope(info: Any, path: str) -> str:
    """A model's own framing override makes a figure per model; otherwise it belongs to the family."""
    own = _model_record(info.id).get("framing") or {}
    return info.id if path in FAMILY_FIXED or _get(own, path) is not None else info.tokenizer


def _estimate_with(body: dict[str, Any], info: Any, params: dict[Key, int]) -> tuple[int, set[str]]:
    """The estimate with figures overridden by ``params``, and the figures it read."""
    from dataclasses import replace

    from jupyter_token_count.backends import offline
    from jupyter_token_count.registry import estimator_figures

    fig = _Reads(copy.deepcopy(estimator_figures(info)))
    for path in FITTED:
        key = (_scope(info, path), path)
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
    """The shipped value of every fitted figure that applies to ``info``."""
    from jupyter_token_count.registry import estimator_figures

    fig = estimator_figures(info)
    out: dict[Key, int] = {}
    for path in FITTED:
        value = _get(fig, path)
        if isinstance(value, int):
            out[(_scope(info, path), path)] = value
    out[(info.id, "tool_overhead.auto")] = info.tool_overhead_auto or 0
    out[(info.id, "tool_overhead.any")] = info.tool_overhead_any or 0
    out[(info.id, "tool_overhead.tool")] = (
        info.tool_overhead_tool if info.tool_overhead_tool is not None else info.tool_overhead_any or 0
    )
    return out


def prior(key: Key, fitted: dict[Key, int]) -> int:
    """What a figure falls back to when no training record uses it."""
    from jupyter_token_count.registry import resolve

    scope, path = key
    if path.startswith("tool_overhead."):
        rec = _model_record(scope).get("tool_overhead") or {}
        published = rec.get("published") or {}
        which = path.split(".")[1]
        if which == "tool":  # no published figure of its own: the "any" prompt
            return fitted.get((scope, "tool_overhead.any"), published.get("any", rec.get("any", 0)))
        return int(published.get(which, rec.get(which, 0)) or 0)
    if scope not in FAMILIES:  # a model's own override: its family's figure
        return fitted.get((resolve(scope).tokenizer, path), 0)
    from jupyter_token_count.registry import tokenizer_data

    if path.split(".")[0] in (tokenizer_data(scope).get("framing", {}).get("carried_over") or ()):
        return fitted.get(("v3", path), 0)
    return 0


class Design:
    """Per labelled record: the estimate at the shipped figures and how it moves with each figure."""

    def __init__(
        self,
        records: list[dict[str, Any]],
        base: list[int],
        mult: list[dict[Key, int]],
        start: dict[Key, int],
    ) -> None:
        self.records, self.base, self.mult, self.start = records, base, mult, start
        self.convo = [conversation(r) for r in records]


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


def _predict(d: Design, i: int, params: dict[Key, int]) -> int:
    return d.base[i] + sum(n * (params[k] - d.start[k]) for k, n in d.mult[i].items())


def _weighted_median(pairs: list[tuple[float, float]]) -> float:
    pairs.sort()
    half = sum(w for _, w in pairs) / 2
    acc = 0.0
    for value, w in pairs:
        acc += w
        if acc >= half:
            return value
    return pairs[-1][0]


def conversation(rec: dict[str, Any]) -> str:
    """Records of one recorded conversation (a test that loops, re-sending a growing history) share
    their source, model, tools and first message."""
    req = rec["request"]
    msgs = req.get("messages") or [{}]
    tools = [t.get("name") for t in req.get("tools") or [] if isinstance(t, dict)]
    return json.dumps([source(rec), rec["model"], tools, msgs[0]], sort_keys=True, default=str)


def fit(d: Design, train: list[int], sweeps: int = 6) -> dict[Key, int]:
    """L1 fit of every figure some training record uses; the others take their prior. Each recorded
    conversation weighs as one, however many of its growing prefixes were recorded."""
    used = {k for i in train for k in d.mult[i] if k[1] not in FAMILY_FIXED or k[0] not in FAMILIES}
    size: dict[str, int] = defaultdict(int)
    for i in train:
        size[d.convo[i]] += 1
    params = dict(d.start)
    order = sorted(used, key=lambda k: (k[0] not in ("v3",), k[0] in ("v4.7", "v4.8"), k))
    for _ in range(sweeps):
        for key in order:
            pairs = []
            for i in train:
                n = d.mult[i].get(key)
                if n:
                    resid = d.records[i]["input_tokens"] - _predict(d, i, params)
                    pairs.append((params[key] + resid / n, abs(n) / size[d.convo[i]]))
            if key[1].startswith("tool_overhead.") or key[0] not in FAMILIES:
                # a published tool prompt, or the family's figure for one model's own, is evidence too
                pairs.append((float(prior(key, params)), PRIOR_WEIGHT))
            params[key] = round(_weighted_median(pairs))
    for key in sorted(set(d.start) - used, key=lambda k: k[0] in ("v4.7", "v4.8")):
        params[key] = prior(key, params)
    return params


def leave_one_source_out(d: Design) -> list[tuple[dict[str, Any], int, float]]:
    """Every record estimated with figures fitted on the other sources only."""
    sources: dict[str, list[int]] = defaultdict(list)
    for i, rec in enumerate(d.records):
        sources[source(rec)].append(i)
    rows: list[tuple[dict[str, Any], int, float]] = [None] * len(d.records)  # type: ignore[list-item]
    for held in sources.values():
        held_set = set(held)
        params = fit(d, [i for i in range(len(d.records)) if i not in held_set])
        for i in held:
            est = _predict(d, i, params)
            real = d.records[i]["input_tokens"]
            rows[i] = (d.records[i], est, 100.0 * (est - real) / max(1, real))
    return rows


def report_loso(d: Design, fitted_rows: list[tuple[dict[str, Any], int, float]]) -> None:
    loso = leave_one_source_out(d)
    print(" leave-one-source-out (figures fitted on all sources but one, measured on the one left out):")
    print(f"  {'':<34} {'fitted on all':>34}   {'left out':>34}")
    for label, pick in (
        ("ALL", lambda r: True),
        ("text-only", lambda r: group(r) == "text-only"),
        ("with tools", lambda r: group(r) == "with tools"),
        ("with images", lambda r: group(r) == "with images"),
    ):
        a = summary([row for row in fitted_rows if pick(row[0])])
        b = summary([row for row in loso if pick(row[0])])
        print(
            f"  {label:<34} n={int(a['n']):>4}  exact±1 {a['exact']:5.1f}%  p90 {a['p90']:5.2f}%   "
            f"exact±1 {b['exact']:5.1f}%  p90 {b['p90']:5.2f}%  median {b['median']:4.2f}%"
        )
    print("  by source left out:")
    by_source: dict[str, list] = defaultdict(list)
    for row in loso:
        by_source[source(row[0])].append(row)
    for src in sorted(by_source, key=lambda t: -len(by_source[t])):
        s = summary(by_source[src])
        print(f"    {src:<32} n={int(s['n']):>4}  exact±1 {s['exact']:5.1f}%  p90 {s['p90']:6.2f}%")
    params = fit(d, list(range(len(d.records))))
    used = {k for m in d.mult for k in m}
    moved = {k: (d.start[k], v) for k, v in params.items() if v != d.start[k] and k in used}
    if moved:
        print("  figures a fit on all sources would move (shipped → fitted):")
        for (scope, path), (old, new) in sorted(moved.items()):
            print(f"    {scope:<28} {path:<28} {old:>6} → {new}")


def check_unlabelled(records: list[dict[str, Any]]) -> tuple[int, list[str]]:
    failures = []
    for rec in records:
        try:
            estimate_record(rec)
        except Exception as exc:  # the point is to find these
            failures.append(f"{rec.get('id')}: {type(exc).__name__}: {exc}")
    return len(records), failures


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--calibration", type=Path, default=DEFAULT_DIR, help=f"folder of jsonl files (default {DEFAULT_DIR})"
    )
    ap.add_argument("--estimator", choices=("ctok", "fallback", "both"), default="both")
    ap.add_argument("--worst", type=int, default=10, help="list the N largest errors (default 10)")
    ap.add_argument("--no-loso", dest="loso", action="store_false", help="skip the leave-one-source-out validation")
    args = ap.parse_args(argv)

    directory: Path = args.calibration
    if not directory.is_dir() or not (directory / LABELLED[0]).exists():
        print(f"calibration data not found at {directory}: nothing to measure (skipped)")
        return 0
    labelled = load(directory, LABELLED)
    unlabelled = load(directory, UNLABELLED)
    print(f"calibration data: {directory} ({len(labelled)} labelled, {len(unlabelled)} unlabelled requests)")

    from jupyter_token_count.backends.offline import text as textmod

    modes = ("ctok", "fallback") if args.estimator == "both" else (args.estimator,)
    saved = os.environ.get(ENV)
    try:
        for mode in modes:
            if mode == "fallback":
                os.environ[ENV] = "fallback"
            else:
                os.environ.pop(ENV, None)
                if not textmod.using_ctok():
                    print("\n== ctok: not importable here, skipped ==")
                    continue
            from jupyter_token_count.backends.offline import estimator_name

            print(f"\n== estimator: {estimator_name()} ==")
            t0 = time.perf_counter()
            rows = errors(labelled)
            dt = time.perf_counter() - t0
            report(rows, args.worst)
            if mode == "ctok" and args.loso:
                report_loso(design(labelled), rows)
            n, failures = check_unlabelled(unlabelled)
            print(f" unlabelled requests: {n} estimated, {len(failures)} raised  ({dt:.1f} s for the labelled set)")
            for f in failures[:20]:
                print(f"  ! {f}")
    finally:
        if saved is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = saved
    return 0


if __name__ == "__main__":
    sys.exit(main())
