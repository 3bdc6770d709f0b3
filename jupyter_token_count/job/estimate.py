"""``estimate_job``: what a job (a Message Batches file, a dataset's rows, a Dask collection) will cost before it runs.

1. Read the rows in chunks and estimate every request offline: in this process, in worker processes on this
   machine, or on the workers of the current Dask cluster (the same ``scan`` code per partition), keeping only
   a summary (sums, 1 % bins, the heaviest requests and a random sample with their bodies).
2. With an API key: count the heaviest requests and the sample exactly, through the package's counter (its
   cache, rate limiter and retries, like every count).
3. Calibrate (``calibrate``): the job's input tokens with a 95 % interval; then price every request with its
   own price band (``pricing.py``), standard and batch, and the worst-case output from each ``max_tokens``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import multiprocessing
import os
import secrets
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from .. import pricing, registry
from ..config import check_mode
from ..errors import ApiError, ConfigError, InputError, TokenCountError
from ..request import CountRequest
from . import calibrate as cal_
from . import chart
from .result import JobEstimate
from .scan import Kept, Partial, ScanParams, bin_of, partition_length, scan_lines, scan_partition, scan_values
from .source import Chunk, DaskSource, Source, open_source

log = logging.getLogger(__name__)

#: the heaviest requests counted exactly besides the random sample: a tenth of it, at least five
HEAVY_SHARE = 10
MIN_HEAVY = 5
#: below this many rows (or bytes of a file) a job is estimated in this process: starting workers costs more
SMALL_ROWS = 2000
SMALL_BYTES = 2 << 20
#: how many of the heaviest requests the result lists
SHOW_HEAVIEST = 10
#: a shared prefix is worth a caching hint when this share of the requests (at least two) use it
CACHE_HINT_SHARE = 0.1

#: ``progress(event)``: {"phase": "estimating" | "counting", "done", "total" (None if unknown), "unit": "bytes" |
#: "rows" | "requests", "rows": rows read so far}
Progress = Callable[[dict[str, Any]], None]


def estimate_job(
    source: Any,
    *,
    model: str | None = None,
    sample: int = 200,
    seed: int | None = None,
    mode: str | None = None,
    max_output_tokens: int | None = None,
    jobs: int | None = None,
    errors: str = "report",
    progress: Progress | bool | None = None,
    betas: Any = None,
    default_model: str | None = None,
) -> JobEstimate:
    """Estimate what running every request of ``source`` will cost, before it runs.

    ``source``: a path to a JSONL file of Message Batches requests (``{"custom_id", "params"}`` per line) or of
    request bodies (``.gz`` too), an open binary stream of one, an iterable of request dicts, message lists or
    strings, a pandas Series or one-column DataFrame (or a DataFrame with ``custom_id`` and ``params``
    columns), or a Dask bag or Dask DataFrame column. Files and iterables are streamed: a file of a million
    lines never sits in memory.

    ``model`` replaces each request's own model (answer "what if we ran it on …"); requests without one use
    ``default_model``, else the configured default. ``sample`` requests chosen at random, plus the heaviest
    tenth as many, are counted exactly when a key is configured (``mode`` "auto" or "api"); ``sample=0`` or
    ``mode="offline"`` never calls the API.
    ``seed`` makes the sample reproducible (the result records the one used). ``max_output_tokens`` stands in for
    ``max_tokens`` where a request has none (default: the model's output cap, the true worst case).

    ``jobs``: worker processes on this machine (default: one per CPU for large jobs, none for small ones); a Dask
    collection is estimated on the workers of the current ``distributed.Client`` instead. ``errors="report"``
    (default) lists bad rows in the result and estimates the rest; ``"raise"`` stops at the first bad row with an
    ``InputError`` naming it. ``progress``: a callable receiving progress events, True for a notebook progress
    line, None for one only in a notebook. ``betas``: ``anthropic-beta`` values every request is counted with, as a
    batch's header applies them to all its requests (the betas a request's own fields need are added anyway).
    """
    from ..api import get_counter

    counter = get_counter()
    settings = counter.settings
    mode = check_mode(mode or settings.mode)
    sample = _whole(sample, "sample", minimum=0)
    if max_output_tokens is not None:
        max_output_tokens = _whole(max_output_tokens, "max_output_tokens", minimum=1)
    if jobs is not None:
        jobs = _whole(jobs, "jobs", minimum=1)
    if errors not in ("report", "raise"):
        raise InputError(f"must be 'report' or 'raise', not {errors!r}", "errors")
    if seed is not None:
        seed = _whole(seed, "seed", minimum=0)
    if model is not None and (not isinstance(model, str) or not model.strip()):
        raise InputError("model must be a non-empty string such as 'claude-sonnet-5-5'", "model")
    if mode == "api" and not settings.key_configured:
        raise ConfigError(f"mode 'api' needs an API key: set {settings.api_key_env} or configure one")
    exact = mode != "offline" and settings.key_configured and sample > 0
    if model is not None:
        _check_model(model, settings, mode)
    from ..request.betas import check_betas

    betas = check_betas(betas)
    report = _progress(progress)
    started = time.perf_counter()
    seed = seed if seed is not None else secrets.randbits(62)
    from ..backends.offline import text as offline_text

    heavy = max(MIN_HEAVY, sample // HEAVY_SHARE) if sample else 0
    params = ScanParams(
        model=model,
        default_model=default_model or settings.model,
        max_output_tokens=max_output_tokens,
        seed=seed,
        # a kind may be given its minimum or the whole sample, and its heaviest rows do not count towards it
        keep_sample=(max(sample, cal_.MIN_PER_STRATUM) + heavy) if exact else 0,
        keep_heavy=heavy if exact else SHOW_HEAVIEST,
        max_request_bytes=settings.max_request_bytes,
        estimator="ctok" if offline_text.using_ctok() else "fallback",
        strict=errors == "raise",
        betas=betas,
        estimate_timeout=settings.estimate_timeout,
    )
    src = open_source(source)
    try:
        if isinstance(src, DaskSource):
            partial, workers = _run_dask(src, params, report)
        else:
            partial, workers = _run_local(src, params, jobs, report)
        if not partial.seen:
            raise InputError("no requests in it: nothing to estimate", src.name)
        warnings = [w for m in sorted(partial.models) if (w := _check_model(m, settings, mode))]
        counts: dict[int, int] = {}
        failures: list[str] = []
        rejected: list[str] = []
        if exact and partial.rows:
            counts, failures, rejected = _count_exact(counter, partial, sample, report)
            if mode == "api" and not counts and failures:
                raise ApiError(f"no request of the job could be counted exactly: {failures[0]}")
    finally:
        src.close()
        close = getattr(report, "close", None)
        if close is not None:
            close()
    return _result(
        partial,
        params,
        counts,
        failures=failures,
        rejected=rejected,
        sample=sample if exact else 0,
        reason=None if exact else _why_offline(mode, settings, sample),
        warnings=warnings,
        source=src.name,
        workers=workers,
        elapsed=time.perf_counter() - started,
    )


def _whole(value: Any, name: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(f"must be a whole number of at least {minimum}, not {value!r}", name)
    return value


def _check_model(model: str, settings: Any, mode: str) -> str | None:
    from ..modelcheck import check_model

    return check_model(model, settings, mode)


def _why_offline(mode: str, settings: Any, sample: int) -> str:
    if mode == "offline":
        return "offline mode"
    if sample == 0:
        return "sample=0: no request counted exactly"
    return f"no API key (set {settings.api_key_env} to calibrate with exact counts)"


# -- reading and estimating -------------------------------------------------------------------------------------
def _progress(progress: Progress | bool | None) -> Progress:
    if callable(progress):
        return progress
    if progress is False or (progress is None and not _in_notebook()):
        return lambda event: None
    from .progress import NotebookProgress

    return NotebookProgress()


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ip = shell.get_ipython()  # type: ignore[attr-defined]
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def _scan(chunk: Chunk, params: ScanParams, thresholds: Any) -> Partial:
    if chunk.kind == "lines":
        return scan_lines(chunk.start, chunk.items, params, thresholds)
    return scan_values(chunk.start, chunk.items, chunk.labels, params, thresholds)


def _context() -> Any:
    """fork where it is safe (Linux, no other thread whose locks the children could inherit held): workers start
    at once with everything loaded. Otherwise (a kernel has threads; macOS, Windows) workers start from a clean
    single-threaded server (forkserver) or fresh (spawn), which import the caller's main module again."""
    methods = multiprocessing.get_all_start_methods()
    if sys.platform.startswith("linux") and "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["jupyter_token_count.job.scan"])
        return ctx
    return multiprocessing.get_context("spawn")


