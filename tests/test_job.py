"""``estimate_job``: a job's tokens and cost before it runs, against the stand-in, whose counts follow a known rule
(``standin_count``), so every job's true total is known here."""

from __future__ import annotations

import gzip
import json
import statistics
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from jobdata import SYSTEM, batch_rows, text, write_jsonl
from standin import StandIn, standin_count

from jupyter_token_count import count_tokens, estimate_job
from jupyter_token_count.errors import InputError
from jupyter_token_count.job import JobEstimate
from jupyter_token_count.job.chart import VEGALITE_MIME
from jupyter_token_count.request import build_request


def true_total(rows: list[dict]) -> int:
    return sum(standin_count(build_request(r["params"]).body) for r in rows)


def offline_total(rows: list[dict]) -> int:
    return sum(count_tokens(r["params"], mode="offline").input_tokens for r in rows)


# -- offline: every request estimated, from every kind of source ---------------------------------------------------
def test_offline_total_is_every_requests_estimate_and_says_so():
    rows = batch_rows(120, seed=1)
    est = estimate_job(rows, mode="offline")
    assert isinstance(est, JobEstimate)
    assert est.requests == 120 and est.exact_sample == 0 and not est.exact and est.method == "offline"
    assert est.input_tokens == est.offline_input_tokens == offline_total(rows)
    assert est.reason == "offline mode" and est.label.startswith("≈")
    assert est.input_tokens_low <= est.input_tokens <= est.input_tokens_high
    assert est.model == "claude-sonnet-5-5" and est.models["claude-sonnet-5-5"]["requests"] == 120


def test_no_key_means_offline_with_the_reason():
    est = estimate_job(batch_rows(10, seed=2))
    assert est.method == "offline" and "no API key" in est.reason


def test_every_kind_of_source_gives_the_same_job(tmp_path: Path):
    import pandas as pd

    rows = batch_rows(60, seed=3)
    bodies = [r["params"] for r in rows]
    batch_file = write_jsonl(tmp_path / "batch.jsonl", rows)
    bodies_file = write_jsonl(tmp_path / "bodies.jsonl", bodies)
    gz = tmp_path / "batch.jsonl.gz"
    gz.write_bytes(gzip.compress(batch_file.read_bytes()))
    frame = pd.DataFrame({"custom_id": [r["custom_id"] for r in rows], "params": bodies})
    series = pd.Series(bodies, index=[f"id{i}" for i in range(60)], name="request")
    expected = offline_total(rows)
    sources = {
        "batch file": batch_file,
        "path as str": str(batch_file),
        "bodies file": bodies_file,
        "gzip file": gz,
        "list": rows,
        "generator": (r for r in rows),
        "bodies": bodies,
        "DataFrame of batch rows": frame,
        "Series": series,
        "one-column DataFrame": series.to_frame(),
        "open binary file": open(batch_file, "rb"),  # noqa: SIM115 -- estimate_job reads it; closed with the test
    }
    got = {name: estimate_job(src, mode="offline") for name, src in sources.items()}
    assert {name: e.input_tokens for name, e in got.items()} == dict.fromkeys(sources, expected)
    heaviest = got["batch file"].heaviest[0]
    # a row is named by its custom_id, else by its line in a file, else by its index label or position
    assert isinstance(heaviest["id"], str) and heaviest["id"].startswith("req-")
    assert "line " in heaviest["where"] and "custom_id" in heaviest["where"]
    assert isinstance(got["bodies file"].heaviest[0]["id"], int)  # a line number, from 1
    assert got["Series"].heaviest[0]["id"].startswith("id")
    assert got["list"].heaviest[0]["id"] == got["batch file"].heaviest[0]["id"]
    sources["open binary file"].close()


def test_strings_are_prompts_and_message_lists_are_conversations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "notes.md").write_text("x " * 5000)
    monkeypatch.chdir(tmp_path)
    convo = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Bye"},
    ]
    est = estimate_job(["notes.md", "What is 2 + 2?", convo], mode="offline")
    # a row that looks like a file name is prompt text (a dataset's row), never the file
    as_text = [{"role": "user", "content": [{"type": "text", "text": "notes.md"}]}]
    expected = sum(count_tokens(x, mode="offline").input_tokens for x in (as_text, "What is 2 + 2?", convo))
    assert est.input_tokens == expected and est.requests == 3
    assert count_tokens("notes.md", mode="offline").input_tokens > 2000  # what count_tokens makes of it: the file


