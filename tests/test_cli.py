"""The ``jupyter-token-count`` command: real subprocesses, exit codes, output formats."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from cli_run import cli
from media import image_bytes
from standin import StandIn, standin_count

from jupyter_token_count.cli import build_parser

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"


def test_stdin_text_json_output(key_env, standin: StandIn):
    p = cli("--json", "-m", "claude-opus-4-8", stdin="Hello, Claude\n", env=key_env)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    [sent] = standin.count_requests()
    assert sent.json == {"model": "claude-opus-4-8", "messages": [{"role": "user", "content": "Hello, Claude\n"}]}
    assert out["input_tokens"] == standin_count(sent.json) and out["exact"] is True and out["input"] == "stdin"
    assert set(out) >= {"input_tokens", "exact", "source", "model", "reason", "cost_usd", "context_window"}


def test_several_models_side_by_side_offline(tmp_path: Path):
    prompt = tmp_path / "prompt.md"
    prompt.write_text("Explain the difference between a list and a tuple in Python, with an example.")
    p = cli(str(prompt), "-m", "claude-opus-4-8", "-m", "claude-sonnet-4-6", "--json")
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)
    assert [r["model"] for r in rows] == ["claude-opus-4-8", "claude-sonnet-4-6"]
    assert all(r["exact"] is False and "no API key" in r["reason"] for r in rows)
    table = cli(str(prompt), "-m", "claude-opus-4-8", "-m", "claude-sonnet-4-6", cwd=tmp_path)
    assert "≈" in table.stdout and "vs first" in table.stdout and "prompt.md" in table.stdout
    assert "estimate: no API key" in table.stdout


def test_request_file_keeps_its_model_and_messages_flags(tmp_path: Path, key_env, standin: StandIn):
    req = tmp_path / "req.json"
    req.write_text(
        json.dumps({"model": "claude-haiku-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]})
    )
    p = cli(str(req), "--json", env=key_env)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["model"] == "claude-haiku-4-5"
    tool = json.dumps({"name": "t", "input_schema": {"type": "object"}})
    p = cli(
        "--message", '{"role": "user", "content": "Hi"}', "--system", "Be brief", "--tool", tool, "--json", env=key_env
    )
    assert p.returncode == 0, p.stderr
    body = standin.count_requests()[-1].json
    assert body["system"] == "Be brief" and body["tools"][0]["name"] == "t"


def test_per_cell_table_and_json(tmp_path: Path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Summarise the quarterly report"),
        nbformat.v4.new_code_cell(""),
        nbformat.v4.new_code_cell("prompt = 'Write a haiku about tokens'"),
    ]
    path = tmp_path / "work.ipynb"
    nbformat.write(nb, path)
    p = cli(str(path), "--per-cell", "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    per = out["per_cell"]
    assert [c["tokens"] > 0 for c in per["cells"]] == [True, False, True]
    # the total is the notebook counted as one request (the file's own count); the rows add up to it
    assert per["total"] == out["input_tokens"]
    assert per["total"] == per["joins_and_frame"] + sum(c["tokens"] for c in per["cells"])
    assert per["joins_and_frame"] > 0
    table = cli(str(path), "--per-cell")
    assert "Summarise the quarterly report" in table.stdout and "joins+frame" in table.stdout


def test_include_outputs_counts_more(tmp_path: Path):
    nb = FIXTURES / "multimodal_getting_started_with_vision.ipynb"
    without = json.loads(cli(str(nb), "--json", "--no-outputs").stdout)["input_tokens"]
    with_out = json.loads(cli(str(nb), "--json", "--include-outputs").stdout)["input_tokens"]
    assert with_out > without + 500  # the notebook's image outputs are counted as images


def test_budget_exit_code(tmp_path: Path):
    f = tmp_path / "p.txt"
    f.write_text("word " * 200)
    assert cli(str(f), "--budget", "100000").returncode == 0
    over = cli(str(f), "--budget", "10")
    assert over.returncode == 1 and "over the budget of 10" in over.stderr


def test_strict_budgets_compare_the_top_of_the_range(tmp_path: Path, key_env, standin: StandIn):
    # tools on a model whose tool prompt rests on no count: a wide range above the estimate
    f = tmp_path / "request.json"
    tool = {"name": "lookup", "description": "Look a word up", "input_schema": {"type": "object"}}
    f.write_text(
        json.dumps({"model": "claude-fable-5-2", "tools": [tool], "messages": [{"role": "user", "content": "Hi"}]})
    )
    est = json.loads(cli(str(f), "--json").stdout)
    assert est["exact"] is False and est["low"] <= est["input_tokens"] < est["high"]
    budget = str(est["input_tokens"])  # the estimate is within it, its upper end is not
    assert cli(str(f), "--max-tokens", budget).returncode == 0
    strict = cli(str(f), "--max-tokens", budget, "--strict")
    assert strict.returncode == 1
    assert f"likely up to {est['high']:,}" in strict.stderr and f"over the budget of {int(budget):,}" in strict.stderr
    rows = list(csv.DictReader(io.StringIO(cli(str(f), "--format", "csv", "--max-tokens", budget, "--strict").stdout)))
    assert rows[0]["low"] == str(est["low"]) and rows[0]["high"] == str(est["high"])
    assert rows[0]["status"] == "over_budget" and "(strict)" in rows[0]["note"]
    # an exact count is its own upper end: --strict changes nothing
    exact = json.loads(cli(str(f), "--json", env=key_env).stdout)
    assert exact["exact"] is True and exact["low"] == exact["high"] == exact["input_tokens"]
    at = str(exact["input_tokens"])
    assert cli(str(f), "--max-tokens", at, "--strict", env=key_env).returncode == 0


def test_strict_from_pyproject(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text("[tool.jupyter-token-count]\nstrict = true\nmax-tokens = 1\n")
    (tmp_path / "p.txt").write_text("Hello")
    p = cli("p.txt", "--format", "markdown", cwd=tmp_path)
    assert p.returncode == 1 and "`--strict`" in p.stdout


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        (b"tool = 5\n# jupyter-token-count\n", "[tool.jupyter-token-count] must be a table of options"),
        (b"[tool]\njupyter-token-count = 5\n", "[tool.jupyter-token-count] must be a table of options"),
        (b"[tool.jupyter-token-count]\nstrict = true\n# caf\xe9\n", "cannot be read as TOML ('utf-8' codec"),
        (b'[tool.jupyter-token-count]\nmodel = ""\n', "model must be a non-empty string or a list of them"),
    ],
)
def test_a_pyproject_that_cannot_be_used_is_one_line_naming_it(tmp_path: Path, toml: bytes, expected: str):
    """Each was a traceback (AttributeError, UnicodeDecodeError) or, for the empty model, a line not naming the file."""
    (tmp_path / "pyproject.toml").write_bytes(toml)
    (tmp_path / "p.txt").write_text("Hello")
    p = cli("p.txt", "--offline", cwd=tmp_path)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(lines) == 1, p.stderr
    assert lines[0].startswith(f"jupyter-token-count: {tmp_path / 'pyproject.toml'}: ") and expected in lines[0]


@pytest.mark.parametrize(
    "args,stdin,expected",
    [
        (["missing.ipynb"], None, "file 'missing.ipynb': no such file"),
        (["--message", "{not json"], None, "--message 1: invalid JSON"),
        (["--tool", "[1"], "hi", "--tool 1: invalid JSON"),
        (["-"], '[{"role": "robot", "content": "x"}]', "stdin: messages[0].role: unknown role 'robot'"),
        (["-"], "[{]", "stdin: looks like JSON but is invalid"),
        (["-"], "   ", "stdin: empty"),
        (["-m", "", "-"], "hi", "model: model must be a non-empty string"),  # was a traceback
    ],
)
def test_bad_input_exits_2_with_one_line(args, stdin, expected, tmp_path: Path):
    p = cli(*args, stdin=stdin, cwd=tmp_path)
    assert p.returncode == 2, (p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0] and "Traceback" not in p.stderr


def test_bad_cell_is_named(tmp_path: Path):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("plot()")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": "!!!"})]
    nb.cells = [cell]
    path = tmp_path / "bad.ipynb"
    nbformat.write(nb, path)
    p = cli(str(path), "--include-outputs")
    assert p.returncode == 2 and "bad.ipynb" in p.stderr and "cell 1" in p.stderr and "output 1" in p.stderr


def test_bad_image_file_is_named(tmp_path: Path):
    fake = tmp_path / "chart.png"
    fake.write_bytes(b"GIF89a-but-truncated")
    p = cli(str(fake))
    assert p.returncode == 2 and "chart.png" in p.stderr and "corrupt" in p.stderr


def test_a_bad_file_in_a_message_is_named_with_its_place(tmp_path: Path):
    """A file a message refers to: the line names the input, the message and part, then the file."""
    fake = tmp_path / "chart.png"
    fake.write_bytes(b"not an image")
    msgs = [{"role": "user", "content": "Hi"}, {"role": "user", "content": ["Look:", str(fake)]}]
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"messages": msgs}))
    problem = f"file '{fake}': named like an image (.png) but its bytes are not PNG, JPEG, GIF or WebP"
    for args, stdin, expected in (
        ([str(request)], None, f"file '{request}', messages[1].content[1], {problem}"),
        (["-"], json.dumps(msgs), f"stdin: messages[1].content[1], {problem}"),
        ([f"--message={json.dumps(m)}" for m in msgs], None, f"--message: messages[1].content[1], {problem}"),
    ):
        p = cli(*args, "--offline", stdin=stdin, cwd=tmp_path)
        assert p.returncode == 2, (p.stdout, p.stderr)
        assert p.stderr.strip().splitlines() == [f"jupyter-token-count: {expected}"]


def test_a_binary_file_is_named_with_what_a_file_must_be(tmp_path: Path):
    (tmp_path / "data.bin").write_bytes(b"\x00\x01\x02 binary")
    p = cli("data.bin", "--offline", cwd=tmp_path)
    assert p.returncode == 2 and p.stderr.strip().splitlines() == [
        "jupyter-token-count: file 'data.bin': a binary file (it holds NUL bytes), not text; "
        "expected UTF-8 text, a PNG, JPEG, GIF or WebP image, or a PDF"
    ]


def test_api_errors_exit_3_and_never_show_the_key(key_env, standin: StandIn, tmp_path: Path):
    # (an id nobody knows never reaches count_tokens: see test_batch's unknown-model tests)
    standin.fail_next(404, message="model: claude-opus-4-8 is not available to this organization")
    p = cli("--api", "-m", "claude-opus-4-8", stdin="hi", env=key_env)
    assert p.returncode == 3 and "model: claude-opus-4-8 is not available" in p.stderr
    assert standin.api_key not in p.stderr + p.stdout
    p = cli("--api", stdin="hi", cwd=tmp_path)  # no key at all
    assert p.returncode == 3 and "needs an API key" in p.stderr


def test_bad_mode_in_the_environment_exits_3_with_one_line(tmp_path: Path):
    p = cli(stdin="hi", env={"JUPYTER_TOKEN_COUNT_MODE": "fast"}, cwd=tmp_path)
    assert p.returncode == 3 and "Traceback" not in p.stderr
    assert (
        p.stderr.strip()
        == "jupyter-token-count: $JUPYTER_TOKEN_COUNT_MODE must be one of auto, api, offline, not 'fast'"
    )


def test_many_files_and_image(tmp_path: Path):
    img = tmp_path / "pic.jpg"
    img.write_bytes(image_bytes("JPEG", (1000, 1000)))
    files = [str(p) for p in sorted(FIXTURES.glob("*.ipynb"))] + [str(img)]
    p = cli(*files, "--json")
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)
    assert len(rows) == len(files) and all(r["input_tokens"] > 0 for r in rows)


def test_help_teaches_by_example():
    text = build_parser().format_help()
    assert "examples:" in text and "--per-cell" in text and "exit status" in text and "| jupyter-token-count" in text


def test_jupyter_subcommand_is_wired():
    # `jupyter token-count` finds the `jupyter-token-count` script installed next to jupyter
    exe = Path(sys.executable).parent / "jupyter-token-count"
    if not exe.exists():
        pytest.fail(f"{exe} is missing: the package is not installed with its console script")
    p = subprocess.run(
        [str(Path(sys.executable).parent / "jupyter"), "token-count", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0 and "jupyter-token-count" in p.stdout


# -- betas ---------------------------------------------------------------------------------------------------
STRUCTURED = {
    "model": "claude-opus-4-8",
    "max_tokens": 256,
    "messages": [{"role": "user", "content": "Extract the invoice number."}],
    "output_format": {"type": "json_schema", "schema": {"type": "object", "properties": {"n": {"type": "string"}}}},
}


def test_a_request_with_output_format_is_exact_with_a_key(key_env, standin: StandIn, tmp_path: Path):
    req = tmp_path / "request.json"
    req.write_text(json.dumps({**STRUCTURED, "betas": ["interleaved-thinking-2025-05-14"]}))
    p = cli(str(req), "--json", "--beta", "context-1m-2025-08-07", env=key_env)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    [sent] = standin.count_requests()
    assert sent.headers["anthropic-beta"] == (
        "context-1m-2025-08-07,interleaved-thinking-2025-05-14,structured-outputs-2025-11-13,token-counting-2024-11-01"
    )
    assert sent.json["output_format"] == STRUCTURED["output_format"] and "betas" not in sent.json
    assert out["exact"] is True and out["input_tokens"] == standin_count(sent.json)


def test_a_request_with_output_format_is_an_estimate_without_a_key(tmp_path: Path):
    req = tmp_path / "request.json"
    req.write_text(
        json.dumps({**STRUCTURED, "mcp_servers": [{"type": "url", "name": "d", "url": "https://m.example"}]})
    )
    p = cli(str(req), "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["exact"] is False and out["reason"].startswith("no API key")
    assert "the tools of the MCP servers (mcp_servers) are not counted" in out["reason"]
    table = cli(str(req))
    assert "≈" in table.stdout and "mcp_servers" in table.stdout


def test_an_unknown_beta_is_one_line_naming_it(key_env, standin: StandIn):
    p = cli("--beta", "context-managment-2025-06-27", "--json", stdin="Hello", env=key_env)
    assert p.returncode == 2  # the API rejected the request: bad input, as every 400
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in p.stderr
    assert "Unexpected value(s) `context-managment-2025-06-27` for the `anthropic-beta` header" in lines[0]
    bad = cli("--beta", "two words", stdin="Hello", env=key_env)
    assert bad.returncode == 2 and "--beta[0]: 'two words' is not a beta name" in bad.stderr
    assert len(standin.count_requests()) == 1


def test_context_editing_shows_the_count_before_the_edits(key_env, standin: StandIn, tmp_path: Path):
    from test_magics import EDITED

    req = tmp_path / "edited.json"
    req.write_text(json.dumps(EDITED))
    out = json.loads(cli(str(req), "--json", env=key_env).stdout)
    before = standin_count(standin.count_requests()[-1].json)
    assert out["exact"] and out["original_input_tokens"] == before > out["input_tokens"]
    table = cli(str(req), env=key_env).stdout
    assert f"after context editing, {before:,} before" in table
    assert f"after context editing, {before:,} before" in cli(str(req), "--format", "csv", env=key_env).stdout


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ([], 0),
        (["--json"], 0),
        (["-f", "csv"], 0),
        (["-f", "markdown"], 0),
        (["--max-tokens", "1"], 1),  # the budget's verdict survives a reader that left
        (["--json", "--max-tokens", "1"], 1),
        (["estimate", "BATCH", "--offline"], 0),
        (["estimate", "BATCH", "--offline", "--json"], 0),
    ],
)
def test_a_reader_that_stops_reading_is_no_traceback(args, code, tmp_path: Path):
    """`jupyter-token-count nb.ipynb --json | head -1`: stdout closes before the report is written. The report is
    dropped quietly, and the exit status is still the count's (not 1, "over budget", nor a traceback)."""
    (tmp_path / "prompt.txt").write_text("Hello, Claude\n")
    batch = tmp_path / "batch.jsonl"
    request = {"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    batch.write_text(json.dumps({"custom_id": "a", "params": request}) + "\n")
    args = [str(batch) if a == "BATCH" else a for a in args]
    argv = args if args[:1] == ["estimate"] else ["prompt.txt", *args]
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody reads: the first write fails with EPIPE
    try:
        p = subprocess.run(
            [sys.executable, "-m", "jupyter_token_count.cli", *argv],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
            cwd=tmp_path,
            # buffered as a user's stdout is (not PYTHONUNBUFFERED): the write may fail only at the last flush
            env={k: v for k, v in os.environ.items() if k not in ("ANTHROPIC_API_KEY", "PYTHONUNBUFFERED")},
        )
    finally:
        os.close(write_end)
    assert not any(s in p.stderr for s in ("Traceback", "BrokenPipe", "Exception ignored")), p.stderr
    assert p.returncode == code, p.stderr


def test_the_help_s_jq_example_works_on_a_folder_of_one_notebook(tmp_path: Path):
    """The --help example piping --json into `jq '.[]…'` must get an array, also where the folder holds one notebook
    (a glob of one file gives one object, on which `.[].input_tokens` fails)."""
    import glob
    import shlex

    line = next(x for x in build_parser().format_help().splitlines() if "--json | jq" in x)
    command, _, jq = line.strip().partition(" | ")
    assert jq.startswith("jq '.[]")
    folder = tmp_path / "notebooks"
    folder.mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Hi")]), folder / "a.ipynb")
    argv = [m for a in shlex.split(command)[1:] for m in (sorted(glob.glob(a, root_dir=tmp_path)) or [a])]
    p = cli(*argv, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)
    assert isinstance(rows, list) and [r["input"] for r in rows] == ["notebooks/a.ipynb"]
