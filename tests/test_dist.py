"""What a user installs: `make dist` (scripts/dist.sh) builds the sdist and the wheel once per test run, from the
committed tree with the production front end, and the wheel installs into a fresh virtualenv the way the README
says, with both extensions listed OK and the CLI telling the truth about its estimator.

The build and the install take about a minute together (the front end is built once; the install takes
JupyterLab from pip's cache or the index)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT


def _load_hatch_build():
    spec = importlib.util.spec_from_file_location("hatch_build", ROOT / "hatch_build.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


hatch_build = _load_hatch_build()

LABEXT = "share/jupyter/labextensions/jupyter-token-count"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
SOURCE_MAP_COMMENT = re.compile(rb"^//# sourceMappingURL=", re.MULTILINE)


def _run(cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: int = 600) -> str:
    run = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    out = ANSI.sub("", run.stdout + run.stderr)
    assert run.returncode == 0, f"{' '.join(cmd)} exited {run.returncode}:\n{out[-4000:]}"
    return out


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: scripts/dist.sh builds from the committed tree (git archive)")
    out = tmp_path_factory.mktemp("dist")
    _run(["bash", str(ROOT / "scripts" / "dist.sh"), str(out)], env={**os.environ, "PYTHON": sys.executable})
    [wheel] = out.glob("*.whl")
    [sdist] = out.glob("*.tar.gz")
    yield {"dir": out, "wheel": wheel, "sdist": sdist}


def test_the_wheel_ships_the_production_front_end(dist: dict[str, Path]):
    with zipfile.ZipFile(dist["wheel"]) as whl:
        names = whl.namelist()
        data = [n for n in names if f".data/data/{LABEXT}/" in n]
        scripts = [n for n in data if n.endswith(".js")]
        assert any(n.endswith("/static/style.js") for n in scripts) and any("remoteEntry." in n for n in scripts)
        assert any(n.endswith(f"{LABEXT}/install.json") for n in data)
        assert any(n.endswith("etc/jupyter/jupyter_server_config.d/jupyter_token_count.json") for n in names)
        assert not [n for n in names if n.endswith(".map")], "source maps in the wheel"
        for name in scripts:  # a development build ends each file with a pointer to its map
            assert not SOURCE_MAP_COMMENT.search(whl.read(name)), f"{name} points at a source map"
        size = sum(whl.getinfo(n).file_size for n in scripts)
        # the production build is about 70 KB of JavaScript; the development one is several times larger
        assert size < 250_000, f"{size} bytes of JavaScript: not a production build?"
        meta = json.loads(whl.read(next(n for n in data if n.endswith(f"{LABEXT}/package.json"))))
        assert meta["name"] == "jupyter-token-count"


def test_the_sdist_is_the_clean_tree_with_the_production_build(dist: dict[str, Path]):
    with tarfile.open(dist["sdist"]) as tar:
        names = [n.split("/", 1)[1] for n in tar.getnames() if "/" in n]
    assert "labextension/src/index.ts" in names and "hatch_build.py" in names and "pyproject.toml" in names
    assert "jupyter_token_count/labextension/static/style.js" in names  # a wheel from it needs no Node.js
    assert not [n for n in names if n.endswith(".map") or "node_modules" in n or n.startswith("labextension/lib/")]
    assert not [n for n in names if n.startswith((".venv", "dist/", ".git/"))]


def test_the_wheel_installs_as_the_readme_says(dist: dict[str, Path], tmp_path: Path):
    """The README's line, `pip install --find-links dist "jupyter-token-count[lab]"`, into a fresh virtualenv:
    JupyterLab comes with it, both extensions are listed OK, and the CLI works (on Python < 3.12 pip installs no
    ctok, and the CLI says its estimate is the coarse one)."""
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    bin_ = venv / "bin"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "ANTHROPIC", "VIRTUAL_ENV"))}
    env.update(
        PATH=f"{bin_}{os.pathsep}{env.get('PATH', '')}",
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
        JUPYTER_DATA_DIR=str(tmp_path / "data"),
        JUPYTER_TOKEN_COUNT_DATA_DIR=str(tmp_path / "jtc"),
    )
    pip = [str(bin_ / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _run([*pip, "--find-links", str(dist["dir"]), "jupyter-token-count[lab]"], env=env, cwd=tmp_path, timeout=900)

    labext = _run([str(bin_ / "jupyter"), "labextension", "list"], env=env, cwd=tmp_path)
    assert re.search(r"jupyter-token-count v\S+ enabled OK", labext), labext
    assert str(venv / "share" / "jupyter" / "labextensions") in labext
    server = _run([str(bin_ / "jupyter"), "server", "extension", "list"], env=env, cwd=tmp_path)
    assert re.search(r"jupyter_token_count enabled", server) and re.search(r"jupyter_token_count \S+ OK", server)

    shutil.copy(ROOT / "examples" / "demo.ipynb", tmp_path / "demo.ipynb")
    table = _run([str(bin_ / "jupyter-token-count"), "demo.ipynb"], env=env, cwd=tmp_path)
    installed_python = _run([str(bin_ / "python"), "-c", "import sys; print(sys.version_info >= (3, 12))"], env=env)
    footer = [line for line in table.splitlines() if line.startswith("≈ estimate:")]
    assert len(footer) == 1, table
    if installed_python.strip() == "True":
        assert "coarse estimator" not in footer[0]  # pip installed ctok
    else:
        assert "coarse estimator" in footer[0] and "needs Python ≥ 3.12" in footer[0], footer[0]


def _hook(root: Path) -> Any:
    return hatch_build.DropDevelopmentBuild(str(root), {}, None, None, str(root / "dist"), "wheel")


def test_a_development_build_is_never_packaged(tmp_path: Path):
    """hatch_build.py removes a development build (source maps) before a standard build, so `pip install .` in a
    checkout where `make run` built the front end for development builds it again for production; a production
    build (what an sdist carries) and editable installs are left alone."""
    static = tmp_path / hatch_build.BUILD / "static"
    static.mkdir(parents=True)
    (static / "remoteEntry.1.js").write_text("x")
    _hook(tmp_path).initialize("standard", {})
    assert static.is_dir()  # production: kept
    (static / "remoteEntry.1.js.map").write_text("{}")
    _hook(tmp_path).initialize("editable", {})
    assert static.is_dir()  # the development install keeps its own build
    _hook(tmp_path).initialize("standard", {})
    assert not (tmp_path / hatch_build.BUILD).exists()
    hooks = re.findall(r"^\[tool\.hatch\.build\.hooks\.([a-z-]+)\]$", (ROOT / "pyproject.toml").read_text(), re.M)
    assert hooks.index("custom") < hooks.index("jupyter-builder")  # hatch runs its hooks in this order
