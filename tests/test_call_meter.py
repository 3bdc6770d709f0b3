"""The call meter in a real kernel (jupyter_client + ipykernel): the real ``anthropic`` SDK inside the kernel sends
Messages requests to the local stand-in, and the meter counts them through the same stand-in's count_tokens.

Every iopub message is kept: the line in the calling cell is checked as the front end receives it (one
``display_data`` with a display id, then ``update_display_data``), and the API key must never appear in any of them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from standin import StandIn, message_requests, standin_count
from test_widget import Kernel

M = "claude-sonnet-5-5"

PRELUDE = f"""
import json, time, asyncio, anthropic
import jupyter_token_count as jtc
from jupyter_token_count.api import configure
M = {M!r}
client = anthropic.Anthropic(max_retries=0)   # made before the meter is switched on
aclient = anthropic.AsyncAnthropic(max_retries=0)
HELLO = [{{"role": "user", "content": "Hello, Claude"}}]

def settle(n=None, timeout=20):
    # the prediction runs beside the call: wait until every record has its figures, then print them
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        log = jtc.call_log()
        if all(not r.predicting and r.status not in ("counting", "sent") for r in log):
            break
        time.sleep(0.02)
    log = jtc.call_log()
    print(json.dumps([r.to_dict() for r in (log if n is None else log[-n:])]))
"""


@pytest.fixture(scope="module")
def kernel(standin_server: StandIn, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    k = Kernel.start(standin_server, tmp_path_factory)
    try:
        k.execute(PRELUDE)
        yield k
        k.drain()
        assert k.problems() == []
        assert standin_server.api_key not in json.dumps([m["content"] for m in k.iopub])
    finally:
        k.kc.stop_channels()
        k.km.shutdown_kernel(now=True)


@pytest.fixture
def k(kernel: Kernel, standin: StandIn) -> Iterator[Kernel]:
    kernel.execute("configure(data_dir=None); jtc.stop_metering(); jtc.meter.call_log  # noqa")
    kernel.execute("import jupyter_token_count.meter as _m; _m._log.clear(); jtc.meter_calls()")
    yield kernel
    kernel.execute("jtc.stop_metering()")
    kernel.drain(0.05)
    assert kernel.problems() == []


def cell_outputs(k: Kernel, msg_id: str) -> list[dict[str, Any]]:
    return [
        m
        for m in k.iopub
        if m["parent_header"].get("msg_id") == msg_id
        and m["msg_type"] in ("display_data", "update_display_data", "stream", "error", "execute_result")
    ]


def run(k: Kernel, code: str) -> tuple[str, str]:
    """Execute and return (msg_id, stdout)."""
    before = len(k.iopub)
    out = k.execute(code)
    msg_id = next(m["parent_header"]["msg_id"] for m in k.iopub[before:] if m["parent_header"].get("msg_id"))
    return msg_id, out


def lines_of(k: Kernel, msg_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The call lines a cell created, and every update sent to them (from any thread, so found by display id)."""
    shown = [
        m
        for m in cell_outputs(k, msg_id)
        if m["msg_type"] == "display_data" and "jupyter-token-count-call" in m["content"]["data"].get("text/html", "")
    ]
    ids = {m["content"]["transient"]["display_id"] for m in shown}
    updates = [
        m for m in k.iopub if m["msg_type"] == "update_display_data" and m["content"]["transient"]["display_id"] in ids
    ]
    return shown, updates


def settled(k: Kernel, n: int | None = None) -> list[dict[str, Any]]:
    return k.json(f"settle({n!r})")


def final_text(k: Kernel, msg_id: str) -> str:
    k.drain(0.1)
    shown, updates = lines_of(k, msg_id)
    assert len(shown) == 1, shown  # one line per call, updated in place
    last = updates[-1] if updates else shown[0]
    return last["content"]["data"]["text/plain"]


def last_body(standin: StandIn) -> dict[str, Any]:
    return message_requests(standin)[-1].json


