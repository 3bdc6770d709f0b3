"""One partition of a job: rows → offline estimates → a small summary that merges with the others' (``Partial``).

The same function runs in this process, in the worker processes of a local job and on the Dask workers of a
cluster, so every way of running a job gives the same numbers. A summary never holds every row: sums, a
histogram with 1 % bins per model, the few rows an exact count may need (with their bodies), the first bad rows,
and the rows near a context window. Merging is associative and commutative; which rows are kept depends only on
the rows themselves and the seed, never on how the job was cut into partitions.

Which rows are kept for exact counts:
- the heaviest (largest offline estimate; ties by row number);
- for each kind of request (``kind_of``: the strata of ``calibrate``), a simple random sample: each row's
  sampling key is a hash of (seed, row number), and a kind's rows with the smallest keys are its sample
  ("bottom-k"): any k of its n rows are equally likely, and the k smallest keys of a union are among the k
  smallest of its parts.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import registry
from ..backends import offline
from ..errors import InputError
from ..request import build_request, canonical_json
from ..request.files import strings_may_be_paths

#: the histogram's bins are 1 % wide: a bin's rows are priced and calibrated at their mean without visible error
BIN_STEP = math.log(1.01)
#: rows whose offline estimate reaches this share of their model's window are kept as "near the window"
NEAR_WINDOW = 0.9
#: at most this many bad rows and near-window rows are kept with their details (all are counted)
KEEP_BAD = 20
KEEP_NEAR = 1000
#: rows costed roughly (past the estimator's time limit) kept with their ids and widths; all are counted and summed
KEEP_ROUGH = 1000
#: distinct estimator notes a summary keeps (a note may quote a row's own data: they must not grow with the job)
KEEP_NOTES = 20
#: distinct shared prefixes (tools + system) a summary tracks; the least used are dropped beyond twice this
KEEP_PREFIXES = 64
#: the Message Batches API's rule for a custom_id
CUSTOM_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
BATCH_KEYS = frozenset({"custom_id", "params"})
_MASK = (1 << 64) - 1


def sampling_key(seed: int, index: int) -> int:
    """A 64-bit pseudo-random key for row ``index`` (splitmix64 of seed and row): uniform, and the same wherever
    the row is read."""
    x = ((seed * 0x9E3779B97F4A7C15) ^ index) & _MASK
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


@dataclass(frozen=True)
class ScanParams:
    """What every partition needs to know (pickled to worker processes and Dask workers)."""

    #: the ``model=`` of estimate_job: wins over a row's own model
    model: str | None
    default_model: str
    #: max_tokens for rows that carry none (else the model's own output cap)
    max_output_tokens: int | None
    seed: int
    #: rows kept by smallest sampling key (the random sample plus room for the heaviest)
    keep_sample: int
    keep_heavy: int
    max_request_bytes: int | None
    #: "ctok" or "fallback": set in each worker, whose environment may predate the caller's
    estimator: str
    #: raise on the first bad row instead of reporting it
    strict: bool = False
    #: ``anthropic-beta`` values every request is counted with (a batch's header applies to all its requests)
    betas: tuple[str, ...] = ()
    #: seconds one request's offline estimate may take before the rest of its text is costed from its length
    estimate_timeout: float = offline.TIME_LIMIT


@dataclass
class Kept:
    """A row kept for an exact count: where it is, what the estimator said, and its request body."""

    index: int
    id: Any
    where: str
    model: str
    kind: str
    offline: int
    max_tokens: int
    key: int
    body: dict[str, Any]
    #: what the exact count is sent with besides the body (``CountRequest.betas`` / ``headers``)
    betas: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()


@dataclass
class Near:
    """A row whose offline estimate, with the output room it asks for (``max_tokens``; 0 when it asks none),
    comes near its model's context window."""

    index: int
    id: Any
    where: str
    model: str
    kind: str
    offline: int
    max_tokens: int
    window: int


@dataclass
class Rough:
    """A row the estimator costed partly from its length (its time limit passed): how far below and above its
    estimate the real count may be (its own range, widened by what a length can be off)."""

    index: int
    id: Any
    below: int
    above: int


