"""Where ctok is missing (a pip install on Python 3.10/3.11: ctok declares Python >= 3.12), estimates come from
the coarse characters-per-token heuristic. Every surface that shows an estimate must say so, not only
``detail['notes']``: the reason (repr, HTML card, CLI table footer, --json, CSV, markdown, the server's answers
that the status bar and badge tooltips show, the call meter's line).

The heuristic is reached two ways here: ``JUPYTER_TOKEN_COUNT_ESTIMATOR=fallback`` (what a user can set), and
ctok made unimportable, which is what a user below 3.12 has."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest
from standin import StandIn

from jupyter_token_count import count_tokens
from jupyter_token_count.backends.offline import text as textmod
from jupyter_token_count.cli import main
from jupyter_token_count.counter import Counter

M = "claude-sonnet-4-5"
COARSE = "coarse estimator"


@pytest.fixture
def forced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(textmod.ENV_VAR, "fallback")


@pytest.fixture
def no_ctok(monkeypatch: pytest.MonkeyPatch) -> None:
    """ctok as a pip user below Python 3.12 has it: not importable."""
    monkeypatch.setitem(textmod._ctok_state, "mod", None)


def test_without_ctok_the_reason_names_the_python_version_and_the_cost(no_ctok: None):
    res = count_tokens("Hello, Claude", model=M)
    assert not res.exact and not textmod.using_ctok()
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    if sys.version_info < (3, 12):
        assert f"needs Python ≥ 3.12 (this is {here})" in res.reason
    else:
        assert "is not installed" in res.reason
    assert res.reason.startswith("no API key") and "about ±10%" in res.reason
    assert res.detail["estimator"].startswith("fallback")


def test_python_surfaces_name_the_coarse_estimator(forced: None):
    res = count_tokens("Hello, Claude", system="You are a scientist", model=M)
    assert not res.exact and res.source == "offline"
    assert COARSE in res.reason and f"{textmod.ENV_VAR}=fallback" in res.reason
    assert res.reason.count(COARSE) == 1  # named once, however many layers the estimate went through
    assert COARSE in repr(res)
    assert COARSE in res.summary()
    assert COARSE in res._repr_html_()
    assert COARSE in res.to_dict()["reason"]


def test_with_ctok_nothing_is_added():
    if not textmod.using_ctok():
        pytest.skip("ctok is not importable on this Python: every estimate is the coarse one")
    res = count_tokens("Hello, Claude", model=M)
    assert COARSE not in (res.reason or "") and res.detail["estimator"].startswith("ctok")


def test_cli_table_json_csv_and_markdown_name_it(forced: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    prompt = tmp_path / "system.md"
    prompt.write_text("You are a careful analyst. Cite the rows you use.\n")
    nb = tmp_path / "empty.ipynb"
    nb.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))

    assert main([str(prompt), str(nb), "-m", M]) == 0
    table = capsys.readouterr().out
    footer = [line for line in table.splitlines() if line.startswith("≈ estimate:")]
    assert len(footer) == 1 and COARSE in footer[0]  # one footer line for all rows

    assert main([str(prompt), "-m", M, "--json"]) == 0
    assert COARSE in json.loads(capsys.readouterr().out)["reason"]
    assert main([str(prompt), "-m", M, "--format", "csv"]) == 0
    assert COARSE in capsys.readouterr().out
    assert main([str(prompt), "-m", M, "--format", "markdown"]) == 0
    assert COARSE in capsys.readouterr().out


def test_cell_shares_name_it_too(forced: None, counter: Counter):
    from jupyter_token_count.cells import count_cells
    from jupyter_token_count.request import Cell

    cells = [Cell("a", "markdown", "# Title\nSome prose."), Cell("b", "code", "x = 1", index=1)]
    result = count_cells(counter, cells, M, mode="offline")
    assert not result.exact and COARSE in result.reason
    assert all(not c.exact and COARSE in c.reason for c in result.cells)


def test_the_call_meter_line_names_it(forced: None, standin: StandIn, capsys: pytest.CaptureFixture[str]):
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
    assert rec.exact is False and COARSE in rec.count_note
    assert COARSE in capsys.readouterr().err  # the line as printed outside a kernel


def test_a_job_estimate_without_ctok_gives_the_real_reason_and_leaves_the_environment_alone(
    no_ctok: None, monkeypatch: pytest.MonkeyPatch
):
    """estimate_job told its in-process scan to use the fallback by setting JUPYTER_TOKEN_COUNT_ESTIMATOR in this
    process's own environment: below Python 3.12 the job's note, and every estimate after it in the kernel, then
    blamed that variable (which the user never set) instead of the missing ctok, and child processes inherited it."""
    from jupyter_token_count import estimate_job

    monkeypatch.delenv(textmod.ENV_VAR, raising=False)
    before = textmod.fallback_reason()
    assert before and textmod.ENV_VAR not in before
    est = estimate_job(["Hello, Claude", "Summarise the quarter."], model=M, mode="offline", jobs=1)
    coarse = [n for n in est.notes if COARSE in n]
    assert coarse == [before], est.notes
    assert textmod.ENV_VAR not in os.environ
    assert textmod.ENV_VAR not in count_tokens("Hello, Claude", model=M).reason
