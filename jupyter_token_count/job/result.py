"""``JobEstimate``: what a job will cost, with its interval, and how it shows itself (text, HTML card with an SVG
histogram, and in JupyterLab a Vega-Lite histogram)."""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from .. import markup
from ..display import BORDER, ERROR, FG, FG2, FONT, OK, WARN
from ..formatting import format_cost, format_tokens
from . import chart

esc = html.escape

METHODS = {
    "offline": "offline estimates; the interval from the estimator's error figures",
    "calibrated": "offline estimates calibrated with exact counts",
    "census": "every request counted exactly",
}
#: ids listed in text before "… and N more"
LIST_IDS = 8


@dataclass(frozen=True)
class JobEstimate:
    """What running every request of a job will cost. Estimates are marked ≈ wherever they are shown; ``exact``
    is True only when every request was counted by the API."""

    requests: int
    input_tokens: int
    #: the 95 % interval of the job's input tokens
    input_tokens_low: int
    input_tokens_high: int
    exact: bool
    #: requests counted exactly through the API (the heaviest and a random sample of the rest)
    exact_sample: int
    method: str
    #: input at the standard list price (each request in its own price band), then through the Batches API
    cost_usd: float | None
    cost_usd_low: float | None
    cost_usd_high: float | None
    batch_cost_usd: float | None
    batch_cost_usd_low: float | None
    batch_cost_usd_high: float | None
    #: the worst case of the output: every request writing its full max_tokens
    output_tokens_max: int
    output_cost_usd_max: float | None
    batch_output_cost_usd_max: float | None
    #: ids (custom_id, else line number of a file, else index label or position) of requests over their window
    over_window: list[Any]
    over_window_rows: list[dict[str, Any]]
    #: requests whose input plus the max_tokens they ask for exceed the window: the reply cannot reach max_tokens
    output_limited: list[Any]
    heaviest: list[dict[str, Any]]
    #: the best prompt-caching opportunity: requests sharing a prefix and what cache_control on it would save
    caching: dict[str, Any] | None
    bad_rows: int
    #: requests costed roughly from their length (the offline tokenizer's time limit passed): how many, the first
    #: ids; the interval is widened by what each can be off
    rough_rows: int
    rough: list[Any]
    #: the first bad rows' errors, each naming its row
    errors: list[str]
    model: str | None
    models: dict[str, dict[str, Any]]
    offline_input_tokens: int
    histogram: list[dict[str, Any]]
    context_window: int | None
    #: the random sample asked for (0: none) and what was counted of it and of the heaviest
    sample: int
    heaviest_counted: int
    sample_counted: int
    #: how each kind of request (tokenizer; tools, images, documents, thinking) was calibrated: its requests,
    #: how many were sampled, the estimator and its line (exact ≈ intercept + slope × offline)
    strata: list[dict[str, Any]]
    seed: int
    source: str
    #: why there are no exact counts, when there are none
    reason: str | None = None
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    workers: str = ""
    elapsed_s: float = field(default=0.0, compare=False)

    # -- plain data ---------------------------------------------------------------------------------------------
    @property
    def label(self) -> str:
        return format_tokens(self.input_tokens, self.exact)

    @property
    def approx(self) -> str:
        return "" if self.exact else "≈"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["notes"] = list(self.notes)
        d["warnings"] = list(self.warnings)
        d["label"] = self.label
        return d

    def to_dataframe(self, what: str = "models") -> Any:
        """A pandas DataFrame (needs pandas): ``"models"`` (the job split by model, one row each), ``"heaviest"``
        (the heaviest requests) or ``"histogram"`` (requests per band of input tokens)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("to_dataframe() needs pandas: pip install 'jupyter-token-count[dask]'") from None
        if what == "models":
            return pd.DataFrame.from_dict(self.models, orient="index").rename_axis("model")
        if what == "heaviest":
            return pd.DataFrame(self.heaviest)
        if what == "histogram":
            return pd.DataFrame(self.histogram, columns=["start", "end", "requests"])
        raise ValueError(f"what must be 'models', 'heaviest' or 'histogram', not {what!r}")

    # -- words --------------------------------------------------------------------------------------------------
    def _model_name(self) -> str:
        if self.model is not None:
            return str(self.models[self.model]["display_name"] or self.model)
        return f"{len(self.models)} models"

    def _interval(self) -> str:
        if self.exact:
            return "exact: every request counted by the API"
        return f"95 % interval {self.input_tokens_low:,} – {self.input_tokens_high:,}"

    def _how(self) -> str:
        if self.method == "calibrated":
            kinds = len([s for s in self.strata if s["rows"]])
            per = f", per kind of request ({kinds} kinds)" if kinds > 1 else ""
            return (
                f"{METHODS[self.method]}{per}: {self.heaviest_counted:,} heaviest + {self.sample_counted:,} random "
                f"requests counted by the API (seed {self.seed})"
            )
        if self.method == "offline":
            return f"{METHODS['offline']} ({self.reason})" if self.reason else METHODS["offline"]
        return METHODS[self.method]

    def _cost_line(self, value: float | None, low: float | None, high: float | None) -> str:
        if value is None:
            unpriced = ", ".join(m for m, d in self.models.items() if d["cost_usd"] is None)
            return f"unknown (no price for {unpriced})"
        text = format_cost(value, self.exact)
        if not self.exact and low is not None and high is not None:
            text += f" ({format_cost(low)} – {format_cost(high)})"
        return text

    def _ids(self, ids: list[Any], name: Callable[[str], str] | None = None) -> str:
        """The first ids (custom_ids, row labels as the input wrote them), each as ``name`` shows data."""
        shown = ", ".join(
            (repr(i) if name is None else name(i)) if isinstance(i, str) else f"{i}" for i in ids[:LIST_IDS]
        )
        more = len(ids) - LIST_IDS
        return shown + (f" and {more:,} more" if more > 0 else "")

    def lines(self, markdown: bool = False) -> list[tuple[str, str]]:
        """The estimate as (label, text) pairs: what the CLI's table, the text repr and the markdown show.

        Names, ids and messages come from the data: as text, control characters are shown as escapes; with
        ``markdown`` the texts are markdown, names and ids in code spans nothing can close and the rest escaped
        (``markup``), as the CLI's reports do."""
        if markdown:
            name, prose = markup.md_code, markup.md
        else:
            name, prose = markup.visible, markup.visible
        standard = self._cost_words(self.cost_usd, self.cost_usd_low, self.cost_usd_high, name, prose)
        batch = self._cost_words(self.batch_cost_usd, self.batch_cost_usd_low, self.batch_cost_usd_high, name, prose)
        rows = [
            ("requests", f"{prose(f'{self.requests:,}')} · {self._model_label(name, prose)} · {name(self.source)}"),
            ("input tokens", prose(f"{self.label} · {self._interval()}")),
            ("how", prose(self._how())),
            ("input cost", f"{standard} {prose('standard')}"),
            ("batch", f"{batch} {prose('through the Message Batches API (half price)')}"),
        ]
        if self.output_cost_usd_max is not None:
            rows.append(
                (
                    "output, at most",
                    prose(
                        f"{format_cost(self.output_cost_usd_max)} standard, "
                        f"{format_cost(self.batch_output_cost_usd_max)} batch ({self.output_tokens_max:,} tokens: "
                        "every request's max_tokens)"
                    ),
                )
            )
        if self.heaviest:
            top = self.heaviest[0]
            more = f" (and {len(self.heaviest) - 1} more listed)" if len(self.heaviest) > 1 else ""
            rows.append(
                (
                    "heaviest",
                    name(top["where"]) + prose(f": {self._tokens(top)} tokens{more}"),
                )
            )
        if self.over_window:
            rows.append(("over window", self.over_window_text(markdown)))
        if self.output_limited:
            n = len(self.output_limited)
            words = f"{n:,} request{'s' if n != 1 else ''} leave less room than their max_tokens in the window: "
            rows.append(("output room", self._words_and_ids(words, self.output_limited, markdown)))
        if self.rough_rows:
            rows.append(("rough", self.rough_text(markdown)))
        hint = self.caching_hint()
        if hint:
            rows.append(("caching", prose(hint)))
        if self.bad_rows:
            rows.append(("bad rows", prose(self.bad_rows_text())))
        for w in self.warnings:
            rows.append(("warning", prose(w)))
        for n in self.notes:
            rows.append(("note", prose(n)))
        return rows

    @staticmethod
    def _tokens(row: dict[str, Any]) -> str:
        return format_tokens(row["input_tokens"], row["exact"])

    def _model_label(self, name: Callable[[str], str], prose: Callable[[str], str]) -> str:
        if self.model is None:
            return prose(f"{len(self.models)} models")
        shown = self.models[self.model]["display_name"]
        return prose(shown) if shown and shown != self.model else name(self.model)

    def _cost_words(
        self,
        value: float | None,
        low: float | None,
        high: float | None,
        name: Callable[[str], str],
        prose: Callable[[str], str],
    ) -> str:
        if value is None:
            unpriced = prose(", ").join(name(m) for m, d in self.models.items() if d["cost_usd"] is None)
            return f"{prose('unknown (no price for ')}{unpriced}{prose(')')}"
        return prose(self._cost_line(value, low, high))

    def over_window_text(self, markdown: bool = False) -> str:
        n = len(self.over_window)
        words = (
            f"{n:,} request{'s' if n != 1 else ''} over the context window, which the API will refuse (in the "
            f"totals above): "
        )
        return self._words_and_ids(words, self.over_window, markdown)

    def rough_text(self, markdown: bool = False) -> str:
        n = self.rough_rows
        words = (
            f"{n:,} request{'s' if n != 1 else ''} costed roughly from {'their' if n != 1 else 'its'} length (the "
            "offline tokenizer's time limit passed; the interval is widened by what such a figure can be off): "
        )
        return self._words_and_ids(words, self.rough, markdown)

    def _words_and_ids(self, words: str, ids: list[Any], markdown: bool) -> str:
        """Our words, then ids from the data: as markdown, each id a code span and the words escaped."""
        if markdown:
            return markup.md(words) + self._ids(ids, markup.md_code)
        return markup.visible(words + self._ids(ids))

    def bad_rows_text(self) -> str:
        n = self.bad_rows
        return f"{n:,} bad row{'s' if n != 1 else ''} left out; first: {self.errors[0]}"

    def caching_hint(self) -> str | None:
        c = self.caching
        if not c:
            return None
        already = c.get("already_cached", 0)
        if "requests" not in c:
            return f"{already:,} requests already mark their prefix with cache_control (costs above are uncached)"
        text = (
            f"{c['requests']:,} requests share a {format_tokens(c['prefix_tokens'], False)}-token prefix "
            f"({c['prefix']}): "
            f"cache_control on it would save {format_cost(c['saving_usd'], False)} standard"
        )
        if c.get("batch_saving_usd") is not None:
            text += f", {format_cost(c['batch_saving_usd'], False)} batch (batch cache hits are best-effort)"
        if c["prefix_tokens"] < 4096:
            text += "; only if it reaches the model's minimum cacheable length (1,024 to 4,096 tokens by model)"
        return text

    def summary(self) -> str:
        width = max(len(k) for k, _ in self.lines())
        return "\n".join(f"{k:<{width}}  {v}" for k, v in self.lines())

    def __repr__(self) -> str:
        kind = "exact" if self.exact else self.method
        return (
            f"JobEstimate({self.requests:,} requests, {self.label} input tokens "
            f"[{self.input_tokens_low:,}–{self.input_tokens_high:,}], {kind}, cost {format_cost(self.cost_usd)})"
        )

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.summary())

    # -- pictures -----------------------------------------------------------------------------------------------
    def vegalite(self) -> dict[str, Any]:
        return chart.vegalite(self.histogram, exact=self.exact, window=self.context_window)

    def svg(self) -> str:
        return chart.svg(self.histogram, exact=self.exact)

    def _repr_html_(self) -> str:
        """The card with its histogram as inline SVG (for front ends that take HTML only)."""
        return render_card(self, chart_html=self.svg())

    def _ipython_display_(self) -> None:
        """Two outputs: the card, then the histogram, which JupyterLab draws from Vega-Lite and other front ends
        from the SVG (JupyterLab prefers HTML to Vega-Lite within one output, so they cannot share one)."""
        from IPython.display import display

        display({"text/html": render_card(self), "text/plain": self.summary()}, raw=True)
        if self.histogram:
            display(
                {
                    chart.VEGALITE_MIME: self.vegalite(),
                    "image/svg+xml": self.svg(),
                    "text/plain": f"<histogram of {self.approx}input tokens per request: {len(self.histogram)} bars>",
                },
                raw=True,
            )


