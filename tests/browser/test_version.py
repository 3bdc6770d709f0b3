"""One version source: labextension/package.json == the Python package == the installed labextension,
and `jupyter labextension list` reports the extension enabled and OK."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from jupyter_core.paths import jupyter_path

import jupyter_token_count

ROOT = Path(__file__).resolve().parents[2]
NAME = "jupyter-token-count"


def source_version() -> str:
    return json.loads((ROOT / "labextension" / "package.json").read_text())["version"]


def installed_labextension() -> Path:
    for base in jupyter_path("labextensions"):
        pkg = Path(base) / NAME / "package.json"
        if pkg.exists():
            return pkg
    raise AssertionError(f"{NAME} is not installed in any labextensions directory: {jupyter_path('labextensions')}")


def test_versions_agree() -> None:
    version = source_version()
    assert jupyter_token_count.__version__ == version
    installed = json.loads(installed_labextension().read_text())
    assert installed["name"] == NAME
    assert installed["version"] == version
    # The built extension carries the settings schema it was built with.
    assert installed["jupyterlab"]["_build"]["load"].startswith("static/remoteEntry.")


def test_labextension_list_shows_enabled_ok() -> None:
    jupyter = Path(sys.executable).parent / "jupyter"
    out = subprocess.run(
        [str(jupyter), "labextension", "list"], capture_output=True, text=True, timeout=120, check=True
    )
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.stdout + out.stderr)
    line = next((ln for ln in text.splitlines() if ln.strip().startswith(f"{NAME} ")), None)
    assert line is not None, text
    assert f"v{source_version()}" in line
    assert "enabled" in line and "OK" in line, line


def test_settings_schema_documents_every_field() -> None:
    schema = json.loads((ROOT / "labextension" / "schema" / "plugin.json").read_text())
    props = schema["properties"]
    assert {"model", "debounce", "includeOutputs", "showBadges", "mode"} <= props.keys()
    for name, prop in props.items():
        for key in ("title", "description", "default"):
            assert key in prop, f"setting {name!r} has no {key}"
    # badges follow typing from the offline shares; the exact total waits for a longer pause
    assert (props["debounce"]["default"], props["exactTotalDelay"]["default"]) == (150, 2000)
    assert props["mode"]["enum"] == ["auto", "api", "offline"]
