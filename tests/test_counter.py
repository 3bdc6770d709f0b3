"""The counter against a real HTTP stand-in of count_tokens, through the real anthropic SDK.

Asserts on what arrives on the wire: bodies, headers, how many requests; and on the policy: errors,
fallback with a reason, retry-after, cache (also across processes), single-flight, rate limit.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import nbformat
import pytest
from anthropic.types import Message, TextBlock, Usage
from media import image_bytes, pdf_bytes
from standin import API_VERSIONS, StandIn, standin_count

from jupyter_token_count import count_tokens
from jupyter_token_count.config import Settings
from jupyter_token_count.counter import Counter
from jupyter_token_count.errors import (
    ApiAuthError,
    ApiNotFound,
    ApiOverloaded,
    ApiRequestTooLarge,
    ConfigError,
    InvalidRequest,
)
from jupyter_token_count.request import build_request

M = "claude-sonnet-4-5"


def req(obj="Hello, Claude", **kw):
    return build_request(obj, model=kw.pop("model", M), **kw)


def _inputs(tmp_path: Path) -> dict[str, object]:
    png = tmp_path / "chart.png"
    png.write_bytes(image_bytes("PNG", (300, 200)))
    pdf = tmp_path / "paper.pdf"
    pdf.write_bytes(pdf_bytes(2, "A short paper"))
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Prompt"), nbformat.v4.new_code_cell("x = 1")]
    nb_path = tmp_path / "prompt.ipynb"
    nbformat.write(nb, nb_path)
    reply = Message(
        id="msg_1",
        type="message",
        role="assistant",
        model=M,
        stop_reason="end_turn",
        stop_sequence=None,
        content=[TextBlock(type="text", text="Hello! How can I help?")],
        usage=Usage(input_tokens=1, output_tokens=1),
    )
    return {
        "string": "Hello, Claude",
        "messages with SDK reply": [
            {"role": "user", "content": "Hi"},
            reply,
            {"role": "user", "content": "Tell me more"},
        ],
        "request dict": {
            "model": M,
            "max_tokens": 100,
            "temperature": 1,
            "system": "Be brief",
            "messages": [{"role": "user", "content": "Hi"}],
        },
        "image path": png,
        "pdf path": pdf,
        "notebook path": nb_path,
        "parts": ["Compare", png, pdf],
    }


@pytest.mark.parametrize(
    "kind", ["string", "messages with SDK reply", "request dict", "image path", "pdf path", "notebook path", "parts"]
)
def test_wire_body_is_exactly_the_built_request(kind: str, counter: Counter, standin: StandIn, tmp_path: Path):
    r = req(_inputs(tmp_path)[kind])
    res = counter.count(r)
    [sent] = standin.count_requests()
    assert sent.json == r.body  # byte-for-byte the same JSON document
    assert sent.headers["anthropic-version"] in API_VERSIONS
    assert sent.headers["content-type"].startswith("application/json")
    auth = sent.headers.get("x-api-key") or sent.headers.get("authorization", "").removeprefix("Bearer ")
    assert auth == standin.api_key
    assert (res.input_tokens, res.exact, res.source) == (standin_count(r.body), True, "api")


def test_result_carries_model_facts(counter: Counter, standin: StandIn):
    res = counter.count(req(model="claude-opus-4-8"))
    assert res.context_window == 1_000_000
    assert res.cost_usd == pytest.approx(res.input_tokens * 5 / 1_000_000)
    d = res.to_dict()
    assert {
        "input_tokens",
        "exact",
        "source",
        "model",
        "reason",
        "cost_usd",
        "context_window",
        "context_fraction",
    } <= set(d)
    assert "≈" not in res.label and "≈" not in res._repr_html_()


def test_second_ask_is_a_cache_hit_with_no_request(counter: Counter, standin: StandIn):
    first = counter.count(req())
    second = counter.count(req())
    assert len(standin.count_requests()) == 1
    assert second.source == "cache" and second.exact and second.input_tokens == first.input_tokens


def test_cache_survives_a_new_counter(api_settings: Settings, standin: StandIn):
    Counter(api_settings).count(req())
    again = Counter(api_settings).count(req())
    assert again.source == "cache" and len(standin.count_requests()) == 1


def test_a_second_process_makes_no_upstream_request(api_settings: Settings, standin: StandIn):
    Counter(api_settings).count(req())
    env = {
        **os.environ,
        "ANTHROPIC_API_KEY": standin.api_key,
        "ANTHROPIC_BASE_URL": standin.url,
        "JUPYTER_TOKEN_COUNT_DATA_DIR": str(api_settings.data_dir),
    }
    code = (
        "from jupyter_token_count import count_tokens; import json; "
        f"r = count_tokens('Hello, Claude', model={M!r}); print(json.dumps(r.to_dict()))"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["source"] == "cache" and got["exact"] is True
    assert len(standin.count_requests()) == 1


def test_identical_concurrent_requests_share_one_upstream_call(counter: Counter, standin: StandIn):
    standin.delay = 0.5
    results = []
    threads = [threading.Thread(target=lambda: results.append(counter.count(req()))) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(standin.count_requests()) == 1
    assert len({r.input_tokens for r in results}) == 1 and len(results) == 20


def test_identical_requests_in_another_mode_share_the_call_not_the_answer(api_settings: Settings, standin: StandIn):
    counter = Counter(replace(api_settings, max_retries=0))
    standin.fail_next(529, times=2, delay=0.5)
    out: dict[str, object] = {}

    def ask(mode: str) -> None:
        try:
            out[mode] = counter.count(req(), mode)
        except ApiOverloaded as exc:
            out[mode] = exc

    first = threading.Thread(target=ask, args=("api",))
    first.start()
    time.sleep(0.2)  # the api-mode request is in flight
    ask("auto")
    first.join()
    assert isinstance(out["api"], ApiOverloaded)  # api mode: the error
    assert not out["auto"].exact and "overloaded" in out["auto"].reason  # auto mode: the estimate, not that error
    assert len(standin.count_requests()) == 1  # one upstream call, each mode applies its own policy to it


def test_async_callers_from_another_loop(counter: Counter, standin: StandIn):
    async def many():
        return await asyncio.gather(*(counter.acount(req(f"prompt {i % 3}")) for i in range(12)))

    results = asyncio.run(many())
    assert len(results) == 12 and all(r.exact for r in results)
    assert len(standin.count_requests()) == 3


# -- errors and the fallback policy -----------------------------------------------------------------


def test_400_is_raised_with_the_api_message(counter: Counter, standin: StandIn):
    standin.fail_next(400, message="messages.0.content.0: bad block")
    with pytest.raises(InvalidRequest, match="bad block") as err:
        counter.count(req())
    assert err.value.status == 400 and err.value.error_type == "invalid_request_error"


@pytest.mark.parametrize("status,exc", [(404, ApiNotFound), (413, ApiRequestTooLarge)])
def test_request_errors_are_raised_not_estimated(status, exc, counter: Counter, standin: StandIn):
    standin.fail_next(status)
    with pytest.raises(exc):
        counter.count(req())


def test_unknown_model_reaches_the_api_and_its_404_is_raised(counter: Counter, standin: StandIn):
    with pytest.raises(ApiNotFound, match="model: gpt-4"):
        counter.count(req(model="gpt-4"))


@pytest.mark.parametrize("status,message", [(401, "invalid x-api-key"), (403, "this key may not use this model")])
def test_auth_errors_in_auto_mode_give_the_estimate_with_the_reason(
    status, message, counter: Counter, standin: StandIn
):
    standin.fail_next(status, message=message)
    res = counter.count(req())
    assert not res.exact and res.source == "offline"
    assert "API key rejected" in res.reason and message in res.reason
    assert standin.api_key not in res.reason
    assert len(standin.count_requests()) == 1  # a bad key is not retried


def test_401_in_api_mode_is_raised_without_the_key(counter: Counter, standin: StandIn):
    standin.fail_next(401, message="invalid x-api-key")
    with pytest.raises(ApiAuthError) as err:
        counter.count(req(), mode="api")
    assert standin.api_key not in str(err.value)


def test_429_retry_after_is_honoured(counter: Counter, standin: StandIn):
    standin.fail_next(429, retry_after=0.6)
    start = time.monotonic()
    res = counter.count(req())
    sent = standin.count_requests()
    assert res.exact and len(sent) == 2
    assert sent[1].at - sent[0].at >= 0.55  # waited as told
    assert time.monotonic() - start >= 0.55


def test_long_retry_after_answers_with_estimate_and_pauses_the_limiter(counter: Counter, standin: StandIn):
    standin.fail_next(429, retry_after=30)
    res = counter.count(req())
    assert not res.exact and "rate limited" in res.reason and res.retry_after == pytest.approx(30, abs=1)
    res2 = counter.count(req("another prompt"))
    assert not res2.exact and "rate limited" in res2.reason
    assert len(standin.count_requests()) == 1  # paused: the second never left
    assert counter.limiter.state()["paused_for"] > 25


@pytest.mark.parametrize("status,words", [(529, "overloaded"), (500, "API error 500")])
def test_persistent_server_errors_fall_back_after_retries(status, words, counter: Counter, standin: StandIn):
    standin.fail_next(status, times=3)
    res = counter.count(req())
    assert not res.exact and words in res.reason
    assert len(standin.count_requests()) == 3  # first try + max_retries (2)


def test_one_server_error_is_retried_to_an_exact_count(counter: Counter, standin: StandIn):
    standin.fail_next(529)
    res = counter.count(req())
    assert res.exact and len(standin.count_requests()) == 2


def test_timeout_falls_back(api_settings: Settings, standin: StandIn):
    counter = Counter(replace(api_settings, timeout=0.3, max_retries=0))
    standin.hang_next(1.5)
    res = counter.count(req())
    assert not res.exact and "did not answer within 0.3s" in res.reason


def test_connection_error_falls_back(api_settings: Settings):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    counter = Counter(replace(api_settings, base_url=f"http://127.0.0.1:{port}", max_retries=0))
    res = counter.count(req())
    assert not res.exact and "API unreachable" in res.reason


def test_own_rate_limit_cap_answers_with_estimates(api_settings: Settings, standin: StandIn):
    counter = Counter(replace(api_settings, rpm=2))
    got = [counter.count(req(f"p{i}")) for i in range(3)]
    assert [r.exact for r in got] == [True, True, False]
    assert "rate limited (2 requests/min cap)" in got[2].reason
    assert len(standin.count_requests()) == 2


def test_no_key_auto_is_an_estimate_and_api_mode_is_an_error(tmp_path: Path):
    counter = Counter(Settings(data_dir=tmp_path))
    res = counter.count(req())
    assert not res.exact and res.source == "offline" and "no API key" in res.reason
    assert res.label.startswith("≈") and "≈" in res._repr_html_()
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        counter.count(req(), mode="api")


def test_estimates_are_never_persisted(tmp_path: Path, api_settings: Settings, standin: StandIn):
    offline = Counter(replace(api_settings, mode="offline"))
    offline.count(req())
    assert offline.cache.stats()["persistent_entries"] == 0
    online = Counter(api_settings)
    assert online.count(req()).source == "api"  # the estimate did not masquerade as a cached exact count


def test_a_cell_counted_exactly_less_an_estimated_frame_is_an_estimate(api_settings: Settings, standin: StandIn):
    from jupyter_token_count.cells import OFFLINE_SHARE, cell_request, count_cells
    from jupyter_token_count.request import Cell

    counter = Counter(replace(api_settings, cell_counts=False))
    cell = Cell("a", "code", "x = 1")
    counter.count(cell_request(cell, M, False))  # the cell's count is cached; the frame is not measured yet
    res = count_cells(counter, [cell], M)
    assert len(standin.count_requests()) == 1  # a one-cell notebook is that cell's request: a cache hit
    [c] = res.cells
    assert not c.exact and c.reason == OFFLINE_SHARE  # exact cell less an unknown frame: an attributed share
    assert res.exact and res.total == standin_count(standin.count_requests()[0].json)


def test_public_count_tokens_uses_the_environment(api_env: StandIn):
    res = count_tokens("Hello, Claude", model=M)
    assert res.exact and res.source == "api"
    assert api_env.count_requests()[0].json == {"model": M, "messages": [{"role": "user", "content": "Hello, Claude"}]}
    assert not count_tokens("Hello, Claude", model=M, mode="offline").exact


def test_sync_count_inside_the_counters_own_loop_is_refused(counter: Counter):
    async def inside():
        return counter.count(req())

    with pytest.raises(RuntimeError, match="acount"):
        counter.run(inside())


def test_settings_repr_never_shows_the_key(api_settings: Settings):
    assert api_settings.api_key not in repr(api_settings)
    assert "key_configured=True" in repr(api_settings)


def test_configured_mode_applies_when_none_is_given(api_env: StandIn, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("JUPYTER_TOKEN_COUNT_MODE", "offline")
    res = count_tokens("Hello, Claude", model=M)
    assert not res.exact and res.reason == "offline mode" and not api_env.count_requests()
    assert count_tokens("Hello, Claude", model=M, mode="auto").exact  # an explicit mode wins


def test_sync_sdk_client_sends_the_same_bytes(standin: StandIn):
    from jupyter_token_count.backends.api import ApiBackend

    r = req("Hello, Claude", system="You are a scientist")
    backend = ApiBackend(standin.api_key, standin.url, timeout=5)
    assert backend.count(r).input_tokens == standin_count(r.body)
    assert standin.count_requests()[0].json == r.body
    assert "anthropic-beta" not in standin.count_requests()[0].headers  # no betas: the GA endpoint
    standin.fail_next(400, message="bad")
    with pytest.raises(InvalidRequest, match="bad"):
        backend.count(r)


def test_error_texts_are_scrubbed_of_anything_shaped_like_a_key():
    from jupyter_token_count.backends.api import redact

    real_looking = "sk-ant-" + "api03-" + "x" * 40  # built at run time: no key-shaped literal in the repository
    assert "x" * 40 not in redact(f"proxy said: bad key {real_looking}")
    assert redact("the key my-own-key leaked", key="my-own-key") == "the key [redacted] leaked"


def test_the_disk_cache_keeps_at_most_max_rows(tmp_path: Path):
    from jupyter_token_count.cache import CountCache

    cache = CountCache(tmp_path, max_rows=5)
    for i in range(12):
        cache.put(f"key{i}", M, i)
    assert cache.stats()["persistent_entries"] == 5
    fresh = CountCache(tmp_path, max_rows=5)  # read from disk, not memory: the newest rows survived
    assert fresh.get("key11") == 11 and fresh.get("key0") is None