@dataclass
class Bad:
    index: int
    id: Any
    where: str
    message: str


@dataclass
class ModelPart:
    requests: int = 0
    offline: int = 0
    #: Σ max_tokens, and how many rows had none of their own (their figure is a default)
    max_tokens: int = 0
    defaulted_max_tokens: int = 0
    #: (kind, bin) → [rows, Σ offline estimate, Σ max_tokens]
    bins: dict[tuple[str, int], list[int]] = field(default_factory=dict)

    def merge(self, other: ModelPart) -> None:
        self.requests += other.requests
        self.offline += other.offline
        self.max_tokens += other.max_tokens
        self.defaulted_max_tokens += other.defaulted_max_tokens
        for b, (n, sx, sm) in other.bins.items():
            mine = self.bins.get(b)
            if mine is None:
                self.bins[b] = [n, sx, sm]
            else:
                mine[0] += n
                mine[1] += sx
                mine[2] += sm


@dataclass
class Prefix:
    """Requests sharing one prefix (tools, tool_choice and system) under one model."""

    model: str
    requests: int
    #: offline estimate of the prefix's tokens (tool definitions, the tool-use prompt, the system prompt)
    tokens: int
    #: True when the prefix already carries a cache_control breakpoint
    cached: bool
    kind: str  # "system", "tools" or "tools + system"


@dataclass
class KindPart:
    """The rows of one kind of request: how many, their offline total and ranges, and their random sample."""

    rows: int = 0
    offline: int = 0
    low: float | None = 0.0
    high: float | None = 0.0
    #: the rows with the smallest sampling keys, smallest first
    sample: list[Kept] = field(default_factory=list)

    def add_range(self, low: float | None, high: float | None) -> None:
        if low is None or high is None or self.low is None or self.high is None:
            self.low = self.high = None
        else:
            self.low += low
            self.high += high

    def merge(self, other: KindPart, keep: int) -> None:
        self.rows += other.rows
        self.offline += other.offline
        self.add_range(other.low, other.high)
        self.sample = sorted(self.sample + other.sample, key=lambda k: k.key)[:keep]


def bin_of(tokens: int) -> int:
    return 0 if tokens <= 0 else 1 + int(math.log(tokens) / BIN_STEP)


_MEDIA = {"image": "images", "document": "documents"}


def kind_of(body: dict[str, Any], info: registry.ModelInfo) -> str:
    """What the estimator's error depends on most: the tokenizer family, and whether the request has tools,
    images, documents or thinking (``calibrate`` calibrates each kind on its own)."""
    flags = set()
    if body.get("tools"):
        flags.add("tools")
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") not in (None, "disabled"):
        flags.add("thinking")
    for message in body.get("messages", ()):
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        for block in content:
            if not isinstance(block, dict):
                continue
            kind = _MEDIA.get(block.get("type"))
            if kind:
                flags.add(kind)
            inner = block.get("content")
            if isinstance(inner, list):  # a tool result's own blocks
                flags.update(_MEDIA[b.get("type")] for b in inner if isinstance(b, dict) and b.get("type") in _MEDIA)
    return f"{info.tokenizer} {'+'.join(sorted(flags)) or 'text'}"


