"""The widget panel in a real kernel (jupyter_client + ipykernel), counting against the local stand-in.

The kernel gets ``ANTHROPIC_API_KEY`` / ``ANTHROPIC_BASE_URL`` pointing at the stand-in, so every count is a
real HTTP request made by the real SDK inside the kernel. Edits arrive both as Python assignments and as
the ``comm_msg`` updates a browser sends while someone types. Every iopub message of the module is kept
and checked: no ``error`` output and no traceback anywhere.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import KernelManager
from media import image_bytes, pdf_bytes
from standin import StandIn, standin_count

M = "claude-sonnet-5-5"

PRELUDE = f"""
import json, time
from jupyter_token_count import TokenCounter, watch
from jupyter_token_count.api import configure
M = {M!r}

def state(w):
    return {{"input_tokens": w.input_tokens, "exact": w.exact, "status": w.status, "error": w.error,
             "prompt": w.prompt, "system": w.system, "files": w.files, "request": w.request,
             "total_html": w._total.value, "bars_html": w._bars.value, "tools_html": w._tools_msg.value,
             "source": w._result.source if w._result else None,
             "rows_html": [r[1].value for r in w._rows.values()]}}

def show(w):
    w.wait(20)
    print(json.dumps(state(w)))
"""


class Kernel:
    """A running kernel and everything it has published on iopub."""

    @classmethod
    def start(cls, standin: StandIn, tmp_path_factory: pytest.TempPathFactory) -> Kernel:
        """A python3 kernel whose environment points the package at the stand-in, with a cache of its own."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "JUPYTER_TOKEN_COUNT_"))}
        env.update(
            ANTHROPIC_API_KEY=standin.api_key,
            ANTHROPIC_BASE_URL=standin.url,
            JUPYTER_TOKEN_COUNT_DATA_DIR=str(tmp_path_factory.mktemp("kernel-data")),
        )
        km = KernelManager(kernel_name="python3")
        km.start_kernel(env=env, cwd=str(tmp_path_factory.mktemp("kernel-cwd")))
        return cls(km)

    def __init__(self, km: KernelManager) -> None:
        self.km = km
        self.kc = km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        self.iopub: list[dict[str, Any]] = []

    def execute(self, code: str, timeout: float = 30) -> str:
        """Run code, return its stdout; fail on an error reply."""
        msg_id = self.kc.execute(code)
        out: list[str] = []
        while True:
            msg = self.kc.get_iopub_msg(timeout=timeout)
            self.iopub.append(msg)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
                out.append(msg["content"]["text"])
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        while True:
            reply = self.kc.get_shell_msg(timeout=timeout)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        assert reply["content"]["status"] == "ok", "\n".join(reply["content"].get("traceback", []))
        return "".join(out)

    def json(self, code: str) -> Any:
        return json.loads(self.execute(code).strip().splitlines()[-1])

    def send_update(self, comm_id: str, state: dict[str, Any]) -> None:
        """What a browser sends when the user edits a widget (ipywidgets protocol 2)."""
        content = {"comm_id": comm_id, "data": {"method": "update", "state": state, "buffer_paths": []}}
        self.kc.shell_channel.send(self.kc.session.msg("comm_msg", content))

    def drain(self, quiet: float = 0.2) -> None:
        while True:
            try:
                self.iopub.append(self.kc.get_iopub_msg(timeout=quiet))
            except Exception:
                return

    def problems(self) -> list[str]:
        found = []
        for msg in self.iopub:
            content = msg["content"]
            if msg["msg_type"] == "error":
                found.append(f"error output: {content.get('ename')}: {content.get('evalue')}")
            text = json.dumps(content)
            if "Traceback" in text:
                found.append(f"traceback in {msg['msg_type']}: {text[:500]}")
        return found

    def updates(self, model_id: str) -> list[dict[str, Any]]:
        """The state updates the front end received for one widget."""
        return [
            m["content"]["data"]["state"]
            for m in self.iopub
            if m["msg_type"] == "comm_msg"
            and m["content"]["comm_id"] == model_id
            and m["content"]["data"].get("method") == "update"
        ]


