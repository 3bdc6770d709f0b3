"""``%count_tokens`` / ``%%count_tokens`` in a real IPython shell."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.testing import globalipapp
from standin import StandIn, standin_count

from jupyter_token_count.result import TokenCount


@pytest.fixture(scope="module")
def _shell() -> InteractiveShell:
    # the one global test shell: started here, or by an earlier test module (start_ipython then returns None)
    shell = globalipapp.start_ipython() or globalipapp.get_ipython()
    shell.run_line_magic("load_ext", "jupyter_token_count")
    return shell


@pytest.fixture
def ip(_shell: InteractiveShell) -> InteractiveShell:
    for name in ("r", "x", "msgs", "sys_prompt", "tools", "req"):
        _shell.user_ns.pop(name, None)
    _shell.run_line_magic("config", "TokenCountMagics.model = 'claude-sonnet-4-5'")
    return _shell


def run(ip: InteractiveShell, code: str):
    res = ip.run_cell(code)
    assert res.error_before_exec is None and res.error_in_exec is None, (res.error_before_exec, res.error_in_exec)
    return res.result


def test_cell_magic_counts_the_cell_with_a_system_prompt(ip, api_env: StandIn):
    run(ip, "%%count_tokens -s 'You are a scientist' -o r -q\nHello, Claude")
    r = ip.user_ns["r"]
    assert isinstance(r, TokenCount) and r.exact
    [sent] = api_env.count_requests()
    assert sent.json == {
        "model": "claude-sonnet-4-5",
        "system": "You are a scientist",
        "messages": [{"role": "user", "content": "Hello, Claude"}],
    }
    assert r.input_tokens == standin_count(sent.json)


def test_system_may_be_a_variable_and_model_an_option(ip, api_env: StandIn):
    ip.user_ns["sys_prompt"] = "Be terse."
    run(ip, "%%count_tokens -s sys_prompt -m claude-opus-4-8 -o r -q\nWhy is the sky blue?")
    assert api_env.count_requests()[0].json["system"] == "Be terse."
    assert ip.user_ns["r"].model == "claude-opus-4-8"


def test_json_cell_and_tools_expression(ip, api_env: StandIn):
    ip.user_ns["tools"] = [{"name": "calc", "description": "math", "input_schema": {"type": "object"}}]
    run(
        ip,
        "%%count_tokens --json --tools tools -o r -q\n"
        '{"model": "claude-haiku-4-5", "max_tokens": 50, "messages": [{"role": "user", "content": "2+2?"}]}',
    )
    body = api_env.count_requests()[0].json
    assert body["model"] == "claude-haiku-4-5" and body["tools"][0]["name"] == "calc" and "max_tokens" not in body


def test_line_magic_returns_the_result_of_an_expression(ip):
    ip.user_ns["msgs"] = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    run(ip, "x = %count_tokens msgs --offline")
    x = ip.user_ns["x"]
    assert isinstance(x, TokenCount) and not x.exact and x.reason == "offline mode"


def test_line_magic_counts_a_notebook_path(ip, tmp_path: Path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# A prompt")]
    p = tmp_path / "n.ipynb"
    nbformat.write(nb, p)
    ip.user_ns["nb_path"] = str(p)
    run(ip, "x = %count_tokens --notebook nb_path --offline")
    assert ip.user_ns["x"].input_tokens > 0


def test_configured_mode_applies(ip, api_env: StandIn, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("JUPYTER_TOKEN_COUNT_MODE", "offline")  # what count_tokens() follows too
    run(ip, "x = %count_tokens 'hi'")
    assert ip.user_ns["x"].reason == "offline mode" and not api_env.count_requests()
    run(ip, "x = %count_tokens 'hi' --api")  # an explicit flag wins
    assert ip.user_ns["x"].exact


def test_display_shows_estimate_mark(ip, capsys):
    ip.user_ns.pop("r", None)
    ip.run_cell("%%count_tokens --offline\nHello")
    out = capsys.readouterr().out
    assert "≈" in out and "estimate: offline mode" in out


@pytest.mark.parametrize(
    "code,expected",
    [
        ("%count_tokens undefined_variable", "name 'undefined_variable' is not defined"),
        ("%count_tokens [{'role': 'robot', 'content': 'x'}]", "messages[0].role: unknown role 'robot'"),
        ("%%count_tokens --json\n[{'role': 'user'", "the cell is not valid JSON (line 1"),
        ("%%count_tokens\n   ", "the cell is empty"),
        ("%count_tokens", "nothing to count"),
        ("%count_tokens 'x' --offline --api", "choose one of --offline and --api"),
        ("%count_tokens --nope", "unrecognized arguments: --nope"),
        ("%count_tokens 'x' --mode offline", "unrecognized arguments: --mode"),  # not --model, abbreviated
        ("%count_tokens 'x' --off", "unrecognized arguments: --off"),
        ("%%count_tokens --tools not_defined\nhi", "--tools: name 'not_defined' is not defined"),
        ("%count_tokens Path('/nonexistent/file.pdf')", "file '/nonexistent/file.pdf': no such file"),
        (
            "%count_tokens [{'role': 'user', 'content': ['Look:', Path('/nonexistent/chart.png')]}]",
            "messages[0].content[1], file '/nonexistent/chart.png': no such file",
        ),
        ("%count_tokens 'x' --api", "mode 'api' needs an API key"),
        ("%count_tokens 'x' \"unclosed --offline", "the line cannot be read (No closing quotation)"),
        ("%count_tokens 'x' -o 5 --offline", "-o/--output: '5' is not a Python variable name"),
        ("%count_tokens 'x' -o import --offline", "-o/--output: 'import' is not a Python variable name"),
    ],
)
def test_errors_are_one_line_and_the_kernel_stays_usable(ip, capsys, code, expected):
    ip.run_cell("from pathlib import Path")
    capsys.readouterr()
    res = ip.run_cell(code)
    assert res.error_in_exec is None and res.error_before_exec is None  # no exception reached the user
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("count_tokens: ") and expected in lines[0], err
    assert "Traceback" not in err
    assert run(ip, "1 + 1") == 2


def test_a_quoted_output_name_is_the_name(ip):
    # IPython keeps an option's quotes: the result went to a variable named "'r'", which no one can write
    run(ip, "%count_tokens 'Hello' --offline -o 'r' -q")
    assert isinstance(ip.user_ns.get("r"), TokenCount) and "'r'" not in ip.user_ns


def test_help_is_real(ip):
    doc = ip.find_cell_magic("count_tokens").__doc__
    for option in ("--model", "--system", "--tools", "--json", "--offline", "--api", "--output", "--quiet", "--widget"):
        assert option in doc
    assert "Hello, Claude" in doc  # teaches by example


def test_default_model_from_config(ip):
    run(ip, "%config TokenCountMagics.model = 'claude-opus-4-7'")
    run(ip, "x = %count_tokens 'hi' --offline")
    assert ip.user_ns["x"].model == "claude-opus-4-7"


def test_unknown_model_offline_warns_and_with_a_key_is_an_error(ip, capsys, api_env: StandIn):
    capsys.readouterr()
    run(ip, "%count_tokens 'Hello' -m claude-sonet-4-5 --offline -o r -q")
    assert ip.user_ns["r"].warnings and "did you mean 'claude-sonnet-4-5'" in capsys.readouterr().err
    ip.user_ns.pop("r", None)
    run(ip, "%count_tokens 'Hello' -m claude-sonet-4-5 -o r -q")  # the key's model list is asked: an error
    err = capsys.readouterr().err
    assert "r" not in ip.user_ns and "unknown model 'claude-sonet-4-5'" in err and "GET /v1/models" in err
    assert "Traceback" not in err and not api_env.count_requests()


def test_notebook_path_is_taken_literally(ip, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``--notebook PATH`` as the help says: ``demo.ipynb`` is a file name, not Python (``demo.ipynb`` would
    be an attribute lookup on a variable ``demo``)."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# A prompt about demos")]
    nbformat.write(nb, tmp_path / "demo.ipynb")
    (tmp_path / "my notes.ipynb").write_text((tmp_path / "demo.ipynb").read_text())
    monkeypatch.chdir(tmp_path)
    run(ip, "x = %count_tokens --notebook demo.ipynb --offline")
    first = ip.user_ns["x"].input_tokens
    assert first > 0
    run(ip, "x = %count_tokens --notebook 'my notes.ipynb' --offline")
    assert ip.user_ns["x"].input_tokens == first
    res = ip.run_cell("%count_tokens --notebook missing.ipynb --offline")
    assert res.error_in_exec is None  # a clear message, not a traceback


def test_notebook_magic_counts_the_same_request_as_the_ui(ip, api_env: StandIn, tmp_path: Path, monkeypatch):
    """``%count_tokens --notebook`` sends the one request the server's total is (request.notebook_request)."""
    from jupyter_token_count.request import load_notebook, notebook_request

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Brief\nSummarise the report."), nbformat.v4.new_code_cell("x = 1")]
    nbformat.write(nb, tmp_path / "brief.ipynb")
    monkeypatch.chdir(tmp_path)
    run(ip, "x = %count_tokens --notebook brief.ipynb -m claude-sonnet-4-5")
    [sent] = api_env.count_requests()
    expected = notebook_request(load_notebook((tmp_path / "brief.ipynb").read_text()), model="claude-sonnet-4-5")
    assert sent.json == expected.body
    assert ip.user_ns["x"].exact and ip.user_ns["x"].input_tokens == standin_count(expected.body)