# -- what it sees -------------------------------------------------------------------------------------------
def test_sync_create_is_counted_before_and_priced_after(k: Kernel, standin: StandIn):
    mid, _ = run(k, "m = client.messages.create(model=M, max_tokens=64, messages=HELLO)")
    [rec] = settled(k)
    body = last_body(standin)
    whole = standin_count({kk: v for kk, v in body.items() if kk != "max_tokens"})
    [count] = standin.count_requests()
    assert count.json == {"model": M, "messages": body["messages"]}  # exactly the input fields of the wire body
    assert (rec["predicted_input_tokens"], rec["exact"], rec["status"]) == (whole, True, "done")
    assert rec["input_tokens"] + rec["cache_creation_input_tokens"] + rec["cache_read_input_tokens"] == whole
    assert rec["output_tokens"] == 6 and rec["model"] == M
    [started] = [m for m in k.iopub if m["msg_type"] == "execute_input" and m["parent_header"]["msg_id"] == mid]
    assert rec["execution_count"] == started["content"]["execution_count"]  # the cell's In [n]
    # list prices of claude-sonnet-5-5: $2 in, $10 out per MTok
    assert rec["predicted_cost_usd"] == pytest.approx(whole * 2 / 1e6)
    assert rec["cost_usd"] == pytest.approx(whole * 2 / 1e6 + 6 * 10 / 1e6)
    assert rec["max_output_cost_usd"] == pytest.approx(64 * 10 / 1e6)
    text = final_text(k, mid)
    assert f"in {whole:,}" in text and "actual in" in text and "≈" not in text.split("·")[1]


def test_async_client_is_metered(k: Kernel, standin: StandIn):
    mid, _ = run(k, "m = await aclient.messages.create(model=M, max_tokens=10, messages=HELLO)")
    [rec] = settled(k)
    assert rec["status"] == "done" and rec["exact"] and rec["output_tokens"] == 6
    assert rec["predicted_input_tokens"] == standin_count({"model": M, "messages": last_body(standin)["messages"]})
    assert "actual in" in final_text(k, mid)


@pytest.mark.parametrize(
    "code",
    [
        "for ev in client.messages.create(model=M, max_tokens=4, messages=HELLO, stream=True): pass",
        "with client.messages.stream(model=M, max_tokens=4, messages=HELLO) as s:\n    text = s.get_final_text()",
        "async with aclient.messages.stream(model=M, max_tokens=4, messages=HELLO) as s:\n    text = await "
        "s.get_final_text()",
    ],
)
def test_streams_record_usage_when_the_stream_ends(k: Kernel, standin: StandIn, code: str):
    mid, _ = run(k, code)
    [rec] = settled(k)
    assert last_body(standin)["stream"] is True
    assert (rec["stream"], rec["status"], rec["output_tokens"]) == (True, "done", 4)  # from message_delta
    assert rec["input_tokens"] == rec["predicted_input_tokens"]  # from message_start
    assert "actual in" in final_text(k, mid)


def test_beta_messages_and_a_client_with_its_own_key_and_url(k: Kernel, standin: StandIn):
    # a client with explicit credentials is counted with them (the process-wide counter is told nothing)
    run(
        k,
        "import os\nother = anthropic.Anthropic(api_key=os.environ['ANTHROPIC_API_KEY'], "
        f"base_url={standin.url + '/'!r})\n"
        "m = other.beta.messages.create(model=M, max_tokens=8, messages=HELLO, "
        "betas=['context-management-2025-06-27'])",
    )
    [rec] = settled(k)
    assert message_requests(standin)[-1].headers["anthropic-beta"] == "context-management-2025-06-27"
    assert rec["exact"] and rec["status"] == "done"


def test_batch_requests_are_each_priced_at_batch_prices(k: Kernel, standin: StandIn):
    mid, _ = run(
        k,
        "reqs = [{'custom_id': f'q{i}', 'params': {'model': M, 'max_tokens': 100, "
        "'messages': [{'role': 'user', 'content': 'word ' * (10 * i + 1)}]}} for i in range(3)]\n"
        "b = client.messages.batches.create(requests=reqs)",
    )
    recs = settled(k)
    assert [r["custom_id"] for r in recs] == ["q0", "q1", "q2"] and {r["kind"] for r in recs} == {"batch"}
    sent = last_body(standin)["requests"]
    for r, s in zip(recs, sent, strict=True):
        n = standin_count({"model": M, "messages": s["params"]["messages"]})
        assert r["predicted_input_tokens"] == n and r["status"] == "submitted"
        assert r["predicted_cost_usd"] == pytest.approx(n * 2 / 1e6 / 2)  # half of the $2/MTok list price
        assert r["max_output_cost_usd"] == pytest.approx(100 * 10 / 1e6 / 2)
    text = final_text(k, mid)
    assert "batch of 3" in text and "batch price" in text and "submitted" in text


