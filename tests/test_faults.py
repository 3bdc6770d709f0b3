"""Fault injection against the local stand-in (tests/standin.py, "Fault injection"): malformed 200s,
connection resets, hangs and absurd retry-after headers, one at a time and in random sequences. The
invariants: auto mode always answers (exact from a good answer, else the estimate with its reason), api
mode raises one of our ApiError types, nothing wrong is ever cached, nothing waits past its bound."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from standin import StandIn, standin_count

from jupyter_token_count.backends.api import MAX_RETRY_AFTER
from jupyter_token_count.config import Settings
from jupyter_token_count.counter import Counter
from jupyter_token_count.errors import ApiBadResponse, ApiConnectionError, ApiError, ApiTimeout
from jupyter_token_count.request import build_request

M = "claude-sonnet-4-5"


def _fault(standin: StandIn, kind: str) -> None:
    if kind == "reset":
        standin.reset_next()
    elif kind == "html":
        standin.answer_next("<html><body>upstream down</body></html>", content_type="text/html")
    elif kind == "negative":
        standin.answer_next('{"input_tokens": -1}')
    elif kind == "huge":
        standin.answer_next('{"input_tokens": 1e300}')
    elif kind == "truncated":
        standin.answer_next('{"input_tok')
    elif kind == "string":
        standin.answer_next('{"input_tokens": "many"}')
    elif kind == "hang":
        standin.hang_next(0.8)
    elif kind == "retry_inf":
        standin.fail_next(429)
        standin.script[-1].headers["retry-after"] = "inf"
    elif kind == "retry_huge_ms":
        standin.fail_next(529)
        standin.script[-1].headers["retry-after-ms"] = "1e18"
    elif kind == "500":
        standin.fail_next(500)
    else:  # "ok": no fault
        pass


FAULTS = ["reset", "html", "negative", "huge", "truncated", "string", "hang", "retry_inf", "retry_huge_ms", "500"]
EXPECTED = {
    "reset": ApiConnectionError,
    "html": ApiBadResponse,
    "negative": ApiBadResponse,
    "huge": ApiBadResponse,
    "truncated": ApiBadResponse,
    "string": ApiBadResponse,
    "hang": ApiTimeout,
}


@pytest.fixture
def quick(api_settings: Settings) -> Settings:
    """No retries, a short timeout: one fault, one answer."""
    return dataclasses.replace(api_settings, max_retries=0, timeout=0.4)


@pytest.mark.parametrize("kind", FAULTS)
def test_each_fault_auto_estimates_api_raises(kind: str, standin: StandIn, quick: Settings):
    r = build_request(f"fault {kind}", model=M)
    counter = Counter(quick)
    _fault(standin, kind)
    t0 = time.monotonic()
    res = counter.count(r)
    assert time.monotonic() - t0 < 5
    assert (res.exact, res.source) == (False, "offline") and res.reason
    assert res.retry_after is None or res.retry_after <= MAX_RETRY_AFTER
    json.dumps(res.to_dict(), allow_nan=False)
    assert counter.cached(r) is None
    # api mode: one of our error types, never a raw exception
    api = Counter(quick)
    _fault(standin, kind)
    with pytest.raises(ApiError) as info:
        api.count(build_request(f"api fault {kind}", model=M), mode="api")
    if kind in EXPECTED:
        assert isinstance(info.value, EXPECTED[kind])
    assert api.limiter.state()["paused_for"] <= MAX_RETRY_AFTER


@settings(max_examples=12, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(faults=st.lists(st.sampled_from([*FAULTS, "ok", "ok"]), min_size=1, max_size=6))
def test_random_fault_sequences_never_cache_a_wrong_answer(faults: list[str], standin: StandIn, quick: Settings):
    standin.reset()
    counter = Counter(dataclasses.replace(quick, data_dir=None))
    for i, kind in enumerate(faults):
        # a pause left by a 429 would turn the rest into estimates without a request: clear it, this is
        # about what each answer does, not the limiter
        counter.limiter.pause(0)
        r = build_request(f"sequence step {i} {kind} {faults}", model=M)
        _fault(standin, kind)
        res = counter.count(r)
        expected = standin_count(r.body)
        if res.exact:
            assert kind == "ok" and res.input_tokens == expected
        else:
            assert kind != "ok" or res.retry_after is not None
        cached = counter.cached(r)
        assert cached is None or cached.input_tokens == expected
    standin.script.clear()


def test_server_faults_keep_json_finite_and_answers_bounded(tmp_path: Any, standin: StandIn):
    """Through a real jupyter server process: every fault gives an estimate (auto) or a 4xx/5xx JSON error
    (api), always strict JSON, in bounded time."""
    from live_server import LiveServer

    def strict(text: Any) -> Any:
        def refuse(name: str) -> Any:
            raise AssertionError(f"{name} is not JSON")

        return json.loads(json.dumps(text), parse_constant=refuse)

    with LiveServer(tmp_path, standin.url, standin.api_key, max_retries=0, timeout=0.5) as server:
        # a 429 pauses the server for its retry-after (capped at a minute), and api mode waits a pause out: the
        # 429 comes last, answered in api mode first (the 429 itself) and then in auto mode (the estimate)
        for kind in sorted(FAULTS, key=lambda k: k == "retry_inf"):
            for mode in ("api", "auto") if kind == "retry_inf" else ("auto", "api"):
                _fault(standin, kind)
                t0 = time.monotonic()
                status, body = server.call(
                    "POST",
                    "count",
                    {"model": M, "mode": mode, "messages": [{"role": "user", "content": f"{kind} {mode}"}]},
                )
                assert time.monotonic() - t0 < 5
                strict(body)
                if mode == "auto":
                    assert status == 200 and body["exact"] is False and body["reason"], (kind, body)
                else:
                    assert status in (429, 502, 503, 504) and body["error"]["message"], (kind, status, body)
                standin.script.clear()
        status, st_body = server.call("GET", "status")
        assert status == 200 and st_body["rate_limit"]["paused_for"] <= MAX_RETRY_AFTER


def test_models_list_with_absurd_limits_is_not_believed(standin: StandIn, api_settings: Settings):
    from jupyter_token_count import registry

    saved = dict(registry._overrides)
    try:
        before = registry.resolve("claude-sonnet-5-5")
        registry.update_from_api(
            [
                {"id": "claude-sonnet-5-5", "max_input_tokens": -5, "max_tokens": 1e30, "display_name": 7},
                {"id": "claude-new-x", "max_input_tokens": "big", "max_tokens": True},
            ]
        )
        after = registry.resolve("claude-sonnet-5-5")
        assert (after.context_window, after.max_output, after.display_name) == (
            before.context_window,
            before.max_output,
            before.display_name,
        )
        new = registry.resolve("claude-new-x")
        assert new.context_window is None or isinstance(new.context_window, int)
        json.dumps(new.to_dict(), allow_nan=False)
    finally:
        registry._overrides.clear()
        registry._overrides.update(saved)