# -- betas ---------------------------------------------------------------------------------------------------
EDITED = {
    "model": "claude-sonnet-4-5",
    "messages": [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t0", "name": "w", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t0", "content": "sunny " * 80}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "w", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "rainy " * 80}]},
    ],
    "tools": [{"name": "w", "description": "weather", "input_schema": {"type": "object"}}],
    "context_management": {
        "edits": [
            {
                "type": "clear_tool_uses_20250919",
                "trigger": {"type": "input_tokens", "value": 50},
                "keep": {"type": "tool_uses", "value": 1},
            }
        ]
    },
}


def test_a_request_with_context_editing_is_exact_with_a_key(ip, capsys, api_env: StandIn):
    ip.user_ns["req"] = EDITED
    capsys.readouterr()
    run(ip, "%count_tokens req --beta interleaved-thinking-2025-05-14 -o r")
    r = ip.user_ns["r"]
    sent = api_env.count_requests()[-1]
    assert sent.headers["anthropic-beta"] == (
        "context-management-2025-06-27,interleaved-thinking-2025-05-14,token-counting-2024-11-01"
    )
    assert r.exact and r.original_input_tokens == standin_count(sent.json) > r.input_tokens
    assert f"after context editing, {r.original_input_tokens:,} before" in capsys.readouterr().out


