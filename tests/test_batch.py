"""Counting many inputs with ``jupyter-token-count``: batches that never stop at one bad file, empty notebooks,
directories, formats, budgets, --jobs, unknown models, markdown attachments, and the pre-commit hook."""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import nbformat
import pytest
from cli_run import cli
from media import image_bytes
from standin import StandIn, standin_count

from jupyter_token_count import count_tokens, registry
from jupyter_token_count.api import UnknownModelWarning
from jupyter_token_count.backends import offline
from jupyter_token_count.errors import InputError, UnknownModel
from jupyter_token_count.request import build_request, cells_from_json, notebook_blocks

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"
ROOT = Path(__file__).resolve().parent.parent


def _mixed_folder(root: Path) -> Path:
    """Good notebooks, two kinds of empty ones, a zero-byte one, a corrupt one and one that is not a notebook."""
    folder = root / "notebooks"
    (folder / "sub").mkdir(parents=True)
    for nb in sorted(FIXTURES.glob("*.ipynb"))[:2]:
        shutil.copy(nb, folder / nb.name)
    nbformat.write(nbformat.v4.new_notebook(), folder / "Untitled.ipynb")
    one_empty = nbformat.v4.new_notebook()
    one_empty.cells = [nbformat.v4.new_code_cell("")]
    nbformat.write(one_empty, folder / "sub" / "Untitled1.ipynb")
    (folder / "zero.ipynb").write_bytes(b"")
    (folder / "corrupt.ipynb").write_text('{"cells": [', encoding="utf-8")
    (folder / "notes.ipynb").write_text("just some notes, not JSON", encoding="utf-8")
    (folder / ".ipynb_checkpoints").mkdir()
    shutil.copy(folder / "corrupt.ipynb", folder / ".ipynb_checkpoints" / "corrupt-checkpoint.ipynb")
    return folder


def test_a_folder_gives_one_row_per_file_and_never_stops_at_a_bad_one(tmp_path: Path):
    folder = _mixed_folder(tmp_path)
    p = cli(str(folder), "--json", "--offline", "--jobs", "1")
    assert p.returncode == 2, p.stderr
    rows = {Path(r["input"]).name: r for r in json.loads(p.stdout)}
    good = [nb.name for nb in sorted(FIXTURES.glob("*.ipynb"))[:2]]
    assert sorted(rows) == sorted(
        [*good, "Untitled.ipynb", "Untitled1.ipynb", "zero.ipynb", "corrupt.ipynb", "notes.ipynb"]
    )
    # the good ones count exactly what they count alone
    for name in good:
        alone = count_tokens(folder / name, mode="offline")
        assert rows[name]["status"] == "ok" and rows[name]["input_tokens"] == alone.input_tokens > 100
    # an empty notebook or file is the request frame alone, as JupyterLab's frame + Σ cells with no cells
    frame = offline.frame_tokens(registry.resolve(registry.default_model()))
    for name in ("Untitled.ipynb", "Untitled1.ipynb", "zero.ipynb"):
        assert rows[name]["status"] == "ok" and rows[name]["input_tokens"] == frame > 0 and rows[name]["empty"]
    for name in ("corrupt.ipynb", "notes.ipynb"):
        assert (
            rows[name]["status"] == "error" and name in rows[name]["error"] and "not a notebook" in rows[name]["error"]
        )
    errors = p.stderr.strip().splitlines()
    assert len(errors) == 2 and all("not a notebook" in e for e in errors) and "Traceback" not in p.stderr


def test_empty_notebook_is_the_exact_frame_with_a_key(tmp_path: Path, key_env, standin: StandIn):
    path = tmp_path / "Untitled.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), path)
    p = cli(str(path), "--json", "--per-cell", env=key_env)
    assert p.returncode == 0, p.stderr
    row = json.loads(p.stdout)
    [probe] = standin.count_requests()  # the frame probe, shared with the per-cell frame measurement
    assert probe.json["messages"] == [{"role": "user", "content": "."}]
    assert row["exact"] and row["input_tokens"] == standin_count(probe.json) - 1 == row["per_cell"]["total"]