@pytest.fixture(scope="module")
def kernel(standin_server: StandIn, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    k = Kernel.start(standin_server, tmp_path_factory)
    try:
        k.execute(PRELUDE)
        yield k
        k.drain()
        assert k.problems() == []
    finally:
        k.kc.stop_channels()
        k.km.shutdown_kernel(now=True)


@pytest.fixture
def k(kernel: Kernel, standin: StandIn) -> Iterator[Kernel]:
    """The shared kernel with a fresh process-wide counter (empty cache) and a reset stand-in."""
    kernel.execute("configure(data_dir=None)")
    yield kernel
    kernel.execute("w.close() if globals().get('w') is not None else None; w = None")
    kernel.drain(0.05)
    assert kernel.problems() == []


def sent_bodies(standin: StandIn, since: int = 0) -> list[dict[str, Any]]:
    return [r.json for r in standin.count_requests()[since:]]


def final_prompt(body: dict[str, Any]) -> str:
    content = body["messages"][0]["content"]
    return content if isinstance(content, str) else content[-1]["text"]


# -- debounce, staleness, responsiveness ------------------------------------------------------------


@pytest.mark.parametrize("source", ["browser", "python"])
def test_burst_of_20_edits_costs_at_most_2_requests(k: Kernel, standin: StandIn, source: str):
    ids = k.json(
        "w = TokenCounter(model=M, prompt='Tell me'); w.wait(20); "
        "print(json.dumps([w._prompt_box.model_id, w._total.model_id]))"
    )
    before = len(standin.count_requests())
    assert before == 1
    words = [
        "Tell",
        "me",
        "about",
        "the",
        "history",
        "of",
        "the",
        "Royal",
        "Society",
        "and",
        "its",
        "first",
        "fellows",
        "please",
    ]
    edits = [" ".join(words[: i + 1]) + "?" * (i % 3) for i in range(20)]
    if source == "browser":
        for text in edits:  # someone typing: ~25 ms between keystrokes
            k.send_update(ids[0], {"value": text})
            time.sleep(0.025)
    else:
        k.execute(f"for t in {edits!r}:\n    w.prompt = t\n    time.sleep(0.025)")
    s = k.json("show(w)")
    bodies = sent_bodies(standin, before)
    assert 1 <= len(bodies) <= 2
    assert final_prompt(bodies[-1]) == edits[-1] == s["prompt"]
    assert s["input_tokens"] == standin_count(bodies[-1])
    assert (s["exact"], s["status"], s["source"]) == (True, "done", "api")
    # what the browser was sent last is the final count
    totals = [u["value"] for u in k.updates(ids[1]) if "value" in u]
    assert f"{standin_count(bodies[-1]):,}" in totals[-1]


def test_stale_answer_never_overwrites_newer_and_kernel_stays_responsive(k: Kernel, standin: StandIn):
    standin.delay = 0.8  # every answer takes 0.8 s
    k.execute(
        "seen = []\nw = TokenCounter(model=M, prompt='first version')\n"
        "w.observe(lambda c: seen.append(c['new']), 'input_tokens')"
    )
    deadline = time.monotonic() + 5
    while not standin.count_requests() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(standin.count_requests()) == 1  # the first answer is now in flight

    t0 = time.monotonic()
    k.execute("w.prompt = 'second, much longer version of the prompt'")
    k.execute("x = 1 + 1")
    assert time.monotonic() - t0 < 0.5  # the kernel answers while the count is in flight

    s = k.json("show(w)")
    bodies = sent_bodies(standin)
    assert [final_prompt(b) for b in bodies] == ["first version", "second, much longer version of the prompt"]
    seen = k.json("print(json.dumps(seen))")
    assert seen == [standin_count(bodies[1])]  # the first, stale answer was never shown
    assert s["input_tokens"] == standin_count(bodies[1])


def test_unchanged_content_is_answered_from_the_cache(k: Kernel, standin: StandIn):
    k.execute("w = TokenCounter(model=M, prompt='alpha'); w.wait(20)")
    k.execute("w.prompt = 'beta'; w.wait(20)")
    k.execute("w.prompt = 'alpha'; w.wait(20)")
    s = k.json("show(w)")
    assert [final_prompt(b) for b in sent_bodies(standin)] == ["alpha", "beta"]
    assert (s["source"], s["exact"]) == ("cache", True)
    assert "exact · cached" in s["total_html"]
    k.execute("w.system = ''; w.prompt = 'alpha '; w.prompt = 'alpha'; w.wait(20)")  # a no-op edit
    assert len(standin.count_requests()) == 2


# -- files ------------------------------------------------------------------------------------------


def test_adding_a_real_png_puts_an_image_block_in_the_request(k: Kernel, standin: StandIn, tmp_path: Path):
    png = tmp_path / "chart.png"
    data = image_bytes("PNG", (320, 200))
    png.write_bytes(data)
    k.execute("w = TokenCounter(model=M, system='You read charts.', prompt='What does this chart show?')")
    name = k.json(f"print(json.dumps(w.add_file({str(png)!r})))")
    s = k.json("show(w)")
    body = sent_bodies(standin)[-1]
    image, text = body["messages"][0]["content"]
    assert image == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": base64.standard_b64encode(data).decode()},
    }
    assert text == {"type": "text", "text": "What does this chart show?"}
    assert body["system"] == "You read charts."
    assert s["request"] == body  # reusable as client.messages.create(**w.request, max_tokens=...)
    assert s["input_tokens"] == standin_count(body) and s["exact"]
    [f] = s["files"]
    assert (f["name"], f["error"], f["info"]) == (name, None, "PNG · 320×200 px")
    assert 0 < f["tokens"] < s["input_tokens"]
    assert "chart.png" in s["bars_html"] and "scaled to it" in s["bars_html"]
    assert f"≈{f['tokens']:,} tokens" in s["rows_html"][0]
    # remove it again: back to the plain string prompt counted first, which the cache answers
    s = k.json(f"w.remove_file({name!r}); show(w)")
    assert s["request"]["messages"][0]["content"] == "What does this chart show?"
    assert (s["files"], s["rows_html"], s["source"]) == ([], [], "cache")
    assert len(standin.count_requests()) == 2


