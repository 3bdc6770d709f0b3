"""What a Messages call costs: list prices from the registry, prompt-caching and batch aware.

Prices are USD per million tokens. Cache writes cost the 5-minute or 1-hour write price, reads the read price;
the Message Batches API halves every rate (caching multipliers still apply). A model with a prompt-length price
band (Haiku 5.5) charges the band's rates for the whole request once input + cache writes + reads pass it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import registry

BATCH_DISCOUNT = 0.5


@dataclass(frozen=True)
class Rates:
    input: float
    output: float | None
    cache_write_5m: float | None
    cache_write_1h: float | None
    cache_read: float | None


def rates(model: str, prompt_tokens: int, *, batch: bool = False) -> Rates | None:
    """The rates that apply to a request of ``prompt_tokens`` whole input, or None when the price is unknown."""
    p = registry.resolve(model).prices
    if p.input is None:
        return None
    r = {
        "input": p.input,
        "output": p.output,
        "cache_write_5m": p.cache_write_5m,
        "cache_write_1h": p.cache_write_1h,
        "cache_read": p.cache_read,
    }
    for band in registry.price_bands(model):
        if prompt_tokens > band.get("prompt_above", float("inf")):
            r.update({k: v for k, v in band.items() if k in r})
    scale = BATCH_DISCOUNT if batch else 1.0
    return Rates(**{k: (None if v is None else v * scale) for k, v in r.items()})  # type: ignore[arg-type]


def _mtok(tokens: int, rate: float | None) -> float | None:
    if not tokens:
        return 0.0
    return None if rate is None else tokens * rate / 1_000_000


def input_cost(
    model: str, *, uncached: int, write_5m: int = 0, write_1h: int = 0, read: int = 0, batch: bool = False
) -> float | None:
    """Input cost of one request split into uncached, cache-written and cache-read tokens."""
    r = rates(model, uncached + write_5m + write_1h + read, batch=batch)
    if r is None:
        return None
    parts = [
        _mtok(uncached, r.input),
        _mtok(write_5m, r.cache_write_5m),
        _mtok(write_1h, r.cache_write_1h),
        _mtok(read, r.cache_read),
    ]
    return None if any(x is None for x in parts) else sum(x for x in parts if x is not None)


def output_cost(model: str, tokens: int, *, prompt_tokens: int, batch: bool = False) -> float | None:
    r = rates(model, prompt_tokens, batch=batch)
    return None if r is None else _mtok(tokens, r.output)