@dataclass
class Partial:
    rows: int = 0
    #: rows seen, good and bad: the next partition's first row number
    seen: int = 0
    offline: int = 0
    #: Σ of each request's offline range ends (None once one estimate came without a range)
    low: float | None = 0.0
    high: float | None = 0.0
    min_offline: int | None = None
    max_offline: int = 0
    models: dict[str, ModelPart] = field(default_factory=dict)
    heavy: list[Kept] = field(default_factory=list)
    kinds: dict[str, KindPart] = field(default_factory=dict)
    near: list[Near] = field(default_factory=list)
    near_count: int = 0
    bad: list[Bad] = field(default_factory=list)
    bad_count: int = 0
    prefixes: dict[bytes, Prefix] = field(default_factory=dict)
    #: notes from the estimator (e.g. a figure carried over from another tokenizer), each once, at most KEEP_NOTES
    notes: dict[str, None] = field(default_factory=dict)
    #: rows costed roughly: how many, the first KEEP_ROUGH by row number, and Σ of every one's widths
    rough: list[Rough] = field(default_factory=list)
    rough_count: int = 0
    rough_below: int = 0
    rough_above: int = 0

    # -- what the next chunk need not keep (local jobs pass these on; the results do not depend on them) ----------
    def thresholds(self, params: ScanParams) -> Thresholds:
        """({kind: largest sampling key still wanted}, heaviest-rank a row must beat): only for lists that are
        full already."""
        keys = {
            k: part.sample[-1].key
            for k, part in self.kinds.items()
            if params.keep_sample and len(part.sample) >= params.keep_sample
        }
        heavy = self.heavy[-1] if params.keep_heavy and len(self.heavy) >= params.keep_heavy else None
        return keys, ((heavy.offline, -heavy.index) if heavy is not None else None)

    def merge(self, other: Partial, params: ScanParams) -> Partial:
        self.rows += other.rows
        self.seen += other.seen
        self.offline += other.offline
        self.low = None if self.low is None or other.low is None else self.low + other.low
        self.high = None if self.high is None or other.high is None else self.high + other.high
        if other.min_offline is not None:
            self.min_offline = (
                other.min_offline if self.min_offline is None else min(self.min_offline, other.min_offline)
            )
        self.max_offline = max(self.max_offline, other.max_offline)
        for model, part in other.models.items():
            self.models.setdefault(model, ModelPart()).merge(part)
        self.heavy = _top(self.heavy + other.heavy, params.keep_heavy)
        for kind, part in other.kinds.items():
            self.kinds.setdefault(kind, KindPart()).merge(part, params.keep_sample)
        self.near = sorted(self.near + other.near, key=lambda r: r.index)[:KEEP_NEAR]
        self.near_count += other.near_count
        self.bad = sorted(self.bad + other.bad, key=lambda r: r.index)[:KEEP_BAD]
        self.bad_count += other.bad_count
        for key, p in other.prefixes.items():
            mine = self.prefixes.get(key)
            if mine is None:
                self.prefixes[key] = p
            else:
                mine.requests += p.requests
        _prune_prefixes(self.prefixes)
        for note in other.notes:
            _note(self.notes, note)
        self.rough = sorted(self.rough + other.rough, key=lambda r: r.index)[:KEEP_ROUGH]
        self.rough_count += other.rough_count
        self.rough_below += other.rough_below
        self.rough_above += other.rough_above
        return self


def _note(notes: dict[str, None], note: str) -> None:
    if note in notes or len(notes) < KEEP_NOTES:
        notes[note] = None


def _top(rows: list[Kept], n: int) -> list[Kept]:
    return sorted(rows, key=lambda k: (-k.offline, k.index))[:n]


def _prune_prefixes(prefixes: dict[bytes, Prefix]) -> None:
    if len(prefixes) > 2 * KEEP_PREFIXES:
        keep = sorted(prefixes.items(), key=lambda kv: -kv[1].requests * max(kv[1].tokens, 1))[:KEEP_PREFIXES]
        prefixes.clear()
        prefixes.update(keep)


# -- one row ----------------------------------------------------------------------------------------------------
def _max_tokens(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"must be a positive whole number, not {value!r}", where)
    return value


def decode(value: Any, jsonl: bool) -> Any:
    """A JSONL line → its JSON value; a text row holding a request as JSON → that request; else the row as is."""
    if jsonl:
        try:
            value = json.loads(value)
        except UnicodeDecodeError:
            raise InputError("not UTF-8 text") from None
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON (column {exc.colno}: {exc.msg})") from None
        if not isinstance(value, (dict, list, str)):
            raise InputError(f"expected a JSON object (a batch request or a request body), got {type(value).__name__}")
    elif isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        value = _text_request(value)
    return value


def custom_id_of(value: Any) -> str | None:
    """The custom_id of a batch request row, when it has a valid one."""
    if isinstance(value, Mapping):
        cid = value.get("custom_id")
        if isinstance(cid, str) and CUSTOM_ID.match(cid):
            return cid
    return None