def test_unusable_files_get_inline_errors_and_are_never_sent(k: Kernel, standin: StandIn, tmp_path: Path):
    corrupt = tmp_path / "report.pdf"
    corrupt.write_bytes(b"%PDF-1.7\n" + os.urandom(300))  # a PDF header and then noise
    fake = tmp_path / "photo.png"
    fake.write_bytes(b"GIF? no: this is just some text pretending to be a picture\n" * 4)
    huge = tmp_path / "banner.png"
    huge.write_bytes(image_bytes("PNG", (8100, 20)))  # wider than the API's 8000 px
    good = tmp_path / "notes.pdf"
    good.write_bytes(pdf_bytes(2, "Quarterly notes"))
    k.execute("w = TokenCounter(model=M, prompt='Summarise the attachments.')")
    start = len(k.iopub)
    for p in (corrupt, fake, huge, good):
        k.execute(f"w.add_file({str(p)!r})")
    s = k.json("show(w)")
    noise = [
        m["content"]["text"] for m in k.iopub[start:] if m["msg_type"] == "stream" and m["content"]["name"] == "stderr"
    ]
    assert noise == []  # the errors are in the panel; pypdf's repair warnings are not printed under it
    errors = {f["name"]: f["error"] for f in s["files"]}
    assert errors["report.pdf"].startswith("unreadable PDF")
    assert "not PNG, JPEG, GIF or WebP" in errors["photo.png"]
    assert "8100×20 px" in errors["banner.png"]
    assert errors["notes.pdf"] is None
    assert sum("left out of the count" in r for r in s["rows_html"]) == 3
    assert "3 files left out" in s["total_html"]
    # everything else still counts, and nothing of the bad files went upstream
    for r in standin.count_requests():
        for p in (corrupt, fake, huge):
            assert base64.standard_b64encode(p.read_bytes()).decode()[:200].encode() not in r.raw
    body = sent_bodies(standin)[-1]
    assert [b["type"] for b in body["messages"][0]["content"]] == ["document", "text"]
    assert s["request"] == body and s["input_tokens"] == standin_count(body) and s["status"] == "done"