def _small(src: Source) -> bool:
    if src.total is None:
        return False
    return src.total < (SMALL_BYTES if src.unit == "bytes" else SMALL_ROWS)


def _run_local(src: Source, params: ScanParams, jobs: int | None, report: Progress) -> tuple[Partial, str]:
    total = Partial()

    def done(part: Partial, chunk: Chunk) -> None:
        total.merge(part, params)
        if params.strict and total.bad_count:
            bad = total.bad[0]
            raise InputError(bad.message.removeprefix(f"{bad.where}: "), bad.where)
        report(
            {"phase": "estimating", "done": chunk.position, "total": src.total, "unit": src.unit, "rows": total.seen}
        )

    workers = jobs if jobs is not None else (1 if _small(src) else os.cpu_count() or 1)
    if workers <= 1:
        for chunk in src.chunks():
            done(_scan(chunk, params, total.thresholds(params)), chunk)
        return total, "this process"
    # chunks in order, each with its future once submitted: the first is merged first, and a chunk is
    # forgotten only once merged (so none is lost if the pool breaks)
    pending: deque[tuple[Chunk, Future[Partial] | None]] = deque()
    chunks = src.chunks()
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=_context())
    try:
        for chunk in chunks:
            pending.append((chunk, None))
            pending[-1] = (chunk, pool.submit(_scan, chunk, params, total.thresholds(params)))
            # two chunks per worker in flight: the workers never wait, and memory stays bounded
            while len(pending) >= 2 * workers:
                ch, fut = pending[0]
                done(fut.result(), ch)  # type: ignore[union-attr]
                pending.popleft()
        while pending:
            ch, fut = pending[0]
            done(fut.result(), ch)  # type: ignore[union-attr]
            pending.popleft()
    except BrokenProcessPool as exc:
        # workers could not start or died (e.g. a main module that cannot be imported again, or memory):
        # the chunks not yet merged, and the rest, are estimated here instead
        pool.shutdown(wait=False, cancel_futures=True)
        log.warning("job estimate: worker processes failed (%s); estimating in this process", exc)
        for ch, _ in pending:
            done(_scan(ch, params, total.thresholds(params)), ch)
        for ch in chunks:
            done(_scan(ch, params, total.thresholds(params)), ch)
        return total, "this process (worker processes failed)"
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return total, f"{workers} processes"