def test_a_column_of_json_bodies_is_read_as_requests():
    rows = batch_rows(5, seed=4)
    as_json = [json.dumps(r["params"]) for r in rows]
    assert estimate_job(as_json, mode="offline").input_tokens == offline_total(rows)
    # JSON that is not a request stays prompt text
    assert (
        estimate_job(['{"a": 1}'], mode="offline").input_tokens == count_tokens('{"a": 1}', mode="offline").input_tokens
    )


# -- bad rows: reported by line and custom_id, the rest estimated ------------------------------------------------------
def bad_file(tmp_path: Path) -> Path:
    good = batch_rows(6, seed=5)
    lines = [json.dumps(r) for r in good[:3]]
    lines.append('{"custom_id": "broken", "params": ')  # line 4: not JSON
    lines.append(
        json.dumps(
            {
                "custom_id": "no-max",
                "params": {"model": "claude-sonnet-5-5", "messages": [{"role": "user", "content": "x"}]},
            }
        )
    )
    lines.append("")  # a blank line is no row
    lines.append(json.dumps({"custom_id": "bad id!", "params": good[3]["params"]}))
    bad_role = dict(good[4]["params"], messages=[{"role": "robot", "content": "x"}])
    lines.append(json.dumps({"custom_id": "bad-role", "params": bad_role}))
    lines.append(json.dumps(good[5]))
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_bad_rows_are_reported_and_the_rest_estimated(tmp_path: Path):
    est = estimate_job(bad_file(tmp_path), mode="offline")
    assert est.requests == 4 and est.bad_rows == 4
    assert est.errors[0].startswith("line 4: not valid JSON")
    assert est.errors[1] == "line 5 (custom_id 'no-max'), params.max_tokens: is required by the Messages API"
    assert est.errors[2].startswith("line 7, custom_id: must be 1 to 64 letters")
    assert est.errors[3].startswith("line 8 (custom_id 'bad-role')") and "messages[0].role" in est.errors[3]


def test_errors_raise_stops_at_a_bad_row_naming_it(tmp_path: Path):
    with pytest.raises(InputError, match=r"^line 4: not valid JSON"):
        estimate_job(bad_file(tmp_path), mode="offline", errors="raise")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("missing.jsonl", "no such file"),
        ({"model": "x", "messages": []}, "count_tokens"),
        (42, "cannot read a job from a int"),
    ],
)
def test_a_source_that_cannot_be_read_is_one_clear_error(source, message):
    with pytest.raises(InputError, match=message):
        estimate_job(source, mode="offline")


def test_an_empty_job_is_an_error(tmp_path: Path):
    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(InputError, match="no requests"):
        estimate_job(tmp_path / "empty.jsonl", mode="offline")
    with pytest.raises(InputError, match="sample"):
        estimate_job([], sample=-1)


# -- with a key: exact counts of a sample and the heaviest, calibrated ----------------------------------------------
def test_the_sample_and_the_heaviest_are_counted_exactly(api_env: StandIn):
    rows = batch_rows(300, seed=6)
    est = estimate_job(rows, sample=40, seed=9)
    # 40 at random and the heaviest max(5, 40 // 10) = 5, every one a distinct request: 45 upstream counts
    assert est.exact_sample == 45 and est.sample_counted == 40 and est.heaviest_counted == 5
    assert len(api_env.count_requests()) == 45
    assert est.method == "calibrated" and not est.exact
    # the heaviest by the offline estimate are listed with their exact counts
    by_id = {r["custom_id"]: r for r in rows}
    top = est.heaviest[:5]
    assert all(h["exact"] for h in top)
    assert all(h["input_tokens"] == standin_count(build_request(by_id[h["id"]]["params"]).body) for h in top)
    # the same seed draws the same sample (from the cache now: nothing new is sent)
    again = estimate_job(rows, sample=40, seed=9)
    assert again.input_tokens == est.input_tokens and len(api_env.count_requests()) == 45