def test_prompt_caching_predicts_a_write_then_a_read(k: Kernel, standin: StandIn):
    code = (
        "system = [{'type': 'text', 'text': 'You are a careful reviewer. ' * 300, 'cache_control': {'type': "
        "'ephemeral'}}]\n"
        "m = client.messages.create(model=M, max_tokens=8, system=system, messages=HELLO)"
    )
    run(k, code)
    run(k, code)
    first, second = settled(k)
    assert first["predicted_cache_write_tokens"] > 0 and first["predicted_cache_read_tokens"] == 0
    assert second["predicted_cache_read_tokens"] == first["predicted_cache_write_tokens"]
    assert second["predicted_cache_write_tokens"] == 0
    # the stand-in wrote then read the same prefix; the prediction is a close share of the exact count
    assert first["cache_creation_input_tokens"] == second["cache_read_input_tokens"] > 0
    assert (
        abs(first["predicted_cache_write_tokens"] - first["cache_creation_input_tokens"])
        < 0.1 * first["cache_creation_input_tokens"]
    )
    assert second["cost_usd"] < first["cost_usd"]  # $0.20 reads instead of $2.50 writes
    assert second["predicted_cost_usd"] < first["predicted_cost_usd"]


# -- never in the way ------------------------------------------------------------------------------------
def test_a_counting_failure_never_fails_the_call(k: Kernel, standin: StandIn):
    standin.fail_next(400, message="scripted count failure")
    mid, out = run(k, "m = client.messages.create(model=M, max_tokens=8, messages=HELLO); print(m.content[0].text)")
    assert "Hello from the local stand-in." in out
    [rec] = settled(k)
    assert rec["status"] == "done" and rec["exact"] is False  # the offline estimate stands in, marked as one
    assert "count failed" in rec["count_note"] and "scripted count failure" in rec["count_note"]
    text = final_text(k, mid)
    assert "count failed" in text and "≈" in text


def test_bytes_on_the_wire_are_identical_with_the_meter_on_and_off(k: Kernel, standin: StandIn):
    code = (
        "m = client.messages.create(model=M, max_tokens=8, system='Be brief.', stop_sequences=['END'], "
        "messages=HELLO + [{'role': 'assistant', 'content': 'Hi'}, {'role': 'user', 'content': 'Ünïcödé ✓'}], "
        "metadata={'user_id': 'u1'}, extra_body={'top_k': 5})"
    )
    k.execute("jtc.stop_metering()")
    k.execute(code)
    k.execute("jtc.meter_calls()")
    k.execute(code)
    off, on = message_requests(standin)[-2:]
    assert off.raw == on.raw
    volatile = {"x-stainless-retry-count", "x-stainless-read-timeout", "idempotency-key", "x-stainless-timeout"}
    assert {h: v for h, v in off.headers.items() if h not in volatile} == {
        h: v for h, v in on.headers.items() if h not in volatile
    }
    assert len(settled(k)) == 1  # only the call made while on


def test_budget_stops_the_call_before_anything_is_sent(k: Kernel, standin: StandIn):
    k.execute("jtc.meter_calls(budget_tokens=10)")
    before = len(message_requests(standin))
    msg_id = k.kc.execute("m = client.messages.create(model=M, max_tokens=8, messages=HELLO)\nreached = True")
    reply = k.kc.get_shell_msg(timeout=30)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = k.kc.get_shell_msg(timeout=30)
    k.drain(0.2)
    content = reply["content"]
    assert content["status"] == "error" and content["ename"] == "BudgetExceeded"
    assert "10 tokens" in content["evalue"] and "--budget-tokens" in content["evalue"]
    assert len(content["traceback"]) == 1  # one line, not a trace through the SDK
    [shown] = [m for m in k.iopub if m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "error"]
    assert shown["content"]["traceback"] == content["traceback"] and "Traceback" not in json.dumps(shown["content"])
    assert len(message_requests(standin)) == before  # the stand-in received nothing
    assert k.execute("print(globals().get('reached'))").strip() == "None"
    [rec] = settled(k)
    assert rec["status"] == "blocked"
    # the error output was expected here: keep it out of the module's problem check
    k.iopub = [m for m in k.iopub if m["parent_header"].get("msg_id") != msg_id]
    # a per-call budget that fits lets the call through; a session budget counts what earlier calls used
    k.execute("jtc.meter_calls(budget_tokens=1000, per_call=True)")
    k.execute("m = client.messages.create(model=M, max_tokens=8, messages=HELLO)")
    assert len(message_requests(standin)) == before + 1


