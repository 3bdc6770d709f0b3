"""Job estimates from the shell (``jupyter-token-count estimate``, real subprocesses) and from a cell
(``%count_tokens --job``, a real IPython shell)."""

from __future__ import annotations

import html
import json
import os
import pty
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cli_run import cli
from IPython.core.interactiveshell import InteractiveShell
from IPython.testing import globalipapp
from jobdata import batch_rows, write_jsonl
from standin import StandIn, standin_count

from jupyter_token_count.job import JobEstimate
from jupyter_token_count.request import build_request

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"


# -- the command -------------------------------------------------------------------------------------------------
def test_estimate_a_batch_file_as_json(tmp_path: Path, key_env, standin: StandIn):
    rows = batch_rows(300, seed=41)
    path = write_jsonl(tmp_path / "batch.jsonl", rows)
    p = cli("estimate", str(path), "--sample", "30", "--seed", "2", "--json", env=key_env)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["requests"] == 300 and out["method"] == "calibrated" and out["seed"] == 2
    assert out["exact_sample"] == len(standin.count_requests()) >= 35
    assert out["input_tokens_low"] <= out["input_tokens"] <= out["input_tokens_high"]
    assert out["batch_cost_usd"] == pytest.approx(out["cost_usd"] / 2)
    truth = sum(standin_count(build_request(r["params"]).body) for r in rows)
    assert abs(out["input_tokens"] - truth) / truth < 0.05


def test_stdin_table_and_markdown(tmp_path: Path):
    text = "\n".join(json.dumps(r) for r in batch_rows(40, seed=42)) + "\n"
    p = cli("estimate", "-", "--offline", stdin=text)
    assert p.returncode == 0, p.stderr
    assert "input tokens" in p.stdout and "≈" in p.stdout and "stdin" in p.stdout and "batch" in p.stdout
    p = cli("estimate", "-", "--offline", "--format", "markdown", stdin=text)
    assert p.returncode == 0 and p.stdout.startswith("### ✅ Job estimate: ≈") and "| input cost |" in p.stdout


def test_bad_lines_exit_2_naming_them_and_the_rest_is_estimated(tmp_path: Path):
    path = tmp_path / "batch.jsonl"
    good = [json.dumps(r) for r in batch_rows(5, seed=43)]
    path.write_text("\n".join([*good[:2], "{oops", *good[2:]]) + "\n")
    p = cli("estimate", str(path), "--offline", "--json")
    assert p.returncode == 2
    assert "line 3: not valid JSON" in p.stderr
    out = json.loads(p.stdout)
    assert out["requests"] == 5 and out["bad_rows"] == 1
    p = cli("estimate", str(path), "--offline", "--strict")
    assert p.returncode == 2 and "line 3: not valid JSON" in p.stderr and p.stdout == ""


def test_max_cost_budget(tmp_path: Path):
    path = write_jsonl(tmp_path / "batch.jsonl", batch_rows(50, seed=44))
    p = cli("estimate", str(path), "--offline", "--max-cost", "0.0001")
    assert p.returncode == 1 and "over --max-cost $0.0001" in p.stderr
    assert cli("estimate", str(path), "--offline", "--max-cost", "1000", "--batch").returncode == 0
    p = cli("estimate", str(path), "--offline", "--batch")
    assert p.returncode == 2 and "--batch applies to --max-cost" in p.stderr
    for bad in ("nan", "inf", "-inf", "0", "-1", "1e999"):  # a budget must be finite and above 0 (issue 22)
        p = cli("estimate", str(path), "--offline", f"--max-cost={bad}")
        assert p.returncode == 2 and f"expected an amount in US dollars above 0, got {bad!r}" in p.stderr, bad