def test_a_request_with_context_editing_is_an_estimate_without_a_key(ip, capsys):
    ip.user_ns["req"] = EDITED
    capsys.readouterr()
    run(ip, "%count_tokens req -o r")
    r = ip.user_ns["r"]
    assert not r.exact and "no API key" in r.reason and "context editing (context_management)" in r.reason
    assert "≈" in capsys.readouterr().out


def test_an_unknown_beta_is_one_line_naming_it(ip, capsys, api_env: StandIn):
    capsys.readouterr()
    ip.run_cell("%%count_tokens --beta context-managment-2025-06-27\nHello")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("count_tokens: 400 invalid_request_error: Unexpected value(s) `context-managment-2025-06-27`")
    ip.run_cell("%%count_tokens --beta 'not a beta'\nHello")  # a name that cannot be one: refused before sending
    assert "betas[0]: 'not a beta' is not a beta name" in capsys.readouterr().err
    assert len(api_env.count_requests()) == 1


def test_count_calls_refuses_budgets_that_are_not_finite_positive_numbers(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
):
    """Issue 22: ``--budget-usd nan`` was taken ("budget $nan") and then nothing was ever stopped."""
    from jupyter_token_count import stop_metering

    try:
        for value in ("nan", "inf", "-inf", "0", "-1", "1e400"):
            for option in ("--budget-usd", "--budget-tokens"):
                ip.run_line_magic("count_calls", f"on {option} {value}")
                captured = capsys.readouterr()
                # -inf reads as an option: "expected one argument"; the others "expected ... above 0"
                assert f"argument {option}: expected" in captured.err, (option, value, captured.err)
                assert "count_calls: on" not in captured.out
        ip.run_line_magic("count_calls", "on --budget-usd 0.25")
        assert "budget $0.25 for this session" in capsys.readouterr().out
    finally:
        stop_metering()