def test_exclude_and_include(tmp_path: Path):
    folder = _mixed_folder(tmp_path)
    (folder / "prompt.md").write_text("Summarise the notebook in three bullet points.", encoding="utf-8")
    p = cli(
        str(folder),
        "--json",
        "--offline",
        "--exclude",
        "corrupt.ipynb",
        "--exclude",
        "notes*",
        "--exclude",
        "sub",
        "--include",
        "*.md",
    )
    assert p.returncode == 0, p.stderr
    names = sorted(Path(r["input"]).name for r in json.loads(p.stdout))
    assert "prompt.md" in names and "corrupt.ipynb" not in names and "notes.ipynb" not in names
    assert "Untitled1.ipynb" not in names  # under the excluded sub/


def test_missing_file_and_empty_folder_get_their_rows(tmp_path: Path):
    (tmp_path / "nothing").mkdir()
    good = tmp_path / "p.txt"
    good.write_text("Hello, Claude", encoding="utf-8")
    p = cli(str(good), str(tmp_path / "missing.ipynb"), str(tmp_path / "nothing"), "--json", "--offline")
    assert p.returncode == 2
    rows = json.loads(p.stdout)
    assert [r["status"] for r in rows] == ["ok", "error", "error"]
    assert "no such file" in rows[1]["error"] and "no files named *.ipynb" in rows[2]["error"]


def test_jobs_2_gives_the_same_rows_in_the_same_order_as_jobs_1(tmp_path: Path):
    folder = _mixed_folder(tmp_path)
    one = cli(str(folder), "--json", "--offline", "--include-outputs", "--jobs", "1")
    two = cli(str(folder), "--json", "--offline", "--include-outputs", "--jobs", "2")
    assert one.returncode == two.returncode == 2
    assert json.loads(one.stdout) == json.loads(two.stdout) and one.stderr == two.stderr


def test_jobs_2_with_a_key_counts_exactly_and_in_order(tmp_path: Path, key_env, standin: StandIn):
    folder = tmp_path / "nbs"
    folder.mkdir()
    for i, nb in enumerate(sorted(FIXTURES.glob("*.ipynb"))[:3]):
        shutil.copy(nb, folder / f"{i}_{nb.name}")
    two = cli(str(folder), "--json", "--jobs", "2", env=key_env)
    assert two.returncode == 0, two.stderr
    sent = standin.count_requests()
    assert len(sent) == 3 and not [r for r in standin.requests if r.path.startswith("/v1/models")]
    one = cli(str(folder), "--json", "--jobs", "1", env=key_env)  # now from the shared on-disk cache
    rows_two, rows_one = json.loads(two.stdout), json.loads(one.stdout)
    assert [(r["input"], r["input_tokens"], r["exact"]) for r in rows_two] == [
        (r["input"], r["input_tokens"], r["exact"]) for r in rows_one
    ]
    assert all(r["exact"] for r in rows_two) and {r["source"] for r in rows_one} == {"cache"}
    assert sorted(r["input_tokens"] for r in rows_two) == sorted(standin_count(s.json) for s in sent)


def test_formats_parse_and_render(tmp_path: Path):
    folder = _mixed_folder(tmp_path)
    counts = [
        r["input_tokens"] for r in json.loads(cli(str(folder), "--offline", "--json").stdout) if "input_tokens" in r
    ]
    budget = max(counts) - 1  # the biggest notebook is over it, the empty ones are not
    args = (str(folder), "--offline", "--max-tokens", str(budget))
    rows = json.loads(cli(*args, "--format", "json").stdout)
    assert len(rows) == 7
    over = {r["input"] for r in rows if r["status"] == "over_budget"}
    assert over and all(r["input_tokens"] > budget for r in rows if r["input"] in over)
    assert all(r["input_tokens"] <= budget for r in rows if r["status"] == "ok")

    table = list(csv.DictReader(io.StringIO(cli(*args, "--format", "csv").stdout)))
    assert [r["input"] for r in table] == [r["input"] for r in rows]
    for r, j in zip(table, rows, strict=True):
        assert r["status"] == j["status"]
        if j["status"] != "error":
            assert int(r["input_tokens"]) == j["input_tokens"] and r["label"] == f"≈{j['input_tokens']:,}"

    md = cli(*args, "--format", "markdown")
    assert md.returncode == 2
    from markdown_it import MarkdownIt

    html = MarkdownIt("commonmark").enable("table").render(md.stdout)
    assert html.count("<tr>") == 1 + len(rows)  # the header and one row per file
    assert html.count("❌") >= 1 + len(over) + 2  # the verdict, each over-budget row, each failed one
    assert "≈ estimate: offline mode" in md.stdout and f"`--max-tokens {budget:,}`" in md.stdout