def _current_client() -> Any:
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:  # no client in this process
        return None


def _run_dask(src: DaskSource, params: ScanParams, report: Progress) -> tuple[Partial, str]:
    """Each partition is estimated where it lives, by ``scan.scan_partition``. Rows are numbered across
    partitions (the sample depends on row numbers alone, so it equals a local run's): the partitions' lengths are
    read first, which reads the collection twice (``persist()`` it first when reading is expensive)."""
    import dask

    coll = src.dask
    client = _current_client()
    parts = coll.to_delayed()
    lengths_tasks = [dask.delayed(partition_length)(p) for p in parts]
    if client is not None:
        lengths = [n for ns in client.gather(client.compute(lengths_tasks)) for n in ns]
    else:
        lengths = [n for ns in dask.compute(*lengths_tasks) for n in ns]
    starts = [sum(lengths[:i]) for i in range(len(lengths))]
    tasks = [dask.delayed(scan_partition)(p, start, params) for p, start in zip(parts, starts, strict=True)]
    total = Partial()
    rows = sum(lengths)
    if client is not None:
        from distributed import as_completed

        futures = client.compute(tasks)
        try:
            for fut in as_completed(futures):
                total.merge(fut.result(), params)
                report({"phase": "estimating", "done": total.seen, "total": rows, "unit": "rows", "rows": total.seen})
        except BaseException:
            client.cancel(futures)
            raise
        workers = len(client.scheduler_info().get("workers", {}))
        where = f"Dask: {workers} worker{'s' if workers != 1 else ''}"
    else:
        for part in dask.compute(*tasks):
            total.merge(part, params)
        where = "Dask (no distributed.Client: dask's default scheduler)"
    if params.strict and total.bad_count:
        bad = total.bad[0]
        raise InputError(bad.message.removeprefix(f"{bad.where}: "), bad.where)
    return total, where


