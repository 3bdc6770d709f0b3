"""The one pricing function, against figures worked out by hand from models.json's list prices
(USD per million tokens), never against the code itself."""

from __future__ import annotations

import pytest

from jupyter_token_count import pricing, registry
from jupyter_token_count.pricing import Rates


def test_every_kind_of_token_at_its_own_rate() -> None:
    # Sonnet 5.5: $2 in, $2.50 5-minute write, $4 1-hour write, $0.10 read, $10 out
    assert pricing.cost("claude-sonnet-5-5", uncached=1_000_000) == pytest.approx(2.0)
    assert pricing.cost(
        "claude-sonnet-5-5", uncached=1_000_000, write_5m=1_000_000, write_1h=1_000_000, read=1_000_000
    ) == pytest.approx(2 + 2.5 + 4 + 0.1)
    assert pricing.cost("claude-sonnet-5-5", output=2_000) == pytest.approx(0.02)
    # Opus 4.8 at $5/MTok: 1,234 tokens are $0.00617
    assert pricing.cost("claude-opus-4-8", uncached=1_234) == pytest.approx(0.00617)


def test_batch_halves_every_rate() -> None:
    assert pricing.rates("claude-sonnet-5-5", 10, batch=True) == Rates(
        input=1.0, output=5.0, cache_write_5m=1.25, cache_write_1h=2.0, cache_read=0.05
    )
    assert pricing.cost("claude-sonnet-5-5", uncached=1_000_000, output=1_000_000, batch=True) == pytest.approx(6.0)


def test_a_price_band_applies_to_the_whole_request_above_its_size() -> None:
    # Haiku 5.5: $0.10 in / $0.50 out up to a 100,000-token prompt; above it $0.50 in, $0.625 and $1 writes,
    # $0.05 read, $2.50 out, for every token of the request
    assert pricing.rates("claude-haiku-5-5", 100_000) == Rates(0.1, 0.5, 0.125, 0.2, 0.01)
    assert pricing.rates("claude-haiku-5-5", 100_001) == Rates(0.5, 2.5, 0.625, 1.0, 0.05)
    assert pricing.cost("claude-haiku-5-5", uncached=100_000) == pytest.approx(0.01)
    # cache reads count towards the prompt that picks the band
    assert pricing.cost("claude-haiku-5-5", uncached=50_000, read=60_000) == pytest.approx(0.025 + 0.003)
    # output is priced by its request's prompt
    assert pricing.cost("claude-haiku-5-5", output=1_000_000, prompt_tokens=10) == pytest.approx(0.5)
    assert pricing.cost("claude-haiku-5-5", output=1_000_000, prompt_tokens=150_000) == pytest.approx(2.5)
    # one cell's 1,000 tokens of a 150,000-token notebook pay the band's $0.50
    assert pricing.cost("claude-haiku-5-5", uncached=1_000, prompt_tokens=150_000) == pytest.approx(0.0005)


def test_no_invented_price() -> None:
    assert pricing.rates("claude-unknown-model-9", 10) is None
    assert pricing.cost("claude-unknown-model-9", uncached=10) is None
    # Claude 3 Sonnet publishes no cache rates: a cache read has no price, plain input does ($3/MTok)
    assert pricing.cost("claude-3-sonnet-20240229", uncached=1_000_000) == pytest.approx(3.0)
    assert pricing.cost("claude-3-sonnet-20240229", uncached=10, read=10) is None
    # Claude 3.5 Sonnet (June) has a 5-minute write ($3.75) and no 1-hour one
    assert pricing.cost("claude-3-5-sonnet-20240620", write_5m=1_000_000) == pytest.approx(3.75)
    assert pricing.cost("claude-3-5-sonnet-20240620", write_1h=1) is None
    # nothing to price is free, for a known model
    assert pricing.cost("claude-sonnet-5-5") == 0.0


def test_a_dated_id_or_a_record_is_priced_like_its_model() -> None:
    # Haiku 5.5 below its band: 10,000 tokens at $0.10/MTok; a prompt of 1,000,000 is in the band ($0.50)
    assert pricing.cost("claude-haiku-5-5-20990101", uncached=10_000) == pytest.approx(0.001)
    assert pricing.cost("claude-haiku-5-5-20990101", uncached=1_000_000) == pytest.approx(0.5)
    info = registry.resolve("claude-haiku-5-5")
    assert pricing.cost(info, uncached=10_000, prompt_tokens=200_000) == pytest.approx(0.005)
