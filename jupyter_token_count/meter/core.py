"""The call meter: prediction, budgets, the prompt-cache ledger and the display of each metered call.

The SDK hooks (``hooks``) hand it every Messages request body on its way out and every answer on its way back;
nothing here touches a byte of either. Counting goes through the package's process-wide counter (same cache and
rate limiter as every other count), with the calling client's own key and base URL.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from .. import pricing, registry
from ..config import DEFAULT_BASE_URL, api_origin
from ..errors import TokenCountError
from ..formatting import format_cost, format_tokens
from ..request import DROPPED_FIELDS, CountRequest
from ..request.betas import normalise, parse_header
from .record import CallLine, CallRecord
from .usage import merge_usage, usage_from_json

log = logging.getLogger(__name__)

TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}
#: the longest a budget check waits for an exact count before deciding on the estimate (≈)
BUDGET_WAIT = 5.0
#: request headers of a metered call that travel with its count (the SDK sends these parameters as headers)
COUNT_HEADERS = {"anthropic-user-profile-id": "user_profile_id", "anthropic-workspace-id": "workspace_id"}


class BudgetExceeded(TokenCountError):
    """A metered call was stopped before sending: its predicted input would pass the budget. Nothing was sent."""


@dataclass(frozen=True)
class Breakpoint:
    prefix: dict[str, Any]  # the request body up to and including the block carrying cache_control
    ttl: str  # "5m" | "1h"


def breakpoints(body: dict[str, Any]) -> list[Breakpoint]:
    """Cache breakpoints in prefix order (tools → system → messages); a top-level ``cache_control`` (automatic
    caching) marks the end of the last message."""
    out: list[Breakpoint] = []
    tools = body.get("tools") or []
    system = body.get("system")
    messages = body.get("messages") or []

    def ttl(cc: Any) -> str:
        return "1h" if isinstance(cc, dict) and cc.get("ttl") == "1h" else "5m"

    for i, t in enumerate(tools):
        if isinstance(t, dict) and t.get("cache_control"):
            out.append(Breakpoint({"tools": tools[: i + 1]}, ttl(t["cache_control"])))
    if isinstance(system, list):
        for j, b in enumerate(system):
            if isinstance(b, dict) and b.get("cache_control"):
                out.append(Breakpoint({"tools": tools, "system": system[: j + 1]}, ttl(b["cache_control"])))
    for m, msg in enumerate(messages):
        content = msg.get("content") if isinstance(msg, dict) else None
        if isinstance(content, list):
            for b, block in enumerate(content):
                if isinstance(block, dict) and block.get("cache_control"):
                    head = dict(msg, content=content[: b + 1])
                    out.append(
                        Breakpoint(
                            {"tools": tools, "system": system, "messages": [*messages[:m], head]},
                            ttl(block["cache_control"]),
                        )
                    )
    if body.get("cache_control") and messages:
        out.append(Breakpoint({"tools": tools, "system": system, "messages": messages}, ttl(body["cache_control"])))
    return out


def count_body(body: dict[str, Any]) -> dict[str, Any]:
    """The count_tokens body of a Messages request: every field as it went on the wire but those that only shape
    the answer (``max_tokens``, ``stream``, ...). Nothing else is dropped: a field the count endpoint does not take
    reaches it all the same, so the API says so (and the line shows an estimate, ≈) instead of a smaller count
    passing for exact."""
    return {k: v for k, v in body.items() if k not in DROPPED_FIELDS and v is not None}


def count_request(body: dict[str, Any], headers: Any = None) -> CountRequest:
    """The count request of a Messages request as sent: its count body, with the ``anthropic-beta`` values (and the
    profile / workspace headers) the call went out with. Betas are not added here: the count is of the call."""
    headers = headers or {}
    extra = tuple((name, str(headers[h])) for h, name in COUNT_HEADERS.items() if headers.get(h))
    return CountRequest(count_body(body), betas=normalise(parse_header(headers.get("anthropic-beta"))), headers=extra)


def _prefix_key(model: str, prefix: dict[str, Any]) -> str:
    raw = json.dumps([model, prefix], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()


class Meter:
    def __init__(
        self,
        budget_tokens: int | None = None,
        budget_usd: float | None = None,
        per_call: bool = False,
        show: bool = True,
        *,
        strict: bool = False,
    ) -> None:
        self.budget_tokens = budget_tokens
        self.budget_usd = budget_usd
        self.per_call = per_call
        #: budgets compare the top of an estimate's range (``TokenCount.high``), not the estimate
        self.strict = strict
        self.show = show
        self.records: list[CallRecord] = []
        self._lock = threading.Lock()
        self._by_idempotency: OrderedDict[str, _Handle] = OrderedDict()
        self._prefixes: dict[str, float] = {}  # prefix key → expiry (monotonic)
        self._counters: dict[tuple[str, str], Any] = {}
        self._batches: dict[str, _Handle] = {}  # batch id → the handle of its create call
        # counting never delays a call without a budget: it runs here, beside the request
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="jtc-meter")

    def __repr__(self) -> str:
        limits = [
            f"budget_tokens={format_tokens(self.budget_tokens, True)}" if self.budget_tokens is not None else "",
            f"budget_usd={self.budget_usd:g}" if self.budget_usd is not None else "",
            "per_call" if self.per_call and self.has_budget else "",
            "strict" if self.strict and self.has_budget else "",
            "" if self.show else "quiet",
        ]
        return f"<call meter: {', '.join(x for x in ['on', *limits] if x)}; {len(self.records)} call(s) logged>"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))

    # -- counting ----------------------------------------------------------------------------------
    def counter_for(self, client: Any) -> Any:
        """The process-wide counter, or one sharing its cache and rate limiter but using ``client``'s key and URL."""
        from ..api import get_counter
        from ..counter import Counter

        base = get_counter()
        key = getattr(client, "api_key", None)
        url = api_origin(str(getattr(client, "base_url", "") or "") or DEFAULT_BASE_URL)
        s = base.settings
        if not isinstance(key, str) or not key:  # e.g. an OAuth token client: count with the configured key
            return base
        if key == s.api_key and url == s.origin:
            return base
        ident = (hashlib.sha256(key.encode()).hexdigest(), url)
        with self._lock:
            c = self._counters.get(ident)
            if c is None or c.cache is not base.cache:
                c = Counter(replace(s, base_url=url).with_api_key(key), cache=base.cache, limiter=base.limiter)
                self._counters[ident] = c
        return c

    def cache_live(self, model: str, body: dict[str, Any]) -> list[bool]:
        """Which of the body's cache breakpoints were sent within their TTL, as of now (the moment of sending)."""
        now = time.monotonic()
        with self._lock:
            return [self._prefixes.get(_prefix_key(model, bp.prefix), 0.0) > now for bp in breakpoints(body)]

    def predict(
        self,
        rec: CallRecord,
        body: dict[str, Any],
        counter: Any,
        *,
        batch: bool,
        live: list[bool] | None = None,
        deadline: float | None = None,
        headers: Any = None,
    ) -> None:
        """Fill in the record's prediction. Never raises: a failure to count is a note on the line. ``headers``: the
        call's request headers (its ``anthropic-beta`` values are counted with it)."""
        try:
            self._predict(rec, body, counter, batch=batch, live=live, deadline=deadline, headers=headers)
        except Exception:  # a bug of ours must not fail the call either
            log.debug("call meter: prediction failed", exc_info=True)
            rec.count_note = rec.count_note or "count failed: internal error"
        finally:
            with rec._lock:
                rec.predicting = False
                if rec.status == "counting":
                    rec.status = "sent"

    def _predict(
        self,
        rec: CallRecord,
        body: dict[str, Any],
        counter: Any,
        *,
        batch: bool,
        live: list[bool] | None,
        deadline: float | None,
        headers: Any = None,
    ) -> None:
        req = count_request(body, headers)
        try:
            res = counter.count(req, deadline=deadline)
        except Exception as exc:  # never let counting fail the call; say why and fall back to the estimate
            note = f"count failed: {exc}" if isinstance(exc, TokenCountError) else f"count failed: {type(exc).__name__}"
            try:
                res = counter.estimate(req, reason=note)
            except Exception:
                res = None
            rec.count_note = res.reason if res is not None and res.reason else note
        info = registry.resolve(rec.model)
        if res is None:
            with rec._lock:
                rec.context_window = info.context_window
            return
        total = res.input_tokens
        live = live if live is not None else self.cache_live(rec.model, body)
        w5, w1, read = self._cache_split(rec.model, body, total, live)
        cost = pricing.cost(
            rec.model, uncached=max(0, total - w5 - w1 - read), write_5m=w5, write_1h=w1, read=read, batch=batch
        )
        high = res.high if res.high is not None else total
        # the top of the range priced as the rest of the request would be (the extra tokens are not cached)
        cost_high = (
            cost
            if high == total or cost is None
            else pricing.cost(
                rec.model, uncached=max(0, high - w5 - w1 - read), write_5m=w5, write_1h=w1, read=read, batch=batch
            )
        )
        out = (
            pricing.cost(rec.model, output=rec.max_tokens, prompt_tokens=total, batch=batch) if rec.max_tokens else None
        )
        with rec._lock:  # all figures at once: a line never shows a count without its price
            rec.context_window = info.context_window
            rec.predicted_input_tokens, rec.exact = total, res.exact
            rec.predicted_low, rec.predicted_high = res.low, res.high
            rec.predicted_cost_usd_high = cost_high
            rec.predicted_original_input_tokens = res.original_input_tokens
            if not res.exact and not rec.count_note:
                rec.count_note = f"≈ estimate: {res.reason or 'offline'}"
            rec.predicted_cache_write_5m, rec.predicted_cache_write_1h, rec.predicted_cache_read = w5, w1, read
            rec.predicted_cost_usd, rec.max_output_cost_usd = cost, out

    def _cache_split(self, model: str, body: dict[str, Any], total: int, live: list[bool]) -> tuple[int, int, int]:
        """(5-minute writes, 1-hour writes, reads) predicted for this request from the session's ledger of prefixes
        sent. Prefix sizes are the offline estimator's share of the count, so they are ≈."""
        bps = breakpoints(body)
        if not bps:
            return 0, 0, 0
        sizes = self._prefix_sizes(model, body, bps, total)
        read_upto = max((i for i, ok in enumerate(live) if ok), default=-1)
        read = sizes[read_upto] if read_upto >= 0 else 0
        w5 = w1 = 0
        prev = read
        for i in range(read_upto + 1, len(bps)):
            seg = max(0, sizes[i] - prev)
            if bps[i].ttl == "1h":
                w1 += seg
            else:
                w5 += seg
            prev = max(prev, sizes[i])
        return w5, w1, read

    def _prefix_sizes(self, model: str, body: dict[str, Any], bps: list[Breakpoint], total: int) -> list[int]:
        from ..backends import offline

        info = registry.resolve(model)
        probe = [{"role": "user", "content": "."}]  # a prefix without messages is not a countable body

        def est(b: dict[str, Any]) -> int:
            b = count_body({**b, "model": model})
            b.setdefault("messages", probe)
            return offline.estimate(b, info).input_tokens

        try:
            full = max(1, est(body))
            sizes = [min(total, round(total * est(bp.prefix) / full)) for bp in bps]
        except Exception:  # the estimator could not read it: share by size on the wire
            full_len = max(1, len(json.dumps(count_body(body))))
            sizes = [min(total, round(total * len(json.dumps(count_body(bp.prefix))) / full_len)) for bp in bps]
        for i in range(1, len(sizes)):  # prefixes only grow
            sizes[i] = max(sizes[i], sizes[i - 1])
        return sizes

    def note_cached(self, model: str, body: dict[str, Any]) -> None:
        """After a successful answer, its prefixes are in the cache (a read refreshes the lifetime)."""
        now = time.monotonic()
        with self._lock:
            for bp in breakpoints(body):
                self._prefixes[_prefix_key(model, bp.prefix)] = now + TTL_SECONDS[bp.ttl]

    # -- budget --------------------------------------------------------------------------------------
    def check_budget(self, new: list[CallRecord]) -> None:
        """Stop the call (``BudgetExceeded``) when its predicted input, or with ``strict`` the top of the
        prediction's range, would pass a budget."""
        tokens = sum(r.budgeted_tokens(self.strict) for r in new)
        usd = sum(r.budgeted_usd(self.strict) or 0.0 for r in new)
        exact = all(r.exact for r in new)
        predicted = sum(r.predicted_input_tokens or 0 for r in new)
        label = format_tokens(predicted, exact)
        if tokens != predicted:  # strict, on an estimate: say which number was checked
            label += f" (likely up to {format_tokens(tokens, True)}; checked strictly)"
        with self._lock:
            earlier = [r for r in self.records if r.status != "blocked" and r not in new]
        how = "raise it with `%count_calls on --budget-tokens N` / `meter_calls(budget_tokens=N)`"
        if self.budget_tokens is not None:
            used = 0 if self.per_call else sum(r.spent_tokens() for r in earlier)
            if used + tokens > self.budget_tokens:
                where = "per-call budget" if self.per_call else "session budget"
                already = (
                    ""
                    if self.per_call
                    else f" ({format_tokens(used, True)} already used by {len(earlier)} earlier call(s))"
                )
                raise BudgetExceeded(
                    f"not sent: this call's input is {label} tokens and would pass the {where} of "
                    f"{format_tokens(self.budget_tokens, True)} tokens{already}; {how}, or `%count_calls off`"
                )
        if self.budget_usd is not None:
            if any(r.budgeted_usd(self.strict) is None for r in new):
                raise BudgetExceeded(
                    f"not sent: no list price is known for {new[0].model!r}, so a USD budget cannot be "
                    "checked; use --budget-tokens, or `%count_calls off`"
                )
            used_usd = 0.0 if self.per_call else sum(r.spent_usd() for r in earlier)
            if used_usd + usd > self.budget_usd:
                where = "per-call budget" if self.per_call else "session budget"
                already = (
                    ""
                    if self.per_call
                    else f" ({format_cost(used_usd)} already spent by {len(earlier)} earlier call(s))"
                )
                raise BudgetExceeded(
                    f"not sent: this call's input costs {format_cost(usd, exact)} and would pass the "
                    f"{where} of {format_cost(self.budget_usd)}{already}; raise it with `%count_calls on "
                    "--budget-usd X`"
                    " / `meter_calls(budget_usd=X)`, or `%count_calls off`"
                )

    @property
    def has_budget(self) -> bool:
        return self.budget_tokens is not None or self.budget_usd is not None

    # -- the hooks' entry points ----------------------------------------------------------------------
    def before_send(
        self,
        client: Any,
        raw: bytes,
        path: str,
        idempotency_key: str | None,
        retries_taken: int,
        headers: Any = None,
    ) -> Any:
        """A request is about to go out (``headers``: its request headers). Returns a handle for ``after_response``
        (None if not metered). Raises only ``BudgetExceeded``."""
        if retries_taken and idempotency_key in self._by_idempotency:
            return self._by_idempotency[idempotency_key]  # a retry of a call already metered and checked
        try:
            body = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(body, dict):
            return None
        batch = path.endswith("/batches")
        items: list[tuple[dict[str, Any], str | None]] = []
        if batch:
            for r in body.get("requests") or []:
                if isinstance(r, dict) and isinstance(r.get("params"), dict):
                    items.append((r["params"], r.get("custom_id")))
        else:
            items.append((body, None))
        if not items or not all(isinstance(p.get("model"), str) for p, _ in items):
            return None
        count = _execution_count()
        recs = [
            CallRecord(
                model=p["model"],
                kind="batch" if batch else "message",
                execution_count=count,
                stream=bool(p.get("stream")) and not batch,
                custom_id=cid,
                max_tokens=p.get("max_tokens") if isinstance(p.get("max_tokens"), int) else None,
            )
            for p, cid in items
        ]
        counter = self.counter_for(client)
        handle = _Handle(self, recs, [p for p, _ in items], batch)
        handle.headers = {k: headers.get(k) for k in ("anthropic-beta", *COUNT_HEADERS) if headers and headers.get(k)}
        handle.live = [self.cache_live(p["model"], p) for p, _ in items]
        with self._lock:
            self.records.extend(recs)
        handle.show()  # "counting…" at once, in the calling cell
        if self.has_budget:  # the budget needs the number first: count now, in the calling thread
            for rec, params, live in zip(recs, handle.bodies, handle.live, strict=True):
                self.predict(rec, params, counter, batch=batch, live=live, deadline=BUDGET_WAIT, headers=handle.headers)
            try:
                self.check_budget(recs)
            except BudgetExceeded:
                for rec in recs:
                    with rec._lock:
                        rec.status = "blocked"
                handle.refresh(done="prediction")
                raise
            handle.refresh(done="prediction")
        else:
            handle.future = self._pool.submit(handle.predict_all, counter)
        if idempotency_key:
            with self._lock:
                self._by_idempotency[idempotency_key] = handle
                while len(self._by_idempotency) > 256:
                    self._by_idempotency.popitem(last=False)
        return handle

    def results_handle(self, batch_id: str) -> _BatchResults | None:
        """A batch's results are being fetched: the records of its requests get their usage, at batch prices."""
        with self._lock:
            handle = self._batches.get(batch_id)
        return _BatchResults(handle) if handle is not None else None

    def close(self) -> None:
        self._pool.shutdown(wait=False)