def parse_row(value: Any) -> tuple[Any, int | None]:
    """A decoded row → (what build_request takes, its max_tokens or None).

    A row is a Message Batches request ``{"custom_id", "params"}``, a request body (``messages`` and the other
    fields ``messages.create`` takes), a message list, or a string (one user message)."""
    if isinstance(value, Mapping) and "params" in value and "messages" not in value:
        extra = sorted(set(value) - BATCH_KEYS)
        if extra:
            raise InputError(f"unknown field {extra[0]!r}: a batch request has custom_id and params")
        if custom_id_of(value) is None:
            raise InputError(
                f"must be 1 to 64 letters, digits, '-' or '_', not {value.get('custom_id')!r}", "custom_id"
            )
        params = value["params"]
        if not isinstance(params, Mapping) or "messages" not in params:
            raise InputError("must be a request body with messages", "params")
        if "max_tokens" not in params:
            raise InputError("is required by the Messages API", "params.max_tokens")
        return params, _max_tokens(params["max_tokens"], "params.max_tokens")
    if isinstance(value, Mapping) and "messages" in value and "max_tokens" in value:
        return value, _max_tokens(value["max_tokens"], "max_tokens")
    return value, None


def _is_request(value: Any) -> bool:
    """A request body, a batch request, or a message list (what a text row may hold as JSON)."""
    if isinstance(value, dict):
        return "messages" in value or {"custom_id", "params"} <= set(value)
    return isinstance(value, list) and bool(value) and all(isinstance(m, dict) and "role" in m for m in value)


def _text_request(text: str) -> Any:
    """A text row that holds a request as JSON (a column of JSON bodies) is that request; any other text,
    JSON or not, is prompt text. A request turned into text by Python's repr (Dask's default string conversion
    of object columns does it) is an error rather than a prompt."""
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if _is_request(value):
        return value
    if value is None and text.lstrip()[:2] in ("{'", "[{"):
        import ast

        try:
            literal = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return text
        if _is_request(literal):
            raise InputError(
                "holds a Python dict written as text, not a request: a Dask DataFrame turns object columns into "
                "strings unless dask.config.set({'dataframe.convert-string': False}) is set before it is built"
            )
    return text


def _prefix(body: dict[str, Any]) -> tuple[bytes, str, bool] | None:
    """The key of the request's cacheable prefix before the messages (tools, tool_choice, system), its kind,
    and whether it already carries a cache breakpoint; None when there is no such prefix."""
    tools, system = body.get("tools"), body.get("system")
    if not tools and not system:
        return None
    text = canonical_json([body["model"], tools, body.get("tool_choice"), system])
    key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=12).digest()
    kind = "tools + system" if tools and system else "tools" if tools else "system"
    return key, kind, '"cache_control"' in text or "cache_control" in body


_PREFIX_PARTS = ("/system", "/tools", "/tool_overhead")
#: ({kind: largest sampling key a row may have to be kept}, (offline, -row) a row must beat to be among the heaviest)
Thresholds = tuple[dict[str, int], "tuple[int, int] | None"]


