"""Against the real Anthropic API. Runs only when ANTHROPIC_API_KEY is set in the environment that started
pytest; otherwise it is skipped and says so."""

from __future__ import annotations

import os

import pytest
from conftest import LIVE_KEY

from jupyter_token_count.config import Settings
from jupyter_token_count.counter import Counter
from jupyter_token_count.errors import InvalidRequest
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


# -- one beta request of each kind (issue 20) ---------------------------------------------------------------------
LOOP = [{"role": "user", "content": "What is the weather in Paris, Rome and Oslo?"}]
for _i, _city in enumerate(("Paris", "Rome", "Oslo")):
    LOOP.append(
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": f"toolu_0{_i}", "name": "get_weather", "input": {"location": _city}}
            ],
        }
    )
    LOOP.append(
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": f"toolu_0{_i}", "content": f"{_city}: sunny. " * 40}],
        }
    )
CLEAR = {
    "type": "clear_tool_uses_20250919",
    "trigger": {"type": "input_tokens", "value": 200},
    "keep": {"type": "tool_uses", "value": 1},
}


@pytest.fixture
def live(tmp_path) -> Counter:
    return Counter(Settings(data_dir=tmp_path, mode="api").with_api_key(LIVE_KEY))


@pytest.mark.parametrize(
    ("extra", "beta"),
    [
        ({"context_management": {"edits": [CLEAR]}}, "context-management-2025-06-27"),
        ({"context_management": {"edits": [{"type": "compact_20260112"}]}}, "compact-2026-01-12"),
        ({"compaction": {"type": "summarize"}}, "compact-2026-09-04"),
        (
            {
                "output_format": {
                    "type": "json_schema",
                    "schema": {
                        "type": "object",
                        "properties": {"city": {"type": "string"}},
                        "required": ["city"],
                        "additionalProperties": False,
                    },
                }
            },
            "structured-outputs-2025-11-13",
        ),
    ],
)
def test_a_beta_request_is_counted_exactly(live: Counter, extra: dict, beta: str):
    req = build_request({"model": "claude-sonnet-4-6", "messages": LOOP, "tools": [WEATHER], **extra})
    assert beta in req.betas
    res = live.count(req)
    assert res.exact and res.source == "api" and res.input_tokens > 50
    if "context_management" in extra:
        assert res.original_input_tokens is not None and res.original_input_tokens >= res.input_tokens
    assert live.count(req).source == "cache"


def test_a_files_api_document_is_counted_exactly(live: Counter):
    import anthropic
    from media import pdf_bytes

    client = anthropic.Anthropic(api_key=LIVE_KEY)
    upload = client.beta.files.upload(file=("live-test.pdf", pdf_bytes(1, "A one-page live test."), "application/pdf"))
    try:
        content = [
            {"type": "document", "source": {"type": "file", "file_id": upload.id}},
            {"type": "text", "text": "Summarise."},
        ]
        res = live.count(build_request([{"role": "user", "content": content}], model="claude-sonnet-4-6"))
        assert res.exact and res.input_tokens > 20
    finally:
        client.beta.files.delete(upload.id)


@pytest.mark.skipif(
    not os.environ.get("JTC_LIVE_MCP_URL"),
    reason="set JTC_LIVE_MCP_URL to a remote MCP server the API can reach to count an mcp_servers request",
)
def test_an_mcp_servers_request_is_counted_exactly(live: Counter):
    servers = [{"type": "url", "name": "live", "url": os.environ["JTC_LIVE_MCP_URL"]}]
    req = build_request(
        {
            "model": "claude-sonnet-4-6",
            "messages": [{"role": "user", "content": "Hi"}],
            "mcp_servers": servers,
            "tools": [{"type": "mcp_toolset", "mcp_server_name": "live"}],
        }
    )
    bare = live.count(build_request("Hi", model="claude-sonnet-4-6"))
    res = live.count(req)
    assert res.exact and res.input_tokens > bare.input_tokens  # the server's tools are in the count


def test_an_unknown_beta_is_the_apis_one_line_error(live: Counter):
    with pytest.raises(InvalidRequest) as err:
        live.count(build_request("Hi", model="claude-sonnet-4-6", betas=["no-such-beta-2099-01-01"]))
    assert "no-such-beta-2099-01-01" in err.value.user_message() and "\n" not in err.value.user_message()
