"""scripts/setup.sh (what `make run` and `make test` start with) as the README describes it: `PYTHON=python3.13 make
test` picks the interpreter. Run for real on a copy of the script, with stand-in interpreters that record nothing but
their version, so no package is installed."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# A stand-in interpreter: answers the version query, makes a "virtualenv" holding a copy of itself, and succeeds at
# everything else (pip installs, `import ctok`).
STUB = """#!/usr/bin/env bash
if [ "$1" = -c ]; then
  case "$2" in *version_info*) echo "{version}" ;; esac
  exit 0
fi
if [ "$1" = -m ] && [ "$2" = venv ]; then
  mkdir -p "$3/bin"
  cp "$0" "$3/bin/python"
  printf 'PATH="%s/bin:$PATH"\\n' "$(cd "$3" && pwd)" > "$3/bin/activate"
fi
exit 0
"""


def _stub(path: Path, version: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(STUB.format(version=version))
    path.chmod(0o755)
    return path


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A checkout holding scripts/setup.sh and a .venv made earlier with Python 3.11."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "setup.sh", tmp_path / "scripts" / "setup.sh")
    _stub(tmp_path / ".venv" / "bin" / "python", "3.11")
    (tmp_path / ".venv" / "bin" / "activate").write_text(f'PATH="{tmp_path}/.venv/bin:$PATH"\n')
    (tmp_path / ".venv" / "made-earlier").write_text("")
    _stub(tmp_path / "tools" / "jupyter-builder", "0")
    return tmp_path


def _setup(checkout: Path, python: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHON", "VIRTUAL_ENV")}
    env["PATH"] = f"{checkout / 'tools'}:{env['PATH']}"
    if python:
        env["PYTHON"] = python
    run = subprocess.run(
        ["bash", "scripts/setup.sh", "lab"], cwd=checkout, env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return run


def _venv_version(checkout: Path) -> str:
    venv_python = str(checkout / ".venv" / "bin" / "python")
    return subprocess.run([venv_python, "-c", "sys.version_info"], capture_output=True, text=True).stdout.strip()


def test_python_picks_the_interpreter_even_when_a_venv_exists(checkout: Path):
    run = _setup(checkout, str(_stub(checkout / "tools" / "python3.13", "3.13")))
    assert _venv_version(checkout) == "3.13", run.stdout
    assert "holds Python 3.11" in run.stdout and not (checkout / ".venv" / "made-earlier").exists()


@pytest.mark.parametrize("python", [None, "same"])
def test_a_venv_of_the_asked_version_is_kept(checkout: Path, python: str | None):
    _setup(checkout, python and str(_stub(checkout / "tools" / "python3.11", "3.11")))
    assert _venv_version(checkout) == "3.11" and (checkout / ".venv" / "made-earlier").exists()