# -- exact counts -----------------------------------------------------------------------------------------------
def _count_exact(
    counter: Any, partial: Partial, sample: int, report: Progress
) -> tuple[dict[int, int], list[str], list[str]]:
    """Exact counts of the heaviest and the sampled requests, by row number. Returns (counts, failures: counts
    that could not be had, e.g. rate limited; rejected: requests the API refused as invalid)."""
    heavy, chosen = _chosen(partial, sample)
    todo = [*heavy, *(k for kind in sorted(chosen) for k in chosen[kind])]
    counts: dict[int, int] = {}
    failures: list[str] = []
    rejected: list[str] = []
    state = {"done": 0}

    async def one(k: Kept) -> None:
        try:
            res = await counter.acount(CountRequest(k.body, betas=k.betas, headers=k.headers), "api")
            counts[k.index] = res.input_tokens
        except ApiError as exc:
            message = f"{k.where}: {exc.user_message(counter.settings)}"
            (failures if exc.transient else rejected).append(message)
        except TokenCountError as exc:
            failures.append(f"{k.where}: {exc}")
        finally:
            state["done"] += 1
            report({"phase": "counting", "done": state["done"], "total": len(todo), "unit": "requests"})

    async def every() -> None:
        await asyncio.gather(*(one(k) for k in todo))

    report({"phase": "counting", "done": 0, "total": len(todo), "unit": "requests"})
    counter.run(every())
    return counts, failures, rejected


# -- the result -------------------------------------------------------------------------------------------------
def _rate(model: str, prompt_tokens: float, *, batch: bool, output: bool = False) -> float | None:
    """USD per token for a request of ``prompt_tokens`` input (its price band), from the one pricing function."""
    rates = pricing.rates(model, max(0, round(prompt_tokens)), batch=batch)
    if rates is None:
        return None
    rate = rates.output if output else rates.input
    return None if rate is None else rate / 1_000_000


class _Sum:
    """A cost that becomes unknown (None) as soon as one part of it is."""

    def __init__(self) -> None:
        self.value: float | None = 0.0

    def add(self, rate: float | None, tokens: float) -> None:
        if self.value is None or not tokens:
            return
        self.value = None if rate is None else self.value + rate * tokens


def _chosen(partial: Partial, sample: int) -> tuple[list[Kept], dict[str, list[Kept]]]:
    """(the heaviest, each kind's random sample of its other rows). ``sample`` is shared out over the kinds
    (``calibrate.allocate``); a kind's sample is its rows with the smallest sampling keys, the heaviest left
    out: a simple random sample of the kind's other rows."""
    heavy_idx = {k.index for k in partial.heavy}
    rest = {
        kind: (
            part.rows - sum(1 for k in partial.heavy if k.kind == kind),
            part.offline - sum(k.offline for k in partial.heavy if k.kind == kind),
        )
        for kind, part in partial.kinds.items()
    }
    share = cal_.allocate(sample, rest)
    chosen = {
        kind: [k for k in part.sample if k.index not in heavy_idx][: share[kind]]
        for kind, part in partial.kinds.items()
    }
    return list(partial.heavy), chosen