# ---- the card: in the style of the count card (display.py) ---------------------------------------------------


def _badge(job: JobEstimate) -> str:
    if job.exact:
        text, colours = "exact", f"background:var(--jp-success-color3,rgba(46,125,50,.15));color:{OK}"
    elif job.method == "offline":
        text, colours = "offline estimate", f"background:var(--jp-warn-color3,rgba(230,81,0,.14));color:{WARN}"
    else:
        text = f"calibrated · {job.exact_sample:,} exact"
        colours = "background:var(--jp-brand-color3,rgba(25,118,210,.14));color:var(--jp-brand-color1,#1976d2)"
    return (
        f'<span style="font-size:0.72em;font-weight:600;padding:1px 7px;border-radius:9px;'
        f'vertical-align:middle;{colours}">{esc(text)}</span>'
    )


def _cost(job: JobEstimate, value: float | None, low: float | None, high: float | None, what: str) -> str:
    if value is None:
        return f'<span style="color:{FG2}">{esc(what)}: price unknown</span>'
    spread = ""
    if not job.exact and low is not None and high is not None:
        ends = f"{esc(format_cost(low))} – {esc(format_cost(high))}"
        spread = f' <span style="color:{FG2};font-size:0.85em">({ends})</span>'
    return f"<b>{esc(format_cost(value, job.exact))}</b> {esc(what)}{spread}"