def test_interval_holds_the_true_total_on_repeated_samples(api_env: StandIn):
    """Coverage: over many seeds the 95 % interval must hold the true total about 95 % of the time. The
    threshold fails an interval that is too narrow (e.g. no t quantile, or the errors taken as independent of
    the template) and the width check fails one that is uselessly wide."""
    from jupyter_token_count.api import configure

    configure(rpm=20_000)  # the census below is 1,000 counts at once (the default budget is 500 a minute)
    rows = batch_rows(1000, seed=11)
    truth = true_total(rows)
    # every request counted once (this also caches them, so the seeds below send nothing)
    census = estimate_job(rows, sample=1000, seed=0)
    assert census.exact and census.method == "census" and census.exact_sample == 1000
    assert census.input_tokens == census.input_tokens_low == census.input_tokens_high == truth
    offline = census.offline_input_tokens
    assert abs(offline - truth) / truth > 0.05  # the stand-in's rule is not the estimator's: calibration matters
    runs, hits, widths, errors = 120, 0, [], []
    for seed in range(1, runs + 1):
        est = estimate_job(rows, sample=100, seed=seed, jobs=1)
        hits += est.input_tokens_low <= truth <= est.input_tokens_high
        widths.append((est.input_tokens_high - est.input_tokens_low) / truth)
        errors.append(abs(est.input_tokens - truth) / truth)
    assert hits >= 0.9 * runs, f"the interval held the true total in {hits} of {runs} samples"
    assert statistics.median(widths) < 0.05
    assert statistics.median(errors) < abs(offline - truth) / truth / 3  # calibration beats the raw estimate


def test_census_when_the_sample_covers_the_job(api_env: StandIn):
    rows = batch_rows(30, seed=12)
    est = estimate_job(rows)  # the default sample (200) is more than the job
    assert est.exact and est.input_tokens == true_total(rows) and est.label == f"{est.input_tokens:,}"
    assert est.exact_sample == 30 and len(api_env.count_requests()) == 30


def test_mode_offline_and_sample_zero_never_call_the_api(api_env: StandIn):
    rows = batch_rows(20, seed=13)
    assert estimate_job(rows, mode="offline").method == "offline"
    assert estimate_job(rows, sample=0).reason.startswith("sample=0")
    assert api_env.count_requests() == []


def test_api_mode_without_a_key_is_an_error():
    from jupyter_token_count.errors import ConfigError

    with pytest.raises(ConfigError, match="needs an API key"):
        estimate_job(batch_rows(3), mode="api")


def test_a_request_the_api_rejects_or_cannot_count_is_reported(api_env: StandIn):
    rows = batch_rows(8, seed=14)
    api_env.fail_next(400, message="messages.0.content.0: something only the API checks")
    est = estimate_job(rows)
    assert est.exact_sample == 7 and not est.exact
    [note] = [n for n in est.notes if "rejected" in n]
    assert "1 of the requests" in note and "something only the API checks" in note and "custom_id 'req-" in note
    api_env.reset()
    api_env.fail_next(529, times=30)  # overloaded beyond the retries: those requests keep their estimates
    est = estimate_job(batch_rows(8, seed=15))
    assert est.exact_sample < 8 and any("could not be had" in n for n in est.notes)


# -- prices ---------------------------------------------------------------------------------------------------------
def test_batch_price_is_half_and_costs_follow_each_requests_band(api_env: StandIn):
    rows = batch_rows(50, seed=15, model="claude-opus-4-8", max_tokens=1000)
    est = estimate_job(rows)
    assert est.exact
    # Opus 4.8 (models.json): $5/MTok in, $25/MTok out
    exact = [standin_count(build_request(r["params"]).body) for r in rows]
    assert est.cost_usd == pytest.approx(sum(exact) * 5 / 1e6)
    assert est.batch_cost_usd == pytest.approx(est.cost_usd / 2)
    assert est.output_tokens_max == 50_000
    assert est.output_cost_usd_max == pytest.approx(50_000 * 25 / 1e6)
    assert est.batch_output_cost_usd_max == pytest.approx(est.output_cost_usd_max / 2)