# -- reports show the data as written (issue 22's rules) -------------------------------------------------------
EVIL_NAME = "x` [click](https:evil.example) `y <img src=x onerror=alert(1)> \x1b[2J \u202e.jsonl"
EVIL_MODEL = "[click](https://evil.example)"
EVIL_ID = "a`b` [c](https:evil.example) <img src=x onerror=alert(1)> me@evil.example"


def evil_file(tmp_path: Path) -> Path:
    rows = batch_rows(3, seed=45)
    rows[1]["params"]["model"] = EVIL_MODEL  # a model id is any string in a request file
    rows[2]["custom_id"] = EVIL_ID  # refused (not a valid custom_id) and quoted in the error
    return write_jsonl(tmp_path / EVIL_NAME, rows)


def test_markdown_report_renders_names_ids_and_errors_as_text(tmp_path: Path):
    cmarkgfm = pytest.importorskip("cmarkgfm", reason="cmarkgfm (GitHub's markdown renderer) is a test dependency")
    path = evil_file(tmp_path)
    p = cli("estimate", str(path), "--offline", "--format", "markdown")
    assert p.returncode == 2, p.stderr  # the bad row
    rendered = cmarkgfm.github_flavored_markdown_to_html(p.stdout)
    assert "<a " not in rendered and "<img" not in rendered and "raw HTML" not in rendered, rendered
    assert "<em>" not in rendered
    shown = html.unescape(rendered)
    assert "\x1b" not in p.stdout and "\u202e" not in p.stdout
    as_written = EVIL_NAME.replace("\x1b", "\\x1b").replace("\u202e", "\\u202e")
    assert f"<code>{as_written}</code>" in shown  # the file's name is one code span
    assert EVIL_MODEL in shown and EVIL_ID in shown.replace("<code>@</code>", "@")  # as written


def test_terminal_report_shows_escape_codes_instead_of_sending_them(tmp_path: Path):
    path = evil_file(tmp_path)
    for env in ({}, {"FORCE_COLOR": "1", "COLUMNS": "200"}):  # piped, and as on a colour terminal
        p = cli("estimate", str(path), "--offline", env=env)
        assert p.returncode == 2
        for stream in (p.stdout, p.stderr):
            assert "\x1b[2J" not in stream and "\u202e" not in stream
            assert "\x1b" not in re.sub(r"\x1b\[[0-9;]*m", "", stream)  # the table's own colours only
        assert "\\x1b[2J" in p.stdout.replace("\n", "") and "\\u202e" in p.stdout.replace("\n", "")


def test_errors_of_the_whole_source(tmp_path: Path):
    p = cli("estimate", str(tmp_path / "missing.jsonl"))
    assert p.returncode == 2 and "no such file" in p.stderr
    p = cli("estimate")
    assert p.returncode == 2 and "FILE" in p.stderr
    (tmp_path / "empty.jsonl").write_text("")
    p = cli("estimate", str(tmp_path / "empty.jsonl"))
    assert p.returncode == 2 and "no requests" in p.stderr


def test_files_named_like_the_subcommand_are_still_counted(tmp_path: Path):
    """``estimate`` is a subcommand only as the first argument: a notebook called estimate.ipynb is counted as
    before, a file called ``estimate`` is counted as ./estimate, and a misplaced ``estimate`` is explained."""
    shutil.copy(next(iter(sorted(FIXTURES.glob("*.ipynb")))), tmp_path / "estimate.ipynb")
    p = cli("estimate.ipynb", "--offline", "--json", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["input"] == "estimate.ipynb" and json.loads(p.stdout)["input_tokens"] > 0
    (tmp_path / "estimate").write_text("A prompt in a file called estimate.")
    p = cli("./estimate", "--offline", "--json", cwd=tmp_path)
    assert p.returncode == 0 and json.loads(p.stdout)["input"] == "./estimate"
    p = cli("estimate", cwd=tmp_path)  # the subcommand, missing its FILE: says how to count the file instead
    assert p.returncode == 2 and "./estimate" in p.stderr
    (tmp_path / "estimate").unlink()
    p = cli("--offline", "estimate", cwd=tmp_path)
    assert p.returncode == 2 and "estimate comes first" in p.stderr
    assert "jupyter-token-count estimate batch.jsonl" in cli("--help").stdout


def test_progress_bar_on_a_terminal(tmp_path: Path):
    path = write_jsonl(tmp_path / "batch.jsonl", batch_rows(4000, seed=45))
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_token_count.cli", "estimate", str(path), "--offline", "-j", "1"],
        stdout=subprocess.PIPE,
        stderr=follower,
        env={**os.environ, "COLUMNS": "120", "TERM": "xterm"},
    )
    os.close(follower)
    seen = b""
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        seen += data
    out, _ = proc.communicate(timeout=120)
    os.close(leader)
    assert proc.returncode == 0
    assert b"estimating offline" in seen and b"of the file" in seen  # the bar, on the terminal only
    assert b"estimating" not in out and b"input tokens" in out