class _Scanner:
    def __init__(self, params: ScanParams, thresholds: Thresholds) -> None:
        self.p = params
        self.out = Partial()
        self.max_keys, self.heavy_floor = thresholds
        self._infos: dict[str, registry.ModelInfo] = {}

    def info(self, model: str) -> registry.ModelInfo:
        info = self._infos.get(model)
        if info is None:
            info = self._infos[model] = registry.resolve(model)
        return info

    def bad(self, index: int, row_id: Any, where: str, exc: Exception) -> None:
        if isinstance(exc, InputError):
            message = str(exc.at(where))
        else:  # a bug of ours must not stop the job: the row says so
            message = f"{where}: internal error ({type(exc).__name__}: {exc}); please report it"
        if self.p.strict:
            raise InputError(message.removeprefix(f"{where}: "), where) from None
        out = self.out
        out.bad_count += 1
        if len(out.bad) < KEEP_BAD:
            out.bad.append(Bad(index, row_id, where, message))

    def row(self, index: int, row_id: Any, where: str, value: Any, jsonl: bool) -> None:
        p, out = self.p, self.out
        out.seen += 1
        try:
            value = decode(value, jsonl)
            custom_id = custom_id_of(value)
            if custom_id is not None:
                row_id, where = custom_id, f"{where} (custom_id {custom_id!r})"
            obj, max_tokens = parse_row(value)
            req = build_request(
                obj, model=p.model, betas=p.betas or None, default_model=p.default_model, max_bytes=p.max_request_bytes
            )
        except Exception as exc:
            self.bad(index, row_id, where, exc)
            return
        body = req.body
        model = req.model
        info = self.info(model)
        est = offline.estimate(body, info, deadline=time.monotonic() + p.estimate_timeout)
        kind = kind_of(body, info)
        x = est.input_tokens
        defaulted = max_tokens is None
        if defaulted:
            max_tokens = p.max_output_tokens or info.max_output or 0
        out.rows += 1
        out.offline += x
        low, high = est.low, est.high  # the range meant to hold the real count nine times in ten
        if low is None or high is None or out.low is None or out.high is None:
            out.low = out.high = None
        else:
            out.low += low
            out.high += high
        stratum = out.kinds.get(kind)
        if stratum is None:
            stratum = out.kinds[kind] = KindPart()
        stratum.rows += 1
        stratum.offline += x
        stratum.add_range(low, high)
        out.min_offline = x if out.min_offline is None else min(out.min_offline, x)
        out.max_offline = max(out.max_offline, x)
        for note in est.notes:
            if note != est.rough:  # which row and how long: said once for the job (rough_count), not per row
                _note(out.notes, note)
        if est.rough:
            below, above = max(0, x - (low or x)), max(0, (high or x) - x)
            out.rough_count += 1
            out.rough_below += below
            out.rough_above += above
            if len(out.rough) < KEEP_ROUGH:
                out.rough.append(Rough(index, row_id, below, above))
        part = out.models.get(model)
        if part is None:
            part = out.models[model] = ModelPart()
        part.requests += 1
        part.offline += x
        part.max_tokens += max_tokens
        part.defaulted_max_tokens += defaulted
        b = (kind, bin_of(x))
        cell = part.bins.get(b)
        if cell is None:
            part.bins[b] = [1, x, max_tokens]
        else:
            cell[0] += 1
            cell[1] += x
            cell[2] += max_tokens
        key = sampling_key(p.seed, index)
        kept: Kept | None = None
        max_key = self.max_keys.get(kind)
        if p.keep_sample and (max_key is None or key < max_key):
            kept = Kept(index, row_id, where, model, kind, x, max_tokens, key, body, req.betas, req.headers)
            stratum.sample.append(kept)
            if len(stratum.sample) >= 2 * p.keep_sample:
                stratum.sample = sorted(stratum.sample, key=lambda k: k.key)[: p.keep_sample]
        if p.keep_heavy and (self.heavy_floor is None or (x, -index) > self.heavy_floor):
            out.heavy.append(
                kept or Kept(index, row_id, where, model, kind, x, max_tokens, key, body, req.betas, req.headers)
            )
            if len(out.heavy) >= 2 * p.keep_heavy:
                out.heavy = _top(out.heavy, p.keep_heavy)
        window = info.context_window
        # the output room a request asks for counts only when it was asked for (its own or max_output_tokens)
        asked = 0 if defaulted and not p.max_output_tokens else max_tokens
        if window and x + asked >= NEAR_WINDOW * window:
            out.near_count += 1
            if len(out.near) < KEEP_NEAR:
                out.near.append(Near(index, row_id, where, model, kind, x, asked, window))
        prefix = _prefix(body)
        if prefix is not None:
            pkey, kind, cached = prefix
            seen = out.prefixes.get(pkey)
            if seen is None:
                tokens = sum(est.parts.get(k, 0) for k in _PREFIX_PARTS)
                out.prefixes[pkey] = Prefix(model, 1, tokens, cached, kind)
                _prune_prefixes(out.prefixes)
            else:
                seen.requests += 1

    def finish(self) -> Partial:
        out, p = self.out, self.p
        for stratum in out.kinds.values():
            stratum.sample = sorted(stratum.sample, key=lambda k: k.key)[: p.keep_sample]
        out.heavy = _top(out.heavy, p.keep_heavy)
        return out