def test_usd_budget_counts_what_earlier_calls_cost(k: Kernel, standin: StandIn):
    k.execute("m = client.messages.create(model=M, max_tokens=8, messages=HELLO)")
    [first] = settled(k)
    # room for the first call's cost plus a little, not for a second call's input
    k.execute(f"jtc.meter_calls(budget_usd={first['cost_usd'] + first['predicted_cost_usd'] / 2!r})")
    out = k.execute(
        "try:\n    client.messages.create(model=M, max_tokens=8, messages=HELLO)\n"
        "except jtc.BudgetExceeded as e:\n    print('stopped:', e)"
    )
    assert "stopped: not sent" in out and "already spent by 1 earlier call" in out
    out = k.execute(
        "try:\n    await aclient.messages.create(model=M, max_tokens=8, messages=HELLO)\n"
        "except jtc.BudgetExceeded as e:\n    print('stopped:', e)"
    )
    assert "stopped: not sent" in out  # the async client is held back the same way
    assert len(message_requests(standin)) == 1


def test_magics_and_report(k: Kernel, standin: StandIn):
    k.execute("%load_ext jupyter_token_count")
    assert "budget 50 tokens per call" in k.execute("%count_calls on --budget-tokens 50 --per-call")
    k.execute("m = client.messages.create(model=M, max_tokens=8, messages=HELLO)")
    settled(k)
    mid, _ = run(k, "r = %count_calls report\nr")
    html = next(m for m in cell_outputs(k, mid) if m["msg_type"] == "execute_result")["content"]["data"]["text/html"]
    assert "<table" in html and M in html and "total: 1 call(s)" in html
    totals = k.json("print(json.dumps(r.to_dict()['totals']))")
    assert totals["calls"] == 1 and totals["output_tokens"] == 6 and totals["cost_usd"] > 0
    assert totals["predicted_exact"] is True
    mid, _ = run(k, "%count_calls on -q\nm = client.messages.create(model=M, max_tokens=8, messages=HELLO)")
    assert lines_of(k, mid) == ([], [])  # quiet: recorded, not shown
    assert len(settled(k)) == 2
    assert "off" in k.execute("%count_calls off")
    assert k.execute("print(jtc.meter.is_metering())").strip() == "False"
    before = len(k.iopub)
    k.execute("%count_calls sideways")
    errs = "".join(m["content"]["text"] for m in k.iopub[before:] if m["msg_type"] == "stream")
    assert errs.startswith("count_calls: ") and "invalid choice" in errs


def test_without_a_key_the_prediction_is_an_estimate_and_a_budget_needs_no_network(k: Kernel, standin: StandIn):
    k.execute("configure(mode='offline'); jtc.meter_calls(budget_tokens=5)")
    counts = len(standin.count_requests())
    out = k.execute(
        "try:\n    client.messages.create(model=M, max_tokens=8, messages=HELLO)\n"
        "except jtc.BudgetExceeded as e:\n    print(e)"
    )
    assert "≈" in out and "not sent" in out
    assert len(standin.count_requests()) == counts and not message_requests(standin)
    k.execute("configure(data_dir=None)")


def test_a_strict_budget_checks_the_top_of_the_estimates_range(k: Kernel, standin: StandIn):
    # offline, tools on a model whose tool prompt no count measured: the estimate has a wide range above it
    k.execute(
        "configure(mode='offline')\n"
        "TOOL = {'name': 'lookup', 'description': 'Look a word up', 'input_schema': {'type': 'object'}}"
    )
    n, low, high = k.json(
        "r = jtc.count_tokens(HELLO, model=M, tools=[TOOL]); print(json.dumps([r.input_tokens, r.low, r.high]))"
    )
    assert low <= n < high
    call = "client.messages.create(model=M, max_tokens=8, messages=HELLO, tools=[TOOL])"
    mid, _ = run(k, f"jtc.meter_calls(budget_tokens={n}, per_call=True)\nm = {call}")
    assert f"likely {low:,}–{high:,}" in final_text(k, mid)  # the line shows the range
    sent = len(message_requests(standin))
    k.execute("%load_ext jupyter_token_count")
    assert "per call, strict" in k.execute(f"%count_calls on --budget-tokens {n} --per-call --strict")
    out = k.execute(f"try:\n    {call}\nexcept jtc.BudgetExceeded as e:\n    print(e)")
    assert "not sent" in out and f"likely up to {high:,}; checked strictly" in out
    assert len(message_requests(standin)) == sent
    k.execute("configure(data_dir=None)")


