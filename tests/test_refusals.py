"""Issue 22, the smaller trust boundaries: budgets that are not finite positive numbers are refused (a NaN
budget never stops anything), a value from the input is never echoed whole (a 1 MB model id was, in the 400
and in the log), a cache whose writes all fail says so in its status and in one warning, not one per write."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from cli_run import cli
from live_server import LiveServer

from jupyter_token_count import meter_calls, stop_metering
from jupyter_token_count.cache import CountCache
from jupyter_token_count.errors import MAX_MESSAGE, InputError
from jupyter_token_count.ratelog import RateLimitedLog
from jupyter_token_count.request import build_request
from jupyter_token_count.server import TokenCountConfig

M = "claude-sonnet-4-5"
BAD_NUMBERS = ["nan", "inf", "-inf", "0", "-1", "1e400"]


# -- budgets ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), 0, -1, 0.0])
def test_meter_budgets_must_be_finite_and_positive(value: float):
    for name in ("budget_usd", "budget_tokens"):
        with pytest.raises(ValueError, match=f"{name} must be a finite number above 0"):
            meter_calls(**{name: value})
    stop_metering()


@pytest.mark.parametrize("option", ["--max-tokens", "--total-budget", "--max-context-fraction"])
def test_cli_refuses_budgets_that_are_not_finite_positive_numbers(option: str, tmp_path: Path):
    (tmp_path / "p.txt").write_text("hello")
    for value in BAD_NUMBERS:
        res = cli("p.txt", "--offline", option, value, cwd=tmp_path)
        assert res.returncode == 2 and f"argument {option}" in res.stderr and "expected" in res.stderr, (value, res)


def test_cli_refuses_a_configured_budget_of_zero(tmp_path: Path):
    (tmp_path / "p.txt").write_text("hello")
    (tmp_path / "pyproject.toml").write_text("[tool.jupyter-token-count]\nmax-tokens = 0\n")
    res = cli("p.txt", "--offline", cwd=tmp_path)
    assert res.returncode == 2 and "max-tokens must be a number of tokens above 0" in res.stderr


@pytest.mark.parametrize("trait", ["timeout", "estimate_timeout", "redis_timeout", "models_refresh_minutes"])
def test_server_seconds_must_be_finite_and_positive(trait: str):
    for value in (float("nan"), float("inf"), 0.0, -1.0):
        with pytest.raises(Exception, match=f"TokenCountConfig.{trait} must be a positive number"):
            TokenCountConfig(**{trait: value})


# -- echoed values ----------------------------------------------------------------------------------------
BIG = "m" * 1_000_000


@pytest.mark.parametrize(
    "body",
    [
        {"model": M, "messages": [{"role": BIG, "content": "hi"}]},
        {"model": M, "messages": [{"role": "user", "content": "hi"}], BIG[:100_000]: 1},
        {"model": M, "messages": [{"role": "user", "content": [{"type": "image", "source": {"type": BIG}}]}]},
        {"model": M, "messages": [{"role": "user", "content": "hi"}], "tools": [{"name": BIG}]},
    ],
)
def test_input_values_are_quoted_cut_short(body: dict[str, Any]):
    with pytest.raises(InputError) as info:
        build_request(body)
    assert len(str(info.value)) < 500
    assert "characters)" in str(info.value) or "…" in str(info.value)


def test_every_input_error_is_bounded():
    err = InputError("x" * 10**6, "y" * 10**6)
    assert len(str(err)) <= MAX_MESSAGE + MAX_MESSAGE // 4 + 2


def test_server_never_echoes_a_huge_value(tmp_path: Path):
    with LiveServer(tmp_path, None, None) as server:
        answers = [
            server.call("POST", "count", {"model": BIG, "messages": [{"role": "user", "content": "hi"}]}),
            server.call("POST", "cells", {"model": BIG, "cells": [{"id": "a", "cell_type": "raw", "source": "x"}]}),
            server.call("POST", "count", {"model": M, "messages": [{"role": BIG, "content": "hi"}]}),
            server.call("POST", "count", {"model": M, "messages": [{"role": "user", "content": "hi"}], BIG: 1}),
        ]
        for status, reply in answers:
            assert status == 400 and len(reply["error"]["message"]) < 400, (status, str(reply)[:300])
        assert "at most 256 characters" in answers[0][1]["error"]["message"]
        log = server.log_path.read_text()
    assert max(len(line) for line in log.splitlines()) < 2000
    assert BIG[:5000] not in log


# -- a cache that cannot write ----------------------------------------------------------------------------
def test_a_cache_whose_writes_fail_says_so_once(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    cache = CountCache(tmp_path)
    cache.put("first", M, 1)
    assert cache.stats()["writable"] is True and cache.stats()["write_failures"] == 0
    conn = cache._conn()
    assert conn is not None
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full from now on (SQLITE_FULL)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="jupyter_token_count.cache"):
        for i in range(300):
            cache.put(f"key {i} " + "x" * 200, M, i)
    stats = cache.stats()
    assert stats["write_failures"] > 250 and stats["writable"] is False and stats["read_only"] is False
    assert "full" in (stats["write_error"] or "")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert cache.get("key 7 " + "x" * 200) == 7  # still served from memory
    # room again: the next write succeeds and the status says so
    conn.execute("PRAGMA max_page_count = 1073741823")
    cache.put("after", M, 2)
    assert cache.stats()["writable"] is True and cache.stats()["write_error"] is None


def test_repeated_warnings_are_rate_limited(caplog: pytest.LogCaptureFixture):
    now = [0.0]
    warn = RateLimitedLog(logging.getLogger("test-ratelog"), every=60, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="test-ratelog"):
        logged = [warn.warning("write", "write failed: %s", i) for i in range(100)]
        now[0] = 61
        logged.append(warn.warning("write", "write failed: %s", "again"))
        logged.append(warn.warning("other", "another kind"))
    assert logged.count(True) == 3
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == "write failed: 0"
    assert messages[1].startswith("write failed: again (99 more like this in the last 61s")
    assert messages[2] == "another kind"


def test_status_reports_cache_write_failures(tmp_path: Path):
    from jupyter_token_count.server.service import TokenCountService

    service = TokenCountService(TokenCountConfig(cache_dir=str(tmp_path / "c")))
    cache = service.counter.cache
    conn = cache._conn()
    assert conn is not None
    conn.execute(f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0]}")
    for i in range(50):
        cache.put(f"k{i}" + "y" * 300, M, i)
    status = service.status()["cache"]
    assert status["writable"] is False and status["write_failures"] > 0 and status["write_error"]


# -- strings that look like paths ------------------------------------------------------------------------
@pytest.mark.parametrize("content", ["~0", "~0.txt", "~no-such-user-xyz/notes.md", "a" * 300 + ".txt", "x\x00.png"])
def test_odd_path_like_prompts_are_text_never_a_traceback(content: str):
    """Found by the fuzz test: ``~0`` made pathlib raise (no such user), a 300-character name ending in .txt made
    ``is_file`` raise (name too long). A prompt that is not a readable file is prompt text."""
    req = build_request({"model": M, "messages": [{"role": "user", "content": content}]})
    assert req.body["messages"][0]["content"] == content


def test_a_path_under_an_unknown_home_is_an_input_error():
    from jupyter_token_count.request.files import read_path

    with pytest.raises(InputError, match="no such user's home directory"):
        read_path(Path("~no-such-user-xyz/prompt.txt"))