def _calibration(partial: Partial, sample: int, counts: dict[int, int]) -> tuple[cal_.Calibration, list[Kept]]:
    """The calibration from what was counted, and the rows counted exactly that it used."""
    heavy, chosen = _chosen(partial, sample)
    heavy = [k for k in heavy if k.index in counts]  # one that could not be counted rejoins its kind
    strata = []
    used = list(heavy)
    for kind, part in sorted(partial.kinds.items()):
        mine = [k for k in heavy if k.kind == kind]
        rows = part.rows - len(mine)
        offline_rest = part.offline - sum(k.offline for k in mine)
        sampled = [k for k in chosen[kind] if k.index in counts]
        used.extend(sampled)
        scale = offline_rest / part.offline if part.offline else 1.0
        strata.append(
            cal_.Stratum(
                kind,
                rows,
                offline_rest,
                [(k.offline, counts[k.index]) for k in sampled],
                None if part.low is None else part.low * scale,
                None if part.high is None else part.high * scale,
            )
        )
    return cal_.calibrate(strata, [(k.offline, counts[k.index]) for k in heavy]), used


def _result(
    partial: Partial,
    params: ScanParams,
    counts: dict[int, int],
    *,
    failures: list[str],
    rejected: list[str],
    sample: int,
    reason: str | None,
    warnings: list[str],
    source: str,
    workers: str,
    elapsed: float,
) -> JobEstimate:
    cal, counted = _calibration(partial, sample, counts)
    cal = _widened_for_rough(cal, partial, counts)
    exact_rows = {k.index: k for k in counted}

    # every request priced in its own price band: exact ones one by one, the rest per 1 % bin at the bin's mean
    per_model: dict[str, dict[str, Any]] = {}
    points: list[tuple[float, int]] = []
    totals = {name: _Sum() for name in ("std", "batch", "out_std", "out_batch")}
    # in a fixed order: the same rows give the same sums to the last digit, however they were partitioned
    for model, part in sorted(partial.models.items()):
        bins = {b: list(v) for b, v in sorted(part.bins.items())}
        m_tokens = 0.0
        m_cost, m_batch, m_out = _Sum(), _Sum(), _Sum()
        for k in sorted(exact_rows.values(), key=lambda k: k.index):
            if k.model != model:
                continue
            cell = bins[(k.kind, bin_of(k.offline))]
            cell[0] -= 1
            cell[1] -= k.offline
            cell[2] -= k.max_tokens
            y = counts[k.index]
            points.append((y, 1))
            m_tokens += y
            _price(model, y, 1, y, k.max_tokens, m_cost, m_batch, m_out, totals)
        for (kind, _), (n, sx, smax) in bins.items():
            if n <= 0:
                continue
            mean = max(0.0, cal.predict(sx / n, kind))
            points.append((mean, n))
            m_tokens += mean * n
            _price(model, mean, n, mean * n, smax, m_cost, m_batch, m_out, totals)
        info = registry.resolve(model)
        per_model[model] = {
            "requests": part.requests,
            "input_tokens": round(m_tokens),
            "offline_input_tokens": part.offline,
            "cost_usd": m_cost.value,
            "batch_cost_usd": None if m_cost.value is None else m_batch.value,
            "output_tokens_max": part.max_tokens,
            "output_cost_usd_max": m_out.value,
            "max_tokens_defaulted": part.defaulted_max_tokens,
            "context_window": info.context_window,
            "display_name": info.display_name,
        }
    total = max(cal.total, 0.0)

    def scaled(value: float | None, end: float) -> float | None:
        if value is None:
            return None
        return value * end / total if total else value

    cost, batch = totals["std"].value, totals["batch"].value
    over, limited = _window_rows(partial, cal, counts)
    heaviest = [
        {
            "id": k.id,
            "where": k.where,
            "model": k.model,
            "input_tokens": counts.get(k.index, round(max(0.0, cal.predict(k.offline, k.kind)))),
            "exact": k.index in counts,
            "offline_input_tokens": k.offline,
            "max_tokens": k.max_tokens,
        }
        for k in partial.heavy
    ]
    # by the figures shown (exact where counted): the heaviest by estimate need not be the heaviest by count
    heaviest = sorted(heaviest, key=lambda h: -h["input_tokens"])[:SHOW_HEAVIEST]
    notes = list(partial.notes)
    defaulted = sum(p.defaulted_max_tokens for p in partial.models.values())
    if defaulted:
        what = (
            f"max_output_tokens={params.max_output_tokens:,}" if params.max_output_tokens else "the model's output cap"
        )
        notes.append(f"{defaulted:,} requests have no max_tokens: their worst-case output is {what}")
    if failures:
        notes.append(
            f"{len(failures):,} exact counts could not be had (e.g. {failures[0]}); those requests keep their estimates"
        )
    if rejected:
        notes.append(
            f"the API rejected {len(rejected):,} of the requests counted exactly as invalid (e.g. {rejected[0]}); "
            "the job probably has more such requests, which would fail when it runs"
        )
    if cal.method == "offline" and partial.low is None:
        notes.append("the offline estimates carry no error figures: the interval is the estimate alone")
    models = list(per_model)
    window = per_model[models[0]]["context_window"] if len(models) == 1 else None
    bins = chart.histogram(points)
    return JobEstimate(
        requests=partial.rows,
        input_tokens=round(total),
        input_tokens_low=round(min(cal.low, total)),
        input_tokens_high=round(max(cal.high, total)),
        exact=cal.method == "census",
        exact_sample=len(counts),
        method=cal.method,
        cost_usd=cost,
        cost_usd_low=scaled(cost, cal.low),
        cost_usd_high=scaled(cost, cal.high),
        batch_cost_usd=batch if cost is not None else None,
        batch_cost_usd_low=scaled(batch, cal.low) if cost is not None else None,
        batch_cost_usd_high=scaled(batch, cal.high) if cost is not None else None,
        output_tokens_max=sum(p.max_tokens for p in partial.models.values()),
        output_cost_usd_max=totals["out_std"].value,
        batch_output_cost_usd_max=totals["out_batch"].value,
        over_window=[r["id"] for r in over],
        over_window_rows=over,
        output_limited=[r["id"] for r in limited],
        heaviest=heaviest,
        caching=_caching_hint(partial, cal),
        bad_rows=partial.bad_count,
        rough_rows=partial.rough_count,
        rough=[r.id for r in partial.rough],
        errors=[b.message for b in partial.bad],
        model=models[0] if len(models) == 1 else None,
        models=per_model,
        offline_input_tokens=partial.offline,
        histogram=bins,
        context_window=window,
        sample=sample,
        heaviest_counted=cal.heavy,
        sample_counted=cal.sample,
        strata=[{"kind": kind, **{k: v for k, v in vars(line).items()}} for kind, line in sorted(cal.lines.items())],
        seed=params.seed,
        source=source,
        reason=reason,
        notes=tuple(notes),
        warnings=tuple(warnings),
        workers=workers,
        elapsed_s=elapsed,
    )


