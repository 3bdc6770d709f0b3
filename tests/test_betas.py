"""The real API's contract about betas, through the real SDK and the stricter stand-in: beta-only fields and
Files-API sources need their beta, unknown betas are refused, counts with betas go through the beta count
endpoint (``original_input_tokens`` kept), and exact counts are kept apart by the API origin that answered them."""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest
from standin import StandIn, standin_count

from jupyter_token_count import count_tokens
from jupyter_token_count.cache import CountCache
from jupyter_token_count.config import Settings, api_origin
from jupyter_token_count.counter import Counter
from jupyter_token_count.errors import InputError, InvalidRequest
from jupyter_token_count.request import build_request
from jupyter_token_count.request.betas import FEATURES, TOKEN_COUNTING, features, with_needed

M = "claude-sonnet-5-5"
TOOL = {"name": "weather", "description": "The weather in a city", "input_schema": {"type": "object"}}


def tool_loop(n: int = 4) -> list[dict[str, Any]]:
    """A conversation with ``n`` tool calls and long results: what context editing clears."""
    msgs: list[dict[str, Any]] = [{"role": "user", "content": "What is the weather in these cities?"}]
    for i in range(n):
        msgs.append(
            {"role": "assistant", "content": [{"type": "tool_use", "id": f"t{i}", "name": "weather", "input": {}}]}
        )
        msgs.append(
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"t{i}", "content": "sunny " * 60}]}
        )
    return msgs


CLEAR = {
    "type": "clear_tool_uses_20250919",
    "trigger": {"type": "input_tokens", "value": 100},
    "keep": {"type": "tool_uses", "value": 1},
}
COMPACT = {"type": "compact_20260112"}
MCP = {"type": "url", "name": "docs", "url": "https://mcp.example.com/sse"}
SCHEMA = {"type": "json_schema", "schema": {"type": "object", "properties": {"answer": {"type": "string"}}}}


def edited_request(**extra: Any) -> dict[str, Any]:
    return {"model": M, "messages": tool_loop(), "tools": [TOOL], "context_management": {"edits": [CLEAR]}, **extra}


def beta_header(standin: StandIn) -> list[str]:
    return [b.strip() for b in standin.count_requests()[-1].headers.get("anthropic-beta", "").split(",") if b.strip()]


@pytest.fixture
def sdk(standin: StandIn) -> Iterator[anthropic.Anthropic]:
    client = anthropic.Anthropic(api_key=standin.api_key, base_url=standin.url, max_retries=0)
    yield client
    client.close()


# -- the stand-in is as strict as the API ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"context_management": {"edits": [CLEAR]}}, "context_management"),
        ({"mcp_servers": [MCP]}, "mcp_servers"),
        ({"output_format": SCHEMA}, "output_format"),
        ({"compaction": {"type": "summarize"}}, "compaction"),
    ],
)
def test_the_standin_refuses_beta_only_fields_without_their_beta(sdk: anthropic.Anthropic, extra: dict, field: str):
    hello = [{"role": "user", "content": "Hello"}]
    with pytest.raises(anthropic.BadRequestError) as err:
        sdk.messages.count_tokens(model=M, messages=hello, extra_body=extra)
    assert err.value.body["error"]["message"] == f"{field}: Extra inputs are not permitted"
    # the beta count endpoint with another beta is no better
    with pytest.raises(anthropic.BadRequestError, match="Extra inputs are not permitted"):
        sdk.beta.messages.count_tokens(
            model=M, messages=hello, betas=["interleaved-thinking-2025-05-14"], extra_body=extra
        )