def test_uploads_from_the_browser_are_added_one_by_one(k: Kernel, standin: StandIn):
    """The FileUpload widget's value, as the browser sends it (content as a binary buffer)."""
    ids = k.json("w = TokenCounter(model=M, prompt='Compare'); w.wait(20); print(json.dumps([w._upload.model_id]))")
    for name, data in (("a.jpg", image_bytes("JPEG", (40, 30))), ("b.webp", image_bytes("WEBP", (30, 40)))):
        value = [{"name": name, "type": "image/jpeg", "size": len(data), "last_modified": 1_700_000_000_000}]
        content = {
            "comm_id": ids[0],
            "data": {"method": "update", "state": {"value": value}, "buffer_paths": [["value", 0, "content"]]},
        }
        msg = k.kc.session.msg("comm_msg", content)
        k.kc.session.send(k.kc.shell_channel.socket, msg, buffers=[data])
        time.sleep(0.05)
    s = k.json("show(w); assert w._upload.value == ()")
    assert [f["name"] for f in s["files"]] == ["a.jpg", "b.webp"]
    media = [b["source"]["media_type"] for b in sent_bodies(standin)[-1]["messages"][0]["content"][:2]]
    assert media == ["image/jpeg", "image/webp"]  # sniffed from the bytes, not taken from the browser


# -- tools, clear, errors, offline -------------------------------------------------------------------