def test_budgets(tmp_path: Path):
    f = tmp_path / "p.txt"
    f.write_text("word " * 2000, encoding="utf-8")
    assert cli(str(f), "--offline", "--max-context-fraction", "0.5").returncode == 0
    over = cli(str(f), "--offline", "-m", "claude-haiku-4-5", "--max-context-fraction", "0.001")
    assert (
        over.returncode == 1 and "window, over the 0.1% allowed" in over.stderr and "of claude-haiku-4-5" in over.stderr
    )
    total = cli(str(f), str(f), "--offline", "--total-budget", "3000")
    assert total.returncode == 1 and "over the total budget of 3,000" in total.stderr
    bad = cli(str(f), "--max-context-fraction", "2")
    assert bad.returncode == 2 and "at most 1" in bad.stderr


def test_unknown_model_offline_is_an_error_in_the_cli_with_a_suggestion(tmp_path: Path):
    p = cli("-m", "claude-sonet-4-5", "--offline", stdin="Hello", cwd=tmp_path)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "unknown model 'claude-sonet-4-5'" in p.stderr and "did you mean 'claude-sonnet-4-5'" in p.stderr
    allowed = cli("-m", "claude-sonet-4-5", "--allow-unknown-model", "--json", stdin="Hello", cwd=tmp_path)
    assert allowed.returncode == 0 and "warning: unknown model" in allowed.stderr
    assert json.loads(allowed.stdout)["warnings"] and json.loads(allowed.stdout)["exact"] is False
    # a request file's own model is checked too
    req = tmp_path / "req.json"
    req.write_text(json.dumps({"model": "claude-opus-4-9x", "messages": [{"role": "user", "content": "x"}]}))
    p = cli(str(req), "--offline", cwd=tmp_path)
    assert p.returncode == 2 and "req.json" in p.stderr and "unknown model 'claude-opus-4-9x'" in p.stderr