def test_price_bands_apply_per_request_not_to_the_total():
    # Haiku 5.5 charges its higher band for a whole request above 100K tokens: two big requests pay it, the
    # small ones do not (a band applied to the job's total would charge everyone)
    rnd = __import__("random").Random(16)
    small = [{"role": "user", "content": text(rnd, 200)} for _ in range(20)]
    big = [{"role": "user", "content": text(rnd, 60_000)} for _ in range(2)]
    jobs = [[m] for m in (*small, *big)]
    est = estimate_job(jobs, model="claude-haiku-5-5", mode="offline")
    per_request = [count_tokens(j, model="claude-haiku-5-5", mode="offline").input_tokens for j in jobs]
    assert max(per_request) > 100_000 > sorted(per_request)[-3]

    def haiku_5_5(n: int) -> float:  # models.json: $0.10/MTok, $0.50/MTok for a request above 100,000 tokens
        return n * (0.5 if n > 100_000 else 0.1) / 1e6

    assert est.cost_usd == pytest.approx(sum(haiku_5_5(n) for n in per_request), rel=1e-6)
    assert est.cost_usd != pytest.approx(haiku_5_5(sum(per_request)), rel=1e-3)


def test_unknown_price_is_unknown_not_zero():
    est = estimate_job(["hello"] * 3, model="claude-sonnet-9-9", mode="offline")
    assert est.cost_usd is None and est.batch_cost_usd is None and est.warnings
    assert "unknown" in est.summary()


# -- windows ------------------------------------------------------------------------------------------------------
def window_rows() -> list[dict]:
    rnd = __import__("random").Random(17)
    rows = batch_rows(20, seed=17, model="claude-haiku-4-5", max_tokens=1024)
    # two requests far over Haiku 4.5's 200K window, one that fits but leaves no room for its max_tokens
    rows[4]["params"]["messages"][0]["content"] = text(rnd, 150_000)
    rows[9]["params"]["messages"][0]["content"] = text(rnd, 160_000)
    rows[12]["params"]["messages"][0]["content"] = text(rnd, 110_000)
    rows[12]["params"]["max_tokens"] = 64_000
    return rows


def test_requests_over_the_window_are_named_offline():
    est = estimate_job(window_rows(), mode="offline")
    assert sorted(est.over_window) == ["req-4", "req-9"]
    assert est.output_limited == ["req-12"]
    assert all(not r["exact"] and r["input_tokens"] > 200_000 for r in est.over_window_rows)


def test_requests_over_the_window_are_confirmed_exactly(api_env: StandIn):
    rows = window_rows()
    est = estimate_job(rows, sample=10, seed=1)
    assert sorted(est.over_window) == ["req-4", "req-9"]
    for r in est.over_window_rows:  # the heaviest are counted exactly: the over-window ones among them
        assert r["exact"] and r["input_tokens"] == standin_count(build_request(rows[int(r["id"][4:])]["params"]).body)


# -- what the result gives ---------------------------------------------------------------------------------------
def test_to_dict_is_json_and_to_dataframe_splits_by_model():
    rows = batch_rows(20, seed=18) + batch_rows(10, seed=19, model="claude-opus-4-8")
    est = estimate_job(rows, mode="offline")
    d = json.loads(json.dumps(est.to_dict()))
    assert d["requests"] == 30 and d["model"] is None and set(d["models"]) == {"claude-sonnet-5-5", "claude-opus-4-8"}
    frame = est.to_dataframe()
    assert frame.loc["claude-opus-4-8", "requests"] == 10
    assert frame["input_tokens"].sum() == pytest.approx(est.input_tokens, abs=2)
    assert len(est.to_dataframe("heaviest")) == 10 and est.to_dataframe("histogram")["requests"].sum() == 30


def test_caching_hint_for_a_shared_prefix():
    long_system = SYSTEM + " " + " ".join(["Follow the style guide to the letter."] * 400)
    rows = batch_rows(40, seed=20)
    for r in rows:
        r["params"]["system"] = long_system
        r["params"].pop("tools", None)
    est = estimate_job(rows, mode="offline")
    hint = est.caching
    assert hint["requests"] == 40 and hint["prefix"] == "system" and hint["prefix_tokens"] > 2000
    assert hint["saving_usd"] > 0 and hint["batch_saving_usd"] == pytest.approx(hint["saving_usd"] / 2)
    assert "cache_control" in est.caching_hint()
    for r in rows:
        r["params"]["system"] = [{"type": "text", "text": long_system, "cache_control": {"type": "ephemeral"}}]
    assert estimate_job(rows, mode="offline").caching == {"already_cached": 40}