def _widened_for_rough(cal: cal_.Calibration, partial: Partial, counts: dict[int, int]) -> cal_.Calibration:
    """A calibrated interval, widened by the ranges of the rows costed from their length and not counted exactly:
    the line fitted on the sample says nothing of how far such a figure is off (an offline interval sums every
    row's range, theirs included, already)."""
    if cal.method != "calibrated" or not partial.rough_count:
        return cal
    counted = [r for r in partial.rough if r.index in counts]
    below = partial.rough_below - sum(r.below for r in counted)
    above = partial.rough_above - sum(r.above for r in counted)
    return dataclasses.replace(cal, low=max(0.0, cal.low - below), high=cal.high + above)


def _price(
    model: str,
    mean: float,
    n: int,
    tokens: float,
    max_tokens: int,
    cost: _Sum,
    batch: _Sum,
    out: _Sum,
    totals: dict[str, _Sum],
) -> None:
    """Add ``n`` requests of ``mean`` input tokens (``tokens`` in all) and ``max_tokens`` output to the sums."""
    del n
    std_in, batch_in = _rate(model, mean, batch=False), _rate(model, mean, batch=True)
    std_out, batch_out = _rate(model, mean, batch=False, output=True), _rate(model, mean, batch=True, output=True)
    for target, rate, amount in (
        (cost, std_in, tokens),
        (batch, batch_in, tokens),
        (out, std_out, max_tokens),
        (totals["std"], std_in, tokens),
        (totals["batch"], batch_in, tokens),
        (totals["out_std"], std_out, max_tokens),
        (totals["out_batch"], batch_out, max_tokens),
    ):
        target.add(rate, amount)