def test_budget_arguments_are_checked():
    from jupyter_token_count import meter_calls, stop_metering

    for bad in ({"budget_tokens": -1}, {"budget_tokens": 1.5}, {"budget_usd": "ten"}, {"budget_usd": True}):
        with pytest.raises(ValueError):
            meter_calls(**bad)
    stop_metering()


def test_waiting_for_a_slow_count_never_delays_the_call(k: Kernel, standin: StandIn):
    standin.hang_next(1.5)  # the count answers late; the call itself must not wait for it
    t0 = time.monotonic()
    k.execute("m = client.messages.create(model=M, max_tokens=8, messages=HELLO)")
    assert time.monotonic() - t0 < 1.2
    [rec] = settled(k)
    assert rec["status"] == "done"


def test_counts_with_the_calling_clients_key_and_url(k: Kernel, standin: StandIn):
    # the process-wide counter has a wrong key and an unreachable URL; the client's own ones are used
    k.execute("configure(api_key='sk-ant-wrong-wrong-wrong', base_url='http://127.0.0.1:9')")
    k.execute("m = client.messages.create(model=M, max_tokens=8, messages=HELLO)")
    [rec] = settled(k)
    assert rec["exact"] and rec["count_note"] is None
    [count] = standin.count_requests()
    assert standin.api_key in (count.headers.get("x-api-key", "") + count.headers.get("authorization", ""))
    k.execute("configure(data_dir=None)")


# -- in-process: the pieces, and the text line outside a kernel -------------------------------------------
def test_sse_usage_survives_any_chunking():
    from jupyter_token_count.meter.usage import SSEUsage

    events = [
        {
            "type": "message_start",
            "message": {
                "usage": {
                    "input_tokens": 9,
                    "cache_read_input_tokens": 100,
                    "cache_creation_input_tokens": 0,
                    "output_tokens": 1,
                }
            },
        },
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "data: x\n\n"}},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 42}},
        {"type": "message_stop"},
    ]
    raw = "".join(f"event: {e['type']}\r\ndata: {json.dumps(e)}\r\n\r\n" for e in events).encode()
    for size in (1, 7, 64, len(raw)):
        s = SSEUsage()
        for i in range(0, len(raw), size):
            s.feed(raw[i : i + size])
        assert (
            s.usage
            == {
                "input_tokens": 9,
                "cache_read_input_tokens": 100,
                "cache_creation_input_tokens": 0,
                "output_tokens": 42,
            }
            and s.finished
        )


def test_a_response_is_priced_from_its_usage():
    from jupyter_token_count.meter.core import actual_cost

    # Haiku 5.5 (models.json): $0.10 in, $0.50 out; past a 100,000-token prompt $0.50 in, $0.05 read, $2.50 out
    small = actual_cost("claude-haiku-5-5", {"input_tokens": 100_000, "output_tokens": 1_000_000})
    big = actual_cost(
        "claude-haiku-5-5", {"input_tokens": 50_000, "cache_read_input_tokens": 60_000, "output_tokens": 1_000_000}
    )
    assert small == pytest.approx(0.01 + 0.5)
    assert big == pytest.approx(0.025 + 0.003 + 2.5)
    # Sonnet 5.5: a 1-hour write ($4/MTok) told apart from a 5-minute one ($2.50) by usage.cache_creation
    usage = {
        "input_tokens": 0,
        "cache_creation_input_tokens": 300_000,
        "cache_creation": {"ephemeral_5m_input_tokens": 200_000, "ephemeral_1h_input_tokens": 100_000},
    }
    assert actual_cost("claude-sonnet-5-5", usage) == pytest.approx(0.5 + 0.4)
    assert actual_cost("claude-sonnet-5-5", usage, batch=True) == pytest.approx(0.45)