def test_rich_display_vegalite_with_an_svg_fallback_and_an_html_card():
    from IPython.testing import globalipapp
    from IPython.utils.capture import capture_output

    globalipapp.start_ipython()  # a shell to display into (the global test shell, if no other test started it)
    est = estimate_job(batch_rows(80, seed=21), mode="offline")
    with capture_output() as captured:
        est._ipython_display_()
    card, chart = captured.outputs
    assert "text/html" in card.data and "≈" in card.data["text/html"] and "95 % interval" in card.data["text/html"]
    spec = chart.data[VEGALITE_MIME]
    assert spec["$schema"].endswith("vega-lite/v5.json")
    assert sum(b["requests"] for b in spec["data"]["values"]) == 80
    assert spec["layer"][0]["mark"]["type"] == "bar"
    assert "≈" in spec["layer"][0]["encoding"]["x"]["title"]
    svg = ET.fromstring(chart.data["image/svg+xml"])
    assert svg.tag.endswith("svg") and len([e for e in svg.iter() if e.tag.endswith("rect")]) == len(est.histogram)
    # HTML-only front ends get the card with the SVG inside
    assert "<svg" in est._repr_html_() and "≈" in repr(est)


def test_memory_stays_bounded_on_a_file_far_larger_than_the_budget(tmp_path: Path):
    """A file of about 120 MB through a fresh process: its peak memory may grow by at most 40 MB past what a
    small job already took (caches warm), in one process and with worker processes."""
    path = tmp_path / "big.jsonl"
    shared = text(__import__("random").Random(22), 1500)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(15_000):
            body = {"model": "claude-sonnet-5-5", "max_tokens": 64, "system": shared}
            body["messages"] = [{"role": "user", "content": f"question {i}: {shared[: 40 + i % 400]}"}]
            f.write(json.dumps({"custom_id": f"r{i}", "params": body}, ensure_ascii=False) + "\n")
    size = path.stat().st_size
    budget = 40 << 20
    assert size > 3 * budget
    script = textwrap.dedent(
        f"""
        import json, resource, sys
        from jupyter_token_count import estimate_job
        from itertools import islice
        with open({str(path)!r}) as f:
            estimate_job([json.loads(line) for line in islice(f, 500)], mode="offline", jobs=1)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        est = estimate_job({str(path)!r}, mode="offline", jobs=int(sys.argv[1]))
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(json.dumps({{"rows": est.requests, "growth": after - before}}))
        """
    )
    for jobs in ("1", "2"):
        p = subprocess.run([sys.executable, "-c", script, jobs], capture_output=True, text=True, timeout=240)
        assert p.returncode == 0, p.stderr
        out = json.loads(p.stdout)
        assert out["rows"] == 15_000
        assert out["growth"] < budget, f"jobs={jobs}: grew {out['growth'] >> 20} MB on a {size >> 20} MB file"


def test_worker_processes_give_the_same_job_as_one_process(tmp_path: Path):
    path = write_jsonl(tmp_path / "job.jsonl", batch_rows(3000, seed=23))
    one = estimate_job(path, mode="offline", jobs=1, seed=5).to_dict()
    two = estimate_job(path, mode="offline", jobs=2, seed=5).to_dict()
    assert two.pop("workers") == "2 processes" and one.pop("workers") == "this process"
    one.pop("elapsed_s"), two.pop("elapsed_s")
    assert one == two


def test_betas_travel_with_every_exact_count(api_env: StandIn):
    rows = batch_rows(12, seed=24)
    rows[2]["params"]["context_management"] = {"edits": [{"type": "clear_tool_uses_20250919"}]}
    est = estimate_job(rows, betas=["interleaved-thinking-2025-05-14"])
    assert est.exact and est.exact_sample == 12
    sent = api_env.count_requests()
    assert all("interleaved-thinking-2025-05-14" in r.headers.get("anthropic-beta", "") for r in sent)
    # the request that needs a beta for its own field gets it besides the job's
    [managed] = [r for r in sent if "context_management" in r.json]
    assert "context-management-2025-06-27" in managed.headers["anthropic-beta"]
    with pytest.raises(InputError, match="not a beta name"):
        estimate_job(rows, betas=["not a beta"])


