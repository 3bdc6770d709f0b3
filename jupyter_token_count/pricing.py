"""What a Claude request costs at list price: the one place where a model's prices (models.json, through the
registry) become the rates a request pays and then dollars. The counter, a notebook's cell shares, the call
meter, the CLI and job estimates all ask here.

Rates are USD per million tokens. Cache writes pay the 5-minute or 1-hour write rate, cache reads the read
rate, output the output rate; the Message Batches API halves every rate (the caching rates too). A model with
a prompt-size price band (Haiku 5.5) charges the band's rates, output included, for the whole request once its
prompt (input + cache writes + cache reads) passes the band's size.
"""

from __future__ import annotations

from dataclasses import dataclass

from .registry import ModelInfo, resolve

#: what the Message Batches API charges of the list price
BATCH_DISCOUNT = 0.5


@dataclass(frozen=True)
class Rates:
    """The rates one request pays, USD per million tokens; None where the model has no published rate."""

    input: float | None
    output: float | None
    cache_write_5m: float | None
    cache_write_1h: float | None
    cache_read: float | None


def rates(model: str | ModelInfo, prompt_tokens: int, *, batch: bool = False) -> Rates | None:
    """The rates a request with a prompt of ``prompt_tokens`` pays, or None when the model's price is unknown."""
    info = model if isinstance(model, ModelInfo) else resolve(model)
    p = info.prices
    if p.input is None:
        return None
    for above, band in info.prices.bands:
        if prompt_tokens > above:
            p = band
    scale = BATCH_DISCOUNT if batch else 1.0

    def scaled(rate: float | None) -> float | None:
        return None if rate is None else rate * scale

    return Rates(
        input=scaled(p.input),
        output=scaled(p.output),
        cache_write_5m=scaled(p.cache_write_5m),
        cache_write_1h=scaled(p.cache_write_1h),
        cache_read=scaled(p.cache_read),
    )


def cost(
    model: str | ModelInfo,
    *,
    uncached: int = 0,
    write_5m: int = 0,
    write_1h: int = 0,
    read: int = 0,
    output: int = 0,
    prompt_tokens: int | None = None,
    batch: bool = False,
) -> float | None:
    """USD for these tokens of one request, or None when a rate they need is unknown (never a guessed price).

    ``uncached`` input tokens, cache writes (5-minute, 1-hour), cache reads and output tokens. ``prompt_tokens``,
    the request's whole prompt, picks the price band when the tokens priced are only part of it (one cell of a
    notebook, the output alone); by default it is ``uncached + write_5m + write_1h + read``."""
    prompt = uncached + write_5m + write_1h + read if prompt_tokens is None else prompt_tokens
    r = rates(model, prompt, batch=batch)
    if r is None:
        return None
    usd = 0.0
    for tokens, rate in (
        (uncached, r.input),
        (write_5m, r.cache_write_5m),
        (write_1h, r.cache_write_1h),
        (read, r.cache_read),
        (output, r.output),
    ):
        if tokens:
            if rate is None:
                return None
            usd += tokens * rate / 1_000_000
    return usd