def test_breakpoints_follow_the_cache_prefix_order():
    from jupyter_token_count.meter.core import breakpoints

    cc = {"type": "ephemeral"}
    body = {
        "model": "m",
        "tools": [{"name": "t", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
        "system": [{"type": "text", "text": "s", "cache_control": cc}],
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": "a", "cache_control": cc}, {"type": "text", "text": "b"}],
            }
        ],
    }
    bps = breakpoints(body)
    assert [bp.ttl for bp in bps] == ["1h", "5m", "5m"]
    assert bps[0].prefix == {"tools": body["tools"]}
    assert bps[2].prefix["messages"][0]["content"] == [body["messages"][0]["content"][0]]
    assert len(breakpoints({**body, "cache_control": cc})) == 4  # automatic caching: the end of the last message


def test_outside_a_kernel_the_line_is_text_and_estimates_are_marked(standin: StandIn, capsys):
    import anthropic

    import jupyter_token_count as jtc
    from jupyter_token_count.api import configure

    client = anthropic.Anthropic(api_key=standin.api_key, base_url=standin.url, max_retries=0)
    configure(mode="offline", data_dir=None)
    jtc.meter_calls()
    try:
        client.messages.create(model=M, max_tokens=8, messages=[{"role": "user", "content": "Hi"}])
        t0 = time.monotonic()
        while jtc.call_log()[-1].predicting and time.monotonic() - t0 < 10:
            time.sleep(0.01)
        time.sleep(0.05)
    finally:
        jtc.stop_metering()
    rec = jtc.call_log()[-1]
    # offline mode: the count is the estimate, ≈ everywhere
    assert rec.exact is False and rec.status == "done" and "offline mode" in rec.count_note
    err = capsys.readouterr().err
    assert err.count("Claude call:") == 1 and "in ≈" in err and "actual in" in err
    assert standin.api_key not in err
    assert not standin.count_requests()
    report = jtc.call_report()
    assert report.totals()["calls"] >= 1 and "total:" in repr(report)
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install pandas"):
            report.to_dataframe()
    else:
        assert list(report.to_dataframe()["model"])[-1] == M


def test_a_batch_gets_its_usage_when_its_results_are_fetched(k: Kernel, standin: StandIn):
    mid, _ = run(
        k,
        "reqs = [{'custom_id': f'r{i}', 'params': {'model': M, 'max_tokens': 100, "
        "'messages': [{'role': 'user', 'content': 'item ' * (5 * i + 1)}]}} for i in range(2)]\n"
        "b = client.messages.batches.create(requests=reqs)",
    )
    settled(k)
    out = k.execute("print(sum(1 for _ in client.messages.batches.results(b.id)))")
    assert out.strip() == "2"  # the SDK still reads every result: the meter only watched them go by
    recs = settled(k)
    for r in recs:
        whole = r["input_tokens"] + r["cache_creation_input_tokens"] + r["cache_read_input_tokens"]
        assert r["status"] == "done" and whole == r["predicted_input_tokens"] and r["output_tokens"] == 6
        assert r["cost_usd"] == pytest.approx((whole * 2 + 6 * 10) / 1e6 / 2)  # batch: half the list prices
    text = final_text(k, mid)  # the batch's own line, in the cell that created it, now carries the results
    assert "→ results 2/2" in text and "at batch price" in text


def test_a_budget_check_waits_for_a_slow_count_only_so_long(k: Kernel, standin: StandIn):
    k.execute("jtc.meter_calls(budget_tokens=10**6)")
    standin.hang_next(8)  # the count answers after the budget's wait: the estimate decides, marked ≈
    t0 = time.monotonic()
    k.execute("m = client.messages.create(model=M, max_tokens=8, messages=HELLO)", timeout=30)
    assert 4 < time.monotonic() - t0 < 7.5
    [rec] = settled(k)
    assert rec["status"] == "done" and rec["exact"] is False and "5s" in rec["count_note"]


# -- betas: what the call sends is what is counted ------------------------------------------------------------
EDIT = (
    "{'edits': [{'type': 'clear_tool_uses_20250919', 'trigger': {'type': 'input_tokens', 'value': 50}, "
    "'keep': {'type': 'tool_uses', 'value': 1}}]}"
)
LOOP = (
    "LOOP = [{'role': 'user', 'content': 'Weather?'}]\n"
    "for i in range(3):\n"
    "    use = {'type': 'tool_use', 'id': f't{i}', 'name': 'w', 'input': {}}\n"
    "    LOOP.append({'role': 'assistant', 'content': [use]})\n"
    "    LOOP.append({'role': 'user', 'content': [{'type': 'tool_result', 'tool_use_id': f't{i}', "
    "'content': 'sunny ' * 80}]})\n"
    "W = [{'name': 'w', 'description': 'weather', 'input_schema': {'type': 'object'}}]\n"
)
MCP = (
    "MCP = dict(mcp_servers=[{'type': 'url', 'name': 'docs', 'url': 'https://mcp.example.com/sse'}], "
    "tools=[{'type': 'mcp_toolset', 'mcp_server_name': 'docs'}], betas=['mcp-client-2025-11-20'])\n"
)