def test_progress_in_a_notebook_is_one_line_updated_then_cleared():
    from IPython.testing import globalipapp
    from IPython.utils.capture import capture_output

    globalipapp.start_ipython()
    with capture_output() as captured:
        estimate_job(batch_rows(3000, seed=25), mode="offline", progress=True, jobs=1)
    lines = [o.data["text/plain"] for o in captured.outputs]
    assert len(lines) >= 2 and lines[-2] == "⏳ estimating offline: 3,000 of 3,000 requests" and lines[-1] == ""
    events: list[dict] = []
    estimate_job(batch_rows(10, seed=25), mode="offline", progress=events.append)
    assert events[-1] == {"phase": "estimating", "done": 10, "total": 10, "unit": "rows", "rows": 10}


def test_offline_interval_adds_up_the_requests_ranges():
    """Offline, the job's range is the sum of its requests' ranges (their errors are shared by the template, so
    they add up), widened from 90 % to 95 %: far wider than independent errors would give."""
    import math

    from jupyter_token_count.job.calibrate import Z90, Z95

    rows = batch_rows(300, seed=27)
    est = estimate_job(rows, mode="offline")
    counts = [count_tokens(r["params"], mode="offline") for r in rows]
    x = sum(c.input_tokens for c in counts)
    low, high = sum(c.low for c in counts), sum(c.high for c in counts)
    assert low < x < high  # the tool rows' estimates carry a range
    widen = Z95 / Z90
    assert est.input_tokens == x
    assert est.input_tokens_low == round(x - (x - low) * widen)
    assert est.input_tokens_high == round(x + (high - x) * widen)
    independent = widen * math.sqrt(sum((c.high - c.input_tokens) ** 2 for c in counts))
    assert est.input_tokens_high - x > 3 * independent
    assert est.cost_usd_low < est.cost_usd < est.cost_usd_high


# -- past the estimator's time limit (issue 22's deadline): rough rows widen the job's interval and are named -----
SLOW = "x" + "\n" * 400_000 + "x"  # linear, but seconds of tiling: past a short time limit, costed from its length


def rough_rows(n: int, slow: int) -> list[dict]:
    rows = batch_rows(n, seed=51)
    for r in rows[1 : 1 + slow]:
        r["params"]["messages"][0]["content"] = SLOW
    return rows


def test_rough_rows_offline_are_named_and_their_ranges_widen_the_interval():
    from jupyter_token_count.api import configure
    from jupyter_token_count.backends.offline import text as textmod

    textmod.clear_cache()
    configure(estimate_timeout=0.3)
    rows = rough_rows(30, slow=3)
    est = estimate_job(rows, mode="offline", jobs=1)
    assert est.rough_rows == 3 and est.rough == ["req-1", "req-2", "req-3"]
    rough = [count_tokens(r["params"], mode="offline") for r in rows[1:4]]
    assert all("rough" in (c.reason or "") for c in rough)  # each alone says so too
    # the job's interval holds each rough request's own (wide) range
    assert est.input_tokens_high - est.input_tokens >= sum(c.high - c.input_tokens for c in rough)
    assert est.input_tokens - est.input_tokens_low >= sum(c.input_tokens - c.low for c in rough)
    text = dict(est.lines())
    assert text["rough"].startswith("3 requests costed roughly from their length") and "'req-2'" in text["rough"]
    # the per-request note ("N characters … stopped after 0.3 s") is said once, as the rough line, not per row
    assert not any("rough:" in n for n in est.notes)
    assert "costed roughly" in est._repr_html_()


def test_rough_rows_not_counted_exactly_widen_a_calibrated_interval(api_env: StandIn):
    from jupyter_token_count.api import configure
    from jupyter_token_count.backends.offline import text as textmod

    textmod.clear_cache()
    configure(estimate_timeout=0.3)
    rows = rough_rows(200, slow=12)  # more rough rows than the heaviest counted (5): some keep their estimate
    est = estimate_job(rows, sample=20, seed=3, jobs=1)
    assert est.method == "calibrated" and est.rough_rows == 12
    counted = {h["id"] for h in est.heaviest if h["exact"]}
    uncounted = [r for r in rows[1:13] if r["custom_id"] not in counted]
    assert uncounted  # the case under test
    truth = true_total(rows)
    assert est.input_tokens_low <= truth <= est.input_tokens_high
    widths = [count_tokens(r["params"], mode="offline") for r in uncounted]
    # at least the uncounted rough rows' own ranges (the sample's line says nothing of a figure from a length)
    assert est.input_tokens_high - est.input_tokens >= sum(c.high - c.input_tokens for c in widths)