def test_unknown_model_with_a_key_asks_the_api_list(tmp_path: Path, key_env, standin: StandIn):
    p = cli("-m", "claude-sonet-6", stdin="Hello", env=key_env, cwd=tmp_path)
    assert p.returncode == 2 and "GET /v1/models" in p.stderr and "did you mean 'claude-sonnet-6'" in p.stderr
    assert standin.api_key not in p.stderr and not standin.count_requests()
    # an id only the API lists (newer than the registry) is fine
    ok = cli("-m", "claude-sonnet-6", "--json", stdin="Hello", env=key_env, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["exact"] and not json.loads(ok.stdout)["warnings"]


def test_unknown_model_in_the_python_api(api_env: StandIn):
    with pytest.raises(UnknownModel, match="did you mean 'claude-opus-4-8'"):
        count_tokens("Hello", model="claude-opus-4-8x")
    assert not api_env.count_requests()


def test_unknown_model_offline_in_the_python_api_warns():
    with pytest.warns(UnknownModelWarning, match="did you mean 'claude-sonnet-4-5'"):
        r = count_tokens("Hello", model="claude-sonet-4-5", mode="offline")
    assert r.warnings and "⚠ unknown model" in r.summary() and not r.exact
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not count_tokens("Hello", model="claude-sonnet-4-5", mode="offline").warnings


def _attachment_notebook(data: str = "") -> dict:
    png = data or base64.b64encode(image_bytes("PNG", (600, 400))).decode()
    nb = nbformat.v4.new_notebook()
    md = nbformat.v4.new_markdown_cell("The chart:\n\n![chart.png](attachment:chart.png)")
    md["attachments"] = {"chart.png": {"image/png": png}}
    nb.cells = [md, nbformat.v4.new_code_cell("print('hi')")]
    return nb


def test_a_markdown_attachment_counts_like_an_image_output(tmp_path: Path):
    path = tmp_path / "att.ipynb"
    nbformat.write(_attachment_notebook(), path)
    blocks = notebook_blocks(cells_from_json(json.loads(path.read_text())["cells"]), include_outputs=True)
    assert [b["type"] for b in blocks] == ["text", "image", "text"]
    without = count_tokens(path, mode="offline").input_tokens
    with_att = count_tokens(path, mode="offline", include_outputs=True).input_tokens
    assert with_att > without + 200  # a 600x400 image is hundreds of tokens
    p = cli(str(path), "--include-outputs", "--offline", "--json")
    assert json.loads(p.stdout)["input_tokens"] == with_att


def test_a_bad_attachment_is_named(tmp_path: Path):
    path = tmp_path / "bad.ipynb"
    nbformat.write(_attachment_notebook("!!!"), path)
    p = cli(str(path), "--include-outputs", "--offline")
    assert p.returncode == 2
    assert "bad.ipynb" in p.stderr and "cell 1" in p.stderr and "attachment 'chart.png'" in p.stderr


def test_empty_notebook_and_file_in_the_python_api(tmp_path: Path):
    req = build_request({"cells": []}, model="claude-opus-4-8")
    assert req.empty and req.body["messages"] == [{"role": "user", "content": "."}]
    assert not build_request("Hello", model="claude-opus-4-8").empty
    frame = offline.frame_tokens(registry.resolve("claude-opus-4-8"))
    nb = tmp_path / "Untitled.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), nb)
    blank = tmp_path / "prompt.md"
    blank.write_text("  \n", encoding="utf-8")
    for path in (nb, blank):
        r = count_tokens(path, model="claude-opus-4-8", mode="offline")
        assert (
            r.input_tokens == frame
            and r.detail["empty"]
            and r.cost_usd == pytest.approx(frame * 5 / 1_000_000)  # Opus 4.8: $5 per million input tokens
        )
    # an explicit empty message is still the API's error, not an empty document
    with pytest.raises(InputError):
        build_request([{"role": "user", "content": []}], model="claude-opus-4-8")


# -- pre-commit ------------------------------------------------------------------------------------------
def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        timeout=60,
        env={
            **os.environ,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.org",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.org",
        },
    )


def test_pre_commit_hook_passes_under_budget_and_fails_over_it(tmp_path: Path):
    """The real pre-commit tool runs the hook from this checkout (``try-repo``) in a fresh repository."""
    pre_commit = Path(sys.executable).parent / "pre-commit"
    if not pre_commit.exists():
        pytest.fail("pre-commit is not installed: pip install -e '.[test]'")
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    shutil.copy(sorted(FIXTURES.glob("*.ipynb"))[0], repo / "analysis.ipynb")
    (repo / "README.txt").write_text("not a prompt", encoding="utf-8")  # not the hook's kind of file
    _git(repo, "add", ".")
    env = {
        **os.environ,
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }

    def run(budget: int) -> subprocess.CompletedProcess[str]:
        # try-repo takes no hook arguments: the budget comes from the repository's pyproject.toml
        (repo / "pyproject.toml").write_text(f"[tool.jupyter-token-count]\nmax-tokens = {budget}\n", encoding="utf-8")
        return subprocess.run(
            [str(pre_commit), "try-repo", str(ROOT), "jupyter-token-count", "--all-files", "--verbose"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
        )

    under = run(100_000)
    assert under.returncode == 0, under.stdout + under.stderr
    assert "Passed" in under.stdout and "analysis.ipynb" in under.stdout and "README.txt" not in under.stdout
    over = run(100)
    assert over.returncode == 1, over.stdout + over.stderr
    assert "Failed" in over.stdout and "over the budget of 100" in over.stdout