def test_the_standin_refuses_unknown_betas_and_file_sources_without_theirs(sdk: anthropic.Anthropic, standin: StandIn):
    hello = [{"role": "user", "content": "Hello"}]
    with pytest.raises(anthropic.BadRequestError) as err:
        sdk.beta.messages.count_tokens(model=M, messages=hello, betas=["context-managment-2025-06-27"])
    assert err.value.body["error"]["message"].startswith(
        "Unexpected value(s) `context-managment-2025-06-27` for the `anthropic-beta` header"
    )
    file_id = standin.add_file(b"%PDF-1.4 a tiny document", "application/pdf")
    doc = [{"role": "user", "content": [{"type": "document", "source": {"type": "file", "file_id": file_id}}]}]
    with pytest.raises(anthropic.BadRequestError, match="Input tag 'file'"):
        sdk.messages.count_tokens(model=M, messages=doc)
    # a compaction edit needs its own beta, not context editing's
    with pytest.raises(anthropic.BadRequestError, match="Input tag 'compact_20260112'"):
        sdk.beta.messages.count_tokens(
            model=M,
            messages=hello,
            betas=["context-management-2025-06-27"],
            context_management={"edits": [COMPACT]},  # type: ignore[list-item]
        )


def test_the_standin_counts_a_file_as_its_bytes_inline(sdk: anthropic.Anthropic, standin: StandIn):
    data = b"%PDF-1.4 a tiny document"
    upload = sdk.beta.files.upload(file=("tiny.pdf", data, "application/pdf"))
    by_id = [{"role": "user", "content": [{"type": "document", "source": {"type": "file", "file_id": upload.id}}]}]
    inline = [
        {
            "role": "user",
            "content": [
                {
                    "type": "document",
                    "source": {
                        "type": "base64",
                        "media_type": "application/pdf",
                        "data": base64.b64encode(data).decode(),
                    },
                }
            ],
        }
    ]
    n = sdk.beta.messages.count_tokens(model=M, messages=by_id, betas=["files-api-2025-04-14"]).input_tokens
    assert n == standin_count({"model": M, "messages": inline})
    sdk.beta.files.delete(upload.id)
    with pytest.raises(anthropic.NotFoundError, match="File not found"):
        sdk.beta.messages.count_tokens(model=M, messages=by_id, betas=["files-api-2025-04-14"])


# -- the table of betas --------------------------------------------------------------------------------------------
def test_each_beta_feature_is_found_where_it_is_used():
    body = {
        "model": M,
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t",
                        "content": [{"type": "image", "source": {"type": "file", "file_id": "f"}}],
                    }
                ],
            }
        ],
        "context_management": {"edits": [CLEAR, COMPACT]},
        "mcp_servers": [MCP],
        "output_format": SCHEMA,
        "compaction": {"type": "summarize"},
    }
    assert features(body) == list(FEATURES)  # every feature, in table order: a file nested in a tool result too
    assert with_needed(body, []) == (
        "compact-2026-01-12",
        "compact-2026-09-04",
        "context-management-2025-06-27",
        "files-api-2025-04-14",
        "mcp-client-2025-11-20",
        "structured-outputs-2025-11-13",
    )
    # a given beta that enables a feature (an older MCP connector) is enough: nothing more is added for it
    assert "mcp-client-2025-11-20" not in with_needed({"mcp_servers": [MCP]}, ["mcp-client-2025-04-04"])
    assert with_needed({"context_management": {"edits": [COMPACT]}}, []) == ("compact-2026-01-12",)
    assert with_needed({"messages": []}, [TOKEN_COUNTING]) == ()  # the SDK adds that one itself


def test_bad_beta_names_are_input_errors_naming_the_place():
    with pytest.raises(InputError, match=r"betas\[1\]: 'a,b' is not a beta name"):
        build_request("hi", model=M, betas=["context-management-2025-06-27", "a,b"])
    with pytest.raises(InputError, match=r"request.betas\[0\]"):
        build_request({"model": M, "messages": [{"role": "user", "content": "hi"}], "betas": [3]})
    with pytest.raises(InputError, match="mcp_toolset names MCP server 'other'"):
        build_request(
            {
                "model": M,
                "messages": [{"role": "user", "content": "hi"}],
                "mcp_servers": [MCP],
                "tools": [{"type": "mcp_toolset", "mcp_server_name": "other"}],
            }
        )