def test_a_call_with_context_editing_is_counted_exactly_with_its_betas(k: Kernel, standin: StandIn):
    mid, _ = run(
        k,
        LOOP + "m = client.beta.messages.create(model=M, max_tokens=8, messages=LOOP, tools=W, "
        f"context_management={EDIT}, betas=['context-management-2025-06-27'])",
    )
    [rec] = settled(k)
    [count] = standin.count_requests()
    assert count.headers["anthropic-beta"] == "context-management-2025-06-27,token-counting-2024-11-01"
    body = last_body(standin)
    assert count.json == {k: v for k, v in body.items() if k != "max_tokens"}  # nothing dropped
    before = standin_count(count.json)
    assert rec["exact"] and rec["status"] == "done" and rec["count_note"] is None
    assert rec["predicted_original_input_tokens"] == before > rec["predicted_input_tokens"]
    assert rec["predicted_input_tokens"] == rec["input_tokens"]  # what the call used: after the edits
    text = final_text(k, mid)
    assert f"in {rec['predicted_input_tokens']:,} after context editing, {before:,} before" in text


def test_a_call_with_mcp_servers_is_not_undercounted(k: Kernel, standin: StandIn):
    mid, _ = run(k, MCP + "m = client.beta.messages.create(model=M, max_tokens=8, messages=HELLO, **MCP)")
    [rec] = settled(k)
    [count] = standin.count_requests()
    assert "mcp_servers" in count.json and count.json["tools"] == [{"type": "mcp_toolset", "mcp_server_name": "docs"}]
    assert count.headers["anthropic-beta"] == "mcp-client-2025-11-20,token-counting-2024-11-01"
    # the prediction is the call's own input, exact (the MCP servers were dropped before, giving a smaller "exact")
    assert rec["exact"] and rec["predicted_input_tokens"] == rec["input_tokens"]
    assert rec["predicted_input_tokens"] > standin_count({"model": M, "messages": last_body(standin)["messages"]})
    assert "≈" not in final_text(k, mid).split("·")[1]
    # a budget is checked against that number: one the bare messages would fit stops the call
    bare = standin_count({"model": M, "messages": last_body(standin)["messages"]})
    k.execute(f"jtc.meter_calls(budget_tokens={bare + 2}, per_call=True)")
    out = k.execute(
        MCP + "try:\n    client.beta.messages.create(model=M, max_tokens=8, messages=HELLO, **MCP)\n"
        "except jtc.BudgetExceeded as e:\n    print('stopped:', e)"
    )
    assert f"stopped: not sent: this call's input is {rec['predicted_input_tokens']:,} tokens" in out
    assert len(message_requests(standin)) == 1


def test_offline_a_call_with_mcp_servers_is_an_estimate_saying_what_it_leaves_out(k: Kernel, standin: StandIn):
    k.execute("configure(mode='offline'); jtc.meter_calls()")
    mid, _ = run(k, MCP + "m = client.beta.messages.create(model=M, max_tokens=8, messages=HELLO, **MCP)")
    [rec] = settled(k)
    assert rec["exact"] is False and not standin.count_requests()
    assert "the tools of the MCP servers (mcp_servers) are not counted" in rec["count_note"]
    text = final_text(k, mid)
    assert "in ≈" in text and "mcp_servers" in text
    k.execute("configure(data_dir=None)")


def test_a_call_with_an_unknown_beta_says_why_it_was_not_counted(k: Kernel, standin: StandIn):
    _, out = run(
        k,
        "try:\n    client.beta.messages.create(model=M, max_tokens=8, messages=HELLO, betas=['no-such-beta-2099'])\n"
        "except anthropic.BadRequestError as e:\n    print('call failed:', e.status_code)",
    )
    assert "call failed: 400" in out
    [rec] = settled(k)
    assert rec["status"] == "error" and "Unexpected value(s) `no-such-beta-2099`" in rec["count_note"]
    assert "\n" not in rec["count_note"]
