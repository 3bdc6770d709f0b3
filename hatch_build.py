"""A wheel or sdist never ships the development build of the JupyterLab extension.

`make run`, `make test` and `pip install -e .` build the front end for development (source maps, unminified:
about 900 KB instead of 140 KB) into jupyter_token_count/labextension. The jupyter-builder hook skips its
production build when that folder holds a build (``skip-if-exists``: a wheel built from an sdist must not need
Node.js), so without this hook a `pip install .` or `python -m build` in a development checkout would package the
development build. This hook runs first and removes a development build (recognised by its source maps) before a
standard (non-editable) build, so jupyter-builder makes the production one; a production build, as an sdist
carries it, is kept."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

BUILD = Path("jupyter_token_count") / "labextension"


def is_development_build(folder: Path) -> bool:
    return any(folder.glob("static/*.map"))


class DropDevelopmentBuild(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        folder = Path(self.root) / BUILD
        if version == "standard" and is_development_build(folder):
            self.app.display_info(f"removing the development build in {BUILD} (source maps): building for production")
            shutil.rmtree(folder)