def test_tools_json_is_validated_inline(k: Kernel, standin: StandIn):
    tools = [
        {
            "name": "get_weather",
            "description": "Weather for a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]
    # the constructor the %%count_tokens --widget magic calls
    s = k.json(f"w = TokenCounter(model=M, system='', prompt='Weather in Paris?', tools={tools!r}); show(w)")
    assert sent_bodies(standin)[-1]["tools"] == tools == s["request"]["tools"]
    s = k.json('w._tools_box.value = \'[{"name": "get_weather",\'; show(w)')
    assert "invalid JSON at line 1" in s["tools_html"] and "tools left out" in s["tools_html"]
    assert "tools" not in s["request"] and "tools" not in sent_bodies(standin)[-1]
    assert s["status"] == "done"
    s = k.json('w._tools_box.value = \'[{"name": "x"}]\'; show(w)')
    assert "needs an &#x27;input_schema&#x27;" in s["tools_html"]  # escaped: it is HTML


def test_clear_resets_everything_but_the_model(k: Kernel, standin: StandIn, tmp_path: Path):
    png = tmp_path / "x.png"
    png.write_bytes(image_bytes())
    k.execute(
        f"w = TokenCounter(model=M, system='s', prompt='p', tools=[{{'name': 't', 'input_schema': {{}}}}])\n"
        f"w.add_file({str(png)!r}); w.wait(20)"
    )
    sent = len(standin.count_requests())
    s = k.json("w.clear(); print(json.dumps(state(w)))")  # at once, before any recount
    assert (s["input_tokens"], s["exact"], s["status"], s["files"], s["request"]) == (0, False, "empty", [], None)
    assert (s["prompt"], s["system"]) == ("", "")
    s = k.json("show(w); print(json.dumps([w.model, w.tools, w.result is None]))")
    assert k.json("print(json.dumps([w.model, w.tools, w.result is None, w.status]))") == [M, None, True, "empty"]
    assert len(standin.count_requests()) == sent  # nothing to count, nothing sent
    s = k.json("w.system = 'only a system prompt'; show(w)")
    assert "the API needs a user message" in s["total_html"] and s["status"] == "empty"


def test_api_refusal_is_shown_in_the_panel(k: Kernel, standin: StandIn):
    # an id the API's model list lacks is refused before any count, with the closest ids
    s = k.json("w = TokenCounter(model='gpt-4o', prompt='hello'); show(w)")
    assert s["status"] == "error" and "unknown model 'gpt-4o'" in s["error"] and s["input_tokens"] == 0
    assert "did you mean" in s["error"] and "Cannot count" in s["total_html"]
    standin.fail_next(404, message="model: claude-opus-4-8 is not available")
    s = k.json("w.model = 'claude-opus-4-8'; show(w)")
    assert s["status"] == "error" and "404" in s["error"]
    s = k.json("w.model = M; show(w)")
    assert s["status"] == "done" and sent_bodies(standin)[-1]["model"] == M


def test_estimates_are_labelled_and_the_text_fallback_is_the_summary(k: Kernel, standin: StandIn):
    msg_id = k.kc.execute("w = TokenCounter(model=M, prompt='Hello, Claude', mode='offline'); display(w)")
    k.execute("w.wait(20)")
    [shown] = [m for m in k.iopub if m["msg_type"] == "display_data" and m["parent_header"].get("msg_id") == msg_id]
    data = shown["content"]["data"]
    assert "application/vnd.jupyter.widget-view+json" in data
    assert data["text/plain"].startswith("≈") and "(estimate: offline mode)" in data["text/plain"]
    s = k.json("show(w)")
    assert s["exact"] is False and s["input_tokens"] > 0
    assert "≈" in s["total_html"] and "≈ estimate: offline mode" in s["total_html"]
    assert "Estimated offline" in s["bars_html"]
    assert standin.count_requests() == []
    s = k.json("w.model = 'claude-sonet-4-5'; w.wait(20); show(w)")  # unknown, offline: a warning with the estimate
    assert s["status"] == "done" and "did you mean" in s["total_html"] and "claude-sonnet-4-5" in s["total_html"]


def test_magic_widget_option_shows_a_live_panel(k: Kernel, standin: StandIn):
    k.execute("%load_ext jupyter_token_count")
    msg_id = k.kc.execute(f"%%count_tokens --widget -m {M} -o w\nHow many tokens is this?\n")
    k.execute("w.wait(20)")
    shown = [m for m in k.iopub if m["msg_type"] == "display_data" and m["parent_header"].get("msg_id") == msg_id]
    assert shown and "application/vnd.jupyter.widget-view+json" in shown[0]["content"]["data"]
    s = k.json("show(w)")
    assert s["prompt"] == "How many tokens is this?" and s["exact"]
    assert s["input_tokens"] == standin_count(sent_bodies(standin)[-1])


# -- watch ------------------------------------------------------------------------------------------


def test_watch_recounts_a_growing_message_list_on_refresh(k: Kernel, standin: StandIn):
    k.execute(
        "msgs = [{'role': 'user', 'content': 'Hi Claude'}]\nv = watch(msgs, model=M, system='Be brief'); v.wait(20)"
    )
    assert len(standin.count_requests()) == 1
    k.execute(
        "for i in range(5):\n    msgs.append({'role': 'assistant' if i % 2 == 0 else 'user', 'content': f'turn {i}'})\n"
        "    v.refresh()\n"
    )
    s = k.json("v.wait(20); print(json.dumps([v.input_tokens, v.exact, v.value, v._repr_mimebundle_()['text/plain']]))")
    bodies = sent_bodies(standin)
    assert len(bodies) <= 3  # five refreshes in a burst: debounced too
    assert len(bodies[-1]["messages"]) == 6 and bodies[-1]["system"] == "Be brief"
    assert s[0] == standin_count(bodies[-1]) and s[1] is True
    assert "since the previous refresh" in s[2]
    assert s[3].startswith(f"{s[0]:,} input tokens")
    k.execute("v.close()")


# -- in-process checks (no kernel) ------------------------------------------------------------------


def test_split_scaled_to_an_exact_total_keeps_proportions_and_sums():
    from jupyter_token_count.widget.parts import _scale

    parts = {"/system": 10, "/messages/0/content/0": 300, "/messages/0/content/1": 33, "/frame": 7}
    scaled = _scale(parts, 377)
    assert sum(scaled.values()) == 377
    assert scaled["/messages/0/content/0"] == max(scaled.values())
    assert _scale({}, 10) == {} and _scale({"/a": 5}, 5) == {"/a": 5}


def test_a_rate_limit_estimate_is_replaced_by_the_exact_count_when_allowed(standin: StandIn, api_settings):
    from dataclasses import replace

    from jupyter_token_count.counter import Counter
    from jupyter_token_count.widget import TokenCounter

    counter = Counter(replace(api_settings, max_retries=0))
    standin.fail_next(429, retry_after=0.5)
    w = TokenCounter(model=M, prompt="Is this exact yet?", counter=counter)
    first = w.wait(10)
    assert first is not None and not first.exact and "rate limited" in (first.reason or "")
    assert "≈" in w._total.value and "rate limited" in w._total.value
    deadline = time.monotonic() + 5
    while not w.exact and time.monotonic() < deadline:
        time.sleep(0.05)
    assert w.exact and w.input_tokens == standin_count(standin.count_requests()[-1].json)
    assert len(standin.count_requests()) == 2
    w.close()