def _window_rows(
    partial: Partial, cal: cal_.Calibration, counts: dict[int, int]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows over their model's context window (input alone), and rows whose input plus the ``max_tokens`` they ask
    for exceed it (the reply cannot reach max_tokens): exact where counted, else the calibrated estimate."""
    over: list[dict[str, Any]] = []
    limited: list[dict[str, Any]] = []
    for r in partial.near:
        # the window as this process knows it (the API's model list may have updated the registry here)
        r.window = registry.resolve(r.model).context_window or r.window
        exact = r.index in counts
        tokens = counts[r.index] if exact else round(max(0.0, cal.predict(r.offline, r.kind)))
        row = {
            "id": r.id,
            "where": r.where,
            "model": r.model,
            "input_tokens": tokens,
            "exact": exact,
            "context_window": r.window,
            "max_tokens": r.max_tokens,
        }
        if tokens > r.window:
            over.append(row)
        elif r.max_tokens and tokens + r.max_tokens > r.window:
            limited.append(row)
    return over, limited


def _caching_hint(partial: Partial, cal: cal_.Calibration) -> dict[str, Any] | None:
    """The shared prefix (tools, system) whose caching would save most, when many requests share one."""
    best: dict[str, Any] | None = None
    already = sum(p.requests for p in partial.prefixes.values() if p.cached)
    for p in partial.prefixes.values():
        if p.cached or p.requests < 2 or p.requests < CACHE_HINT_SHARE * partial.rows or p.tokens <= 0:
            continue
        tokens = max(0.0, p.tokens * (cal.total / partial.offline if partial.offline else 1.0))
        saved = {}
        for batch in (False, True):
            plain = pricing.cost(p.model, uncached=round(tokens), batch=batch)
            write = pricing.cost(p.model, uncached=0, write_5m=round(tokens), batch=batch)
            read = pricing.cost(p.model, uncached=0, read=round(tokens), batch=batch)
            if plain is None or write is None or read is None:
                saved[batch] = None
                continue
            saved[batch] = p.requests * plain - (write + (p.requests - 1) * read)
        if saved[False] is None or saved[False] <= 0:
            continue
        if best is None or saved[False] > best["saving_usd"]:
            best = {
                "requests": p.requests,
                "prefix": p.kind,
                "prefix_tokens": round(tokens),
                "model": p.model,
                "saving_usd": saved[False],
                "batch_saving_usd": saved[True],
            }
    if best is None and not already:
        return None
    if best is None:
        return {"already_cached": already}
    best["already_cached"] = already
    return best