def _execution_count() -> int | None:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    ip = get_ipython()
    if ip is None:
        return None
    # the running cell's own number, as IPython records it while the cell runs (8 and 9 alike)
    running = getattr(getattr(ip, "displayhook", None), "exec_result", None)
    n = getattr(running, "execution_count", None)
    if isinstance(n, int) and n > 0:
        return n
    # outside a running cell (a thread it started): IPython 9 numbers the next cell as soon as one starts, 8 when
    # it ends (8 is the IPython of Python 3.10)
    n = getattr(ip, "execution_count", None)
    if not isinstance(n, int):
        return None
    import IPython

    if IPython.version_info[0] >= 9:
        return n - 1 if n > 1 else None
    return n


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    return ip is not None and getattr(ip, "kernel", None) is not None


class _Handle:
    """One metered call (or batch) in flight: its records, its line in the cell, and the answer's bookkeeping."""

    def __init__(self, meter: Meter, records: list[CallRecord], bodies: list[dict[str, Any]], batch: bool) -> None:
        self.meter = meter
        self.records = records
        self.bodies = bodies
        self.batch = batch
        self.line = CallLine(records, batch)
        self.future: Future[None] | None = None
        self.live: list[list[bool]] = [[] for _ in records]
        #: the call's anthropic-beta (and profile / workspace) headers, counted with each request
        self.headers: dict[str, str] = {}
        self._display: Any = None
        self._lock = threading.Lock()
        self._pending = {"prediction", "answer"}  # a text line is printed once both are in
        self._answered = False

    def predict_all(self, counter: Any) -> None:
        for rec, body, live in zip(self.records, self.bodies, self.live, strict=True):
            self.meter.predict(rec, body, counter, batch=self.batch, live=live, headers=self.headers)
        self.refresh(done="prediction")
        self._release()

    def _release(self) -> None:
        """Once predicted and answered, the request bodies are not needed: a batch's can be large."""
        if self._answered and not any(r.predicting for r in self.records):
            self.bodies = []

    # -- display ------------------------------------------------------------------------------------
    def show(self) -> None:
        if not self.meter.show:
            return
        try:
            if _in_kernel():
                from IPython.display import display

                self._display = display(self.line, display_id=True)
            else:
                self._display = "text"
        except Exception:  # showing must never fail the call
            log.debug("call meter: display failed", exc_info=True)

    def refresh(self, done: str | None = None) -> None:
        with self._lock:
            self._pending.discard(done or "")
            if self.future is None:
                self._pending.discard("prediction")
            final = not self._pending
        if not self.meter.show or self._display is None:
            return
        try:
            if self._display == "text":
                if final and done:  # outside a kernel: one line per call, once all its figures are in
                    print(self.line.text(), file=sys.stderr)
            else:
                with self._lock:
                    self._display.update(self.line)
        except Exception:
            log.debug("call meter: display update failed", exc_info=True)

    # -- the answer ---------------------------------------------------------------------------------
    def failed_to_follow(self, why: str) -> None:
        """The call went through, but its usage cannot be read: say so instead of guessing."""
        for rec in self.records:
            with rec._lock:
                rec.count_note = (rec.count_note + "; " if rec.count_note else "") + f"usage unknown: {why}"
        self.refresh(done="answer")

    def failed(self, message: str) -> None:
        for rec in self.records:
            with rec._lock:
                rec.status, rec.error = "error", message
        self.refresh(done="answer")

    def answered_json(self, raw: bytes) -> None:
        if self.batch:
            try:
                batch_id = json.loads(raw).get("id")
            except Exception:
                batch_id = None
            for rec in self.records:
                with rec._lock:
                    rec.status, rec.batch_id = "submitted", batch_id
            if isinstance(batch_id, str):
                with self.meter._lock:
                    self.meter._batches[batch_id] = self
                    while len(self.meter._batches) > 1000:  # the oldest batches' results are no longer followed
                        self.meter._batches.pop(next(iter(self.meter._batches)))
            self._answered = True
            self.refresh(done="answer")
            self._release()
            return
        self.answered(usage_from_json(raw), complete=True)

    def answered(self, usage: dict[str, Any] | None, complete: bool, error: str | None = None) -> None:
        rec = self.records[0]
        body = self.bodies[0]
        with rec._lock:
            if error:
                rec.status, rec.error = "error", error
            if usage:
                rec.input_tokens = usage.get("input_tokens")
                rec.output_tokens = usage.get("output_tokens")
                rec.cache_creation_input_tokens = usage.get("cache_creation_input_tokens") or 0
                rec.cache_read_input_tokens = usage.get("cache_read_input_tokens") or 0
                rec.cost_usd = actual_cost(rec.model, usage)
                if not error:
                    rec.status = "done" if complete else "partial"
                    rec.error = None  # an earlier attempt's failure, retried
            elif not error:
                rec.status, rec.error = "error", "the answer carried no usage"
        if usage and not error:
            self.meter.note_cached(rec.model, body)
            self._answered = True
        self.refresh(done="answer")
        self._release()