def _use_estimator(name: str) -> None:
    """Workers inherit the environment of whoever started them, which may predate the caller's choice. Only a
    process that would choose otherwise is told: the caller's own process (a scan in-process) always agrees, and
    setting the variable there would blame it for a fallback that comes from a missing ctok, in every estimate after
    this job and in every process started from it."""
    if name == "fallback":
        if offline.text.using_ctok():  # ctok is here, but the caller estimated without it: so must this worker
            os.environ[offline.text.ENV_VAR] = "fallback"
    elif offline.text.forced_fallback():
        os.environ.pop(offline.text.ENV_VAR, None)


def scan_rows(
    rows: Iterable[tuple[int, Any, str, Any]],
    params: ScanParams,
    *,
    jsonl: bool,
    thresholds: Thresholds | None = None,
) -> Partial:
    """Estimate ``(row number, row id, where, value)`` rows offline into one summary. ``thresholds`` (from the
    summary so far) only spare keeping rows that could no longer be chosen; the result does not depend on them."""
    _use_estimator(params.estimator)
    scanner = _Scanner(params, thresholds or ({}, None))
    # a string in a job is prompt text, never a file name to open (a dataset's row may look like one)
    token = strings_may_be_paths.set(False)
    try:
        for index, row_id, where, value in rows:
            scanner.row(index, row_id, where, value, jsonl)
    finally:
        strings_may_be_paths.reset(token)
    return scanner.finish()


# -- the partitions of each kind of source ----------------------------------------------------------------------
def scan_lines(
    start: int, lines: list[tuple[int, bytes]], params: ScanParams, thresholds: Thresholds | None = None
) -> Partial:
    """A chunk of a JSONL file: (line number, the line's bytes); rows are numbered from ``start``."""
    rows = ((start + i, n, f"line {n:,}", line) for i, (n, line) in enumerate(lines))
    return scan_rows(rows, params, jsonl=True, thresholds=thresholds)


def scan_values(
    start: int, values: list[Any], labels: list[Any] | None, params: ScanParams, thresholds: Thresholds | None = None
) -> Partial:
    """A chunk of Python values; ``labels`` are the rows' own ids (a pandas index), else their positions."""
    if labels is None:
        rows = ((start + i, start + i, f"row {start + i:,}", v) for i, v in enumerate(values))
    else:
        plain = [_plain_label(lab) for lab in labels]
        rows = ((start + i, lab, _row_label(lab), v) for i, (lab, v) in enumerate(zip(plain, values, strict=True)))
    return scan_rows(rows, params, jsonl=False, thresholds=thresholds)


def scan_partition(part: Any, start: int, params: ScanParams) -> Partial:
    """A Dask partition (a pandas Series or a DataFrame of batch requests, or a bag's list of values) whose first
    row is row ``start``."""
    if type(part).__name__ == "DataFrame":  # custom_id and params columns
        rows = [{"custom_id": c, "params": p} for c, p in zip(part["custom_id"], part["params"], strict=True)]
        return scan_values(start, rows, part.index.to_list(), params)
    if hasattr(part, "index") and hasattr(part, "to_list"):
        return scan_values(start, part.to_list(), part.index.to_list(), params)
    return scan_values(start, list(part), None, params)


def partition_length(part: Any) -> list[int]:
    """How many rows a Dask partition holds (as a one-item list, a bag's partition shape)."""
    return [len(part) if hasattr(part, "__len__") else sum(1 for _ in part)]


def _row_label(label: Any) -> str:
    return f"row {label:,}" if isinstance(label, int) else f"row {label!r}"


def _plain_label(label: Any) -> Any:
    """A pandas index label as plain JSON data (numpy integers, timestamps → int, str)."""
    if isinstance(label, (str, int, float)) and not isinstance(label, bool):
        return label
    item = getattr(label, "item", None)
    if callable(item):
        try:
            value = item()
            if isinstance(value, (str, int, float)):
                return value
        except (ValueError, TypeError):
            pass
    return str(label)