# -- the magic ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def _shell() -> InteractiveShell:
    shell = globalipapp.start_ipython() or globalipapp.get_ipython()  # the one global test shell
    shell.run_line_magic("load_ext", "jupyter_token_count")
    return shell


@pytest.fixture
def ip(_shell: InteractiveShell) -> InteractiveShell:
    for name in ("r", "rows", "df"):
        _shell.user_ns.pop(name, None)
    return _shell


def run(ip: InteractiveShell, code: str):
    res = ip.run_cell(code)
    assert res.error_before_exec is None and res.error_in_exec is None, (res.error_before_exec, res.error_in_exec)
    return res.result


def test_job_magic_on_a_file_taken_literally(ip, tmp_path: Path):
    path = write_jsonl(tmp_path / "my batch.jsonl", batch_rows(30, seed=46))
    r = run(ip, f"%count_tokens --job {path} --offline")
    assert isinstance(r, JobEstimate) and r.requests == 30 and r.method == "offline"


def test_job_magic_on_an_expression_with_options(ip, api_env: StandIn):
    import pandas as pd

    ip.user_ns["df"] = pd.DataFrame({"prompt": [f"Summarise ticket {i}: the parcel is late." for i in range(120)]})
    run(ip, "%count_tokens --job df['prompt'] --sample 12 --seed 5 -m claude-opus-4-8 --max-output-tokens 300 -o r -q")
    r = ip.user_ns["r"]
    assert r.model == "claude-opus-4-8" and r.seed == 5 and r.exact_sample == len(api_env.count_requests())
    assert r.output_tokens_max == 120 * 300
    assert all(sent.json["model"] == "claude-opus-4-8" for sent in api_env.count_requests())


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("%count_tokens --job", "--job needs its source"),
        ("%count_tokens --job no_such_thing", "no such file or variable: no_such_thing"),
        ("%count_tokens --sample 3 'hi'", "--sample apply to --job"),
        ("%%count_tokens --job\nhello", "--job is a line magic"),
        ("%count_tokens --job ['a'] --sample -1", "sample: must be a whole number"),
        ("%count_tokens --job ['a'] -s 'Be brief'", "do not apply to --job"),
    ],
)
def test_job_magic_errors_are_one_line(ip, capsys, code, expected):
    capsys.readouterr()
    ip.run_cell(code)
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
    assert run(ip, "1 + 1") == 2


def test_job_magic_uses_the_configured_default_model_for_rows_without_one(ip):
    ip.run_line_magic("config", "TokenCountMagics.model = 'claude-opus-4-8'")
    try:
        ip.user_ns["rows"] = ["Hello", {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "Hi"}]}]
        r = run(ip, "%count_tokens --job rows --offline")
        assert set(r.models) == {"claude-opus-4-8", "claude-haiku-4-5"}
    finally:
        ip.run_line_magic("config", "TokenCountMagics.model = 'claude-sonnet-5-5'")