# -- exact with a key (Python) -------------------------------------------------------------------------------------
def test_context_editing_is_counted_exactly_with_the_count_before_its_edits(api_env: StandIn):
    res = count_tokens(edited_request())
    assert res.exact and res.source == "api"
    assert beta_header(api_env) == ["context-management-2025-06-27", TOKEN_COUNTING]
    sent = api_env.count_requests()[-1].json
    assert sent["context_management"] == {"edits": [CLEAR]}
    before = standin_count(sent)
    assert res.original_input_tokens == before and res.input_tokens < before  # the old tool results were cleared
    assert res.to_dict()["original_input_tokens"] == before
    assert f"after context editing, {before:,} before" in res.summary()
    assert f"after context editing, {before:,} before" in res._repr_html_()
    again = count_tokens(edited_request())  # from the cache: both numbers
    assert (again.source, again.input_tokens, again.original_input_tokens) == ("cache", res.input_tokens, before)
    plain = count_tokens("Hello", model=M)
    assert plain.original_input_tokens is None and "original_input_tokens" not in plain.to_dict()


@pytest.mark.parametrize(
    ("extra", "beta"),
    [
        ({"output_format": SCHEMA}, "structured-outputs-2025-11-13"),
        (
            {"mcp_servers": [MCP], "tools": [{"type": "mcp_toolset", "mcp_server_name": "docs"}]},
            "mcp-client-2025-11-20",
        ),
        ({"context_management": {"edits": [COMPACT]}}, "compact-2026-01-12"),
        ({"compaction": {"type": "summarize"}}, "compact-2026-09-04"),
    ],
)
def test_a_beta_feature_gets_its_beta_and_an_exact_count(api_env: StandIn, extra: dict, beta: str):
    request = {"model": M, "messages": [{"role": "user", "content": "Hello"}], **extra}
    res = count_tokens(request)
    assert res.exact and res.source == "api"
    assert beta_header(api_env) == [beta, TOKEN_COUNTING]
    sent = api_env.count_requests()[-1].json
    assert sent == request  # nothing dropped
    assert res.input_tokens == standin_count(sent)  # (the stand-in does not simulate compaction: nothing cleared)


def test_a_files_api_source_is_counted_with_the_files_beta(api_env: StandIn, sdk: anthropic.Anthropic):
    upload = sdk.beta.files.upload(file=("notes.pdf", b"%PDF-1.4 quarterly notes", "application/pdf"))
    content = [
        {"type": "document", "source": {"type": "file", "file_id": upload.id}},
        {"type": "text", "text": "Sum up"},
    ]
    res = count_tokens([{"role": "user", "content": content}], model=M)
    assert res.exact and beta_header(api_env) == ["files-api-2025-04-14", TOKEN_COUNTING]
    assert res.input_tokens > standin_count({"model": M, "messages": [{"role": "user", "content": content}]})


def test_given_betas_travel_and_key_the_cache(api_env: StandIn):
    request = {
        "model": M,
        "messages": [{"role": "user", "content": "Hi"}],
        "betas": ["interleaved-thinking-2025-05-14"],
    }
    first = count_tokens(request)
    assert first.exact and beta_header(api_env) == ["interleaved-thinking-2025-05-14", TOKEN_COUNTING]
    assert count_tokens(request).source == "cache"
    # the same body without the beta is another request: counted by the GA endpoint, not served from the cache
    plain = count_tokens("Hi", model=M)
    assert plain.source == "api" and "anthropic-beta" not in api_env.count_requests()[-1].headers
    # betas= adds to the request's own
    count_tokens(request, betas=["context-1m-2025-08-07"])
    assert beta_header(api_env) == ["context-1m-2025-08-07", "interleaved-thinking-2025-05-14", TOKEN_COUNTING]


@pytest.mark.parametrize("mode", ["auto", "api"])
def test_an_unknown_beta_is_one_line_naming_it(api_env: StandIn, mode: str):
    with pytest.raises(InvalidRequest) as err:
        count_tokens("Hi", model=M, betas=["context-managment-2025-06-27"], mode=mode)
    message = err.value.user_message()
    assert "\n" not in message and "`context-managment-2025-06-27`" in message
    assert message.startswith("the API rejected the request: Unexpected value(s)")


