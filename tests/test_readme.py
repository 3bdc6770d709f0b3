"""The README tells the truth: its sample outputs are what the code prints now (scripts/readme_samples.py makes
them; run it to update the README after a change), its install lines name nothing that does not exist, and the
pre-commit and CI snippets work as written."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURE_NOTEBOOKS, ROOT

from jupyter_token_count.backends.offline import text as textmod

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _samples_module():
    spec = importlib.util.spec_from_file_location("readme_samples", ROOT / "scripts" / "readme_samples.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _block(after: str, lang: str) -> str:
    """The first fenced block of ``lang`` after the heading ``after``."""
    start = README.index(after)
    m = re.compile(rf"```{lang}\n(.*?)\n```", re.DOTALL).search(README, start)
    assert m, f"no {lang} block after {after!r}"
    return m.group(1)


@pytest.mark.skipif(not textmod.using_ctok(), reason="the README's samples are ctok's estimates; ctok is not here")
def test_every_sample_is_what_the_code_prints(monkeypatch: pytest.MonkeyPatch):
    samples = _samples_module()
    names = samples.marked(README)
    # the samples a reader relies on are all marked, so none can go stale unnoticed
    assert {"python-repr", "cli-table", "magic-error", "error-media-type", "unknown-model", "job-estimate"} <= names
    monkeypatch.chdir(ROOT)
    diff = samples.drift(README)
    assert not diff, f"README samples drifted; run `python scripts/readme_samples.py`:\n{diff}"
    # and the check can fail: a figure changed by hand is a drift
    stale = README.replace("TokenCount(≈", "TokenCount(≈1", 1)
    assert stale != README and "+TokenCount(≈" in samples.drift(stale)


def test_install_lines_name_nothing_that_does_not_exist():
    for placeholder in ("<owner>", "<repo>", "v0.1.0", "pip install jupyter-token-count"):
        assert placeholder not in README, placeholder
    for path in [ROOT / "binder" / "environment.yml", ROOT / ".pre-commit-hooks.yaml"]:
        text = path.read_text(encoding="utf-8")
        assert "<owner>" not in text and "pip install jupyter-token-count" not in text, path
    # every pip line, in a block or inline, installs this checkout, a wheel it builds, or a named dependency (the
    # package is not on PyPI: `pip install "jupyter-token-count[dask]"` finds nothing)
    lines = re.findall(r"^\s*pip install .*$", README, re.MULTILINE) + re.findall(r"`(pip install [^`]*)`", README)
    assert len(lines) >= 4
    for line in lines:
        assert re.search(r'"\.\[\w+\]"|--find-links (dist|wheels) "?jupyter-token-count|\bctok==', line), line
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^dist:", makefile, re.MULTILINE), "the README names `make dist`"


def _git(cwd: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org"}
    env.update(GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.org")
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, timeout=60, env=env)


def test_the_pre_commit_block_works_as_written(tmp_path: Path):
    """The README's .pre-commit-config.yaml, unchanged, in a fresh repository, with the real pre-commit and the
    jupyter-token-count installed beside it: a notebook under the README's budget passes, over it fails."""
    pre_commit = Path(sys.executable).parent / "pre-commit"
    if not pre_commit.exists():
        pytest.fail("pre-commit is not installed: pip install -e '.[test]'")
    config = _block("### pre-commit", "yaml")
    budget = int(re.search(r'args: \[--max-tokens, "(\d+)"\]', config).group(1))
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / ".pre-commit-config.yaml").write_text(config + "\n", encoding="utf-8")
    shutil.copy(FIXTURE_NOTEBOOKS / "tool_use_calculator_tool.ipynb", repo / "analysis.ipynb")
    (repo / "prompts").mkdir()
    (repo / "prompts" / "system.md").write_text("You are a careful analyst.\n", encoding="utf-8")
    (repo / "notes.txt").write_text("not a prompt", encoding="utf-8")
    _git(repo, "add", ".")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "JUPYTER_TOKEN_COUNT_"))}
    env.update(
        PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        JUPYTER_TOKEN_COUNT_DATA_DIR=str(tmp_path / "jtc"),
    )

    def run() -> subprocess.CompletedProcess[str]:
        cmd = [str(pre_commit), "run", "--all-files", "--verbose"]
        return subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=300, env=env)

    under = run()
    assert under.returncode == 0, under.stdout + under.stderr
    assert "analysis.ipynb" in under.stdout and "prompts/system.md" in under.stdout
    assert "notes.txt" not in under.stdout
    # the same block with a budget the notebook is over
    (repo / ".pre-commit-config.yaml").write_text(config.replace(f'"{budget}"', '"100"') + "\n", encoding="utf-8")
    over = run()
    assert over.returncode == 1, over.stdout + over.stderr
    assert "over the budget of 100" in over.stdout


def test_the_ci_step_counts_and_writes_the_summary(tmp_path: Path):
    """The GitHub Actions step's counting line, as written, in a folder of notebooks (its pip line is the one
    tests/test_dist.py installs the wheel with)."""
    step = _block("### CI (GitHub Actions)", "yaml")
    [pip_line] = [ln.strip() for ln in step.splitlines() if ln.strip().startswith("pip install")]
    assert pip_line == "pip install --find-links wheels jupyter-token-count"
    [count_line] = [ln.strip() for ln in step.splitlines() if ln.strip().startswith("jupyter-token-count ")]
    shutil.copy(FIXTURE_NOTEBOOKS / "tool_use_calculator_tool.ipynb", tmp_path / "analysis.ipynb")
    summary = tmp_path / "summary.md"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "JUPYTER_TOKEN_COUNT_"))}
    env.update(
        GITHUB_STEP_SUMMARY=str(summary),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        JUPYTER_TOKEN_COUNT_DATA_DIR=str(tmp_path / "jtc"),
    )
    run = subprocess.run(["bash", "-c", count_line], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    report = summary.read_text(encoding="utf-8")
    assert "analysis.ipynb" in report and "≈" in report