class _BatchResults:
    """Reads a batch's JSON Lines results as the SDK streams them, into the records of the batch's requests."""

    jsonl = True

    def __init__(self, batch: _Handle) -> None:
        self.batch = batch
        self.by_id = {r.custom_id: r for r in batch.records}

    def result_line(self, line: bytes) -> None:
        try:
            obj = json.loads(line)
        except ValueError:
            return
        rec = self.by_id.get(obj.get("custom_id")) if isinstance(obj, dict) else None
        if rec is None or not isinstance(obj.get("result"), dict):
            return
        result = obj["result"]
        with rec._lock:
            if result.get("type") == "succeeded":
                usage: dict[str, Any] = {}
                merge_usage(usage, (result.get("message") or {}).get("usage"))
                rec.input_tokens = usage.get("input_tokens")
                rec.output_tokens = usage.get("output_tokens")
                rec.cache_creation_input_tokens = usage.get("cache_creation_input_tokens") or 0
                rec.cache_read_input_tokens = usage.get("cache_read_input_tokens") or 0
                rec.cost_usd = actual_cost(rec.model, usage, batch=True)
                rec.status, rec.error = "done", None
            else:
                err = (result.get("error") or {}).get("error") or result.get("error") or {}
                detail = err.get("message") if isinstance(err, dict) else None
                rec.status = "error"
                rec.error = str(result.get("type")) + (f": {detail}" if detail else "")

    def results_done(self) -> None:
        self.batch.refresh(done="results")

    def failed(self, message: str) -> None:
        pass  # fetching the results failed: the records stay as they were (submitted)

    def failed_to_follow(self, why: str) -> None:
        pass


def actual_cost(model: str, usage: dict[str, Any], batch: bool = False) -> float | None:
    """What a response's ``usage`` costs at list price."""
    created = usage.get("cache_creation_input_tokens") or 0
    split = usage.get("cache_creation") or {}
    w1 = split.get("ephemeral_1h_input_tokens", 0) if split else 0
    w5 = split.get("ephemeral_5m_input_tokens", created - w1) if split else created
    read = usage.get("cache_read_input_tokens") or 0
    uncached = usage.get("input_tokens") or 0
    output = usage.get("output_tokens") or 0
    return pricing.cost(model, uncached=uncached, write_5m=w5, write_1h=w1, read=read, output=output, batch=batch)