# -- ≈ with the reason without a key ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("extra", "why"),
    [
        ({"context_management": {"edits": [CLEAR]}}, "context editing (context_management) is not applied"),
        ({"mcp_servers": [MCP]}, "the tools of the MCP servers (mcp_servers) are not counted"),
    ],
)
def test_without_a_key_a_beta_feature_is_an_estimate_saying_what_it_leaves_out(extra: dict, why: str):
    res = count_tokens({"model": M, "messages": tool_loop(2), "tools": [TOOL], **extra})
    assert not res.exact and res.label.startswith("≈")
    assert res.reason.startswith("no API key") and why in res.reason
    assert why in res.summary() and why in res._repr_html_()


def test_without_a_key_a_files_api_source_is_an_estimate_saying_so():
    content = [
        {"type": "image", "source": {"type": "file", "file_id": "file_abc"}},
        {"type": "text", "text": "What is it?"},
    ]
    res = count_tokens([{"role": "user", "content": content}], model=M)
    assert not res.exact and "an image uploaded with the Files API is not counted" in res.reason


# -- counts kept apart by origin ------------------------------------------------------------------------------------
@pytest.fixture
def other_standin() -> Iterator[StandIn]:
    server = StandIn().start()
    yield server
    server.stop()


def test_a_count_from_one_origin_is_never_served_for_another(standin: StandIn, other_standin: StandIn, tmp_path: Path):
    data = tmp_path / "shared-cache"  # one data directory, as every kernel and the server of a user share
    r = build_request("Hello, origins", model=M)
    a = Counter(Settings(base_url=standin.url, data_dir=data).with_api_key(standin.api_key))
    assert a.count(r).source == "api" and a.count(r).source == "cache"
    other_standin.api_key = standin.api_key
    b = Counter(Settings(base_url=other_standin.url, data_dir=data).with_api_key(standin.api_key))
    assert b.count(r).source == "api" and len(other_standin.count_requests()) == 1  # asked its own origin
    # the same origin spelled differently is the same origin
    spelled = standin.url.replace("http://", "HTTP://") + "/"
    c = Counter(Settings(base_url=spelled, data_dir=data).with_api_key(standin.api_key))
    assert c.count(r).source == "cache"
    # a process without a key gets no exact count from the shared file: it talks to no API at all
    offline = Counter(Settings(data_dir=data))
    res = offline.count(r)
    assert not res.exact and res.source == "offline" and res.reason.startswith("no API key")
    assert not offline.run(offline.atyping(r)).exact
    assert offline.cached(r) is None and offline.known_frame(M) is None


def test_the_origin_is_one_spelling_of_the_base_url(monkeypatch: pytest.MonkeyPatch):
    assert api_origin(None) == "https://api.anthropic.com"
    assert api_origin("HTTPS://API.Anthropic.com/") == "https://api.anthropic.com"
    assert api_origin("https://gw.example.com/anthropic/") == "https://gw.example.com/anthropic"
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:8080")
    assert Settings().origin == "http://127.0.0.1:8080"  # what the SDK would use: the environment


def test_an_older_cache_file_gains_the_new_column(tmp_path: Path):
    with sqlite3.connect(tmp_path / "counts.sqlite3") as db:  # the schema before context editing was kept
        db.execute(
            "CREATE TABLE counts (key TEXT PRIMARY KEY, model TEXT NOT NULL, input_tokens INTEGER NOT NULL, "
            "created REAL NOT NULL)"
        )
        db.execute("INSERT INTO counts VALUES ('old', 'm', 12, 0)")
    cache = CountCache(tmp_path)
    assert cache.entry("old") == (12, None)
    cache.put("new", "m", 30, 45)
    assert CountCache(tmp_path).entry("new") == (30, 45)
    cache.put("bad", "m", 30, -1)  # nothing wrong is stored
    assert CountCache(tmp_path).entry("bad") is None


def test_the_readme_table_is_the_code_table():
    from conftest import ROOT

    rows = [f"| {f.name} | {f.what} | `{f.betas[0]}` | {', '.join(f'`{b}`' for b in f.betas)} |" for f in FEATURES]
    head = "| what the request uses | what it is | beta added | any of these is enough |"
    table = "\n".join([head, "|---|---|---|---|", *rows])
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("<!-- betas-table")
    end = readme.index("<!-- end of betas-table -->")
    assert readme[start:end].split("\n", 1)[1].strip() == table
