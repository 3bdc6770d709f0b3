"""Against the real Anthropic API. Runs only when ANTHROPIC_API_KEY is set in the environment that started
pytest; otherwise it is skipped and says so."""

from __future__ import annotations

import pytest
from conftest import LIVE_KEY

from jupyter_token_count.config import Settings
from jupyter_token_count.counter import Counter
from jupyter_token_count.request import build_request

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not LIVE_KEY, reason="live API test skipped: ANTHROPIC_API_KEY is not set"),
]

WEATHER = {
    "name": "get_weather",
    "description": "Get the current weather in a given location",
    "input_schema": {
        "type": "object",
        "properties": {"location": {"type": "string", "description": "The city and state"}},
        "required": ["location"],
    },
}


@pytest.mark.parametrize("model", ["claude-sonnet-4-6", "claude-opus-4-8"])
def test_real_counts_match_the_estimate_closely(model: str, tmp_path):
    counter = Counter(Settings(data_dir=tmp_path, mode="api").with_api_key(LIVE_KEY))
    for req in (
        build_request("Hello, Claude", system="You are a scientist", model=model),
        build_request("What's the weather like in San Francisco?", tools=[WEATHER], model=model),
    ):
        exact = counter.count(req)
        assert exact.exact and exact.source == "api" and exact.input_tokens > 5
        est = counter.estimate(req)
        # the estimator's targets: within 2 % for text, 10 % with tools (plus a token of slack on tiny prompts)
        tolerance = 0.10 if "tools" in req.body else 0.02
        assert abs(est.input_tokens - exact.input_tokens) <= max(1, tolerance * exact.input_tokens), (est, exact)
        assert counter.count(req).source == "cache"