def _row(text: str, colour: str = FG2) -> str:
    return f'<div style="font-size:0.84em;color:{colour};margin-top:4px">{text}</div>'


def render_card(job: JobEstimate, chart_html: str = "") -> str:
    head = (
        f'<div style="font-size:0.85em;color:{FG2}">Job estimate · {esc(job.source)} · {job.requests:,} requests · '
        f"{esc(job._model_name())}</div>"
    )
    interval = (
        "every request counted by the API"
        if job.exact
        else f"95 % interval {job.input_tokens_low:,} – {job.input_tokens_high:,}"
    )
    big = (
        f'<div style="display:flex;align-items:baseline;flex-wrap:wrap;gap:6px;margin-top:2px">'
        f'<span style="font-size:2.1em;font-weight:650;line-height:1.15;font-variant-numeric:tabular-nums">'
        f'{esc(job.label)}</span><span style="color:{FG2}">input tokens</span> {_badge(job)}</div>'
        f'<div style="font-size:0.85em;color:{FG2}">{esc(interval)} · {esc(job._how())}</div>'
    )
    costs = (
        f'<div style="margin-top:6px">{_cost(job, job.cost_usd, job.cost_usd_low, job.cost_usd_high, "standard")}'
        f" · {_cost(job, job.batch_cost_usd, job.batch_cost_usd_low, job.batch_cost_usd_high, 'batch')}"
        f' <span style="color:{FG2};font-size:0.85em">input at list price</span></div>'
    )
    if job.output_cost_usd_max is not None:
        costs += _row(
            f"output at most {esc(format_cost(job.output_cost_usd_max))} standard, "
            f"{esc(format_cost(job.batch_output_cost_usd_max))} batch ({job.output_tokens_max:,} tokens: "
            "every request's max_tokens)"
        )
    extra = ""
    if job.heaviest:
        top = job.heaviest[0]
        extra += _row(f"heaviest: {esc(top['where'])}, {'' if top['exact'] else '≈'}{top['input_tokens']:,} tokens")
    if job.over_window:
        extra += _row(f"⚠ {esc(job.over_window_text())}", ERROR)
    if job.output_limited:
        extra += _row(
            f"⚠ {len(job.output_limited):,} leave less room than their max_tokens: {esc(job._ids(job.output_limited))}",
            WARN,
        )
    if job.rough_rows:
        extra += _row(f"⚠ {esc(job.rough_text())}", WARN)
    if job.bad_rows:
        extra += _row(f"⚠ {esc(job.bad_rows_text())}", ERROR)
    hint = job.caching_hint()
    if hint:
        extra += _row(f"caching: {esc(hint)}")
    for w in job.warnings:
        extra += _row(f"⚠ {esc(w)}", WARN)
    for n in job.notes:
        extra += _row(esc(n))
    chart = f'<div style="margin-top:8px">{chart_html}</div>' if chart_html else ""
    return (
        # tex2jax_ignore / mathjax_ignore: two prices on a line must not become LaTeX between their $ signs
        f'<div class="jtc-card jtc-job jupyter-token-count tex2jax_ignore mathjax_ignore" '
        f'data-token-count="{job.input_tokens}" '
        f'style="box-sizing:border-box;font-family:{FONT};color:{FG};border:1px solid {BORDER};border-radius:8px;'
        f'padding:10px 14px">{head}{big}{costs}{chart}{extra}</div>'
    )
