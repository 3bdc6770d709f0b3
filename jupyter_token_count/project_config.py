"""Option defaults from ``[tool.jupyter-token-count]`` in the nearest pyproject.toml, so pre-commit, CI and people
share one budget. A key that is unknown or of the wrong kind is an error naming the file, the key and what it takes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


class ConfigError(Exception):
    """The configuration cannot be used (the CLI exits with EXIT_BAD_INPUT)."""


#: [tool.jupyter-token-count] keys in pyproject.toml → the option they set a default for
CONFIG_KEYS = {
    "max-tokens": ("budget", int),
    "max-context-fraction": ("max_context_fraction", float),
    "total-budget": ("total_budget", int),
    "strict": ("strict", bool),
    "model": ("model", list),
    "exclude": ("exclude", list),
    "include": ("include", list),
    "include-outputs": ("include_outputs", bool),
}


def find_config(start: Path) -> Path | None:
    """The nearest pyproject.toml with a [tool.jupyter-token-count] table, up to the repository's root."""
    for d in (start, *start.parents):
        candidate = d / "pyproject.toml"
        if candidate.is_file() and "jupyter-token-count" in candidate.read_text(encoding="utf-8", errors="replace"):
            return candidate
        if (d / ".git").exists():
            break
    return None


def read_config(path: Path) -> dict[str, Any]:
    """Option defaults from ``[tool.jupyter-token-count]``, so pre-commit, CI and people share one budget."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as exc:  # not UTF-8 was a traceback
        raise ConfigError(f"{path}: cannot be read as TOML ({exc})") from None
    # `tool = 5` or `[tool] jupyter-token-count = 5` parse as TOML: say what the key must be (was an AttributeError)
    tool = document.get("tool", {})
    table = tool.get("jupyter-token-count", {}) if isinstance(tool, dict) else {}
    if not isinstance(tool, dict) or not isinstance(table, dict):
        raise ConfigError(
            f"{path}: [tool.jupyter-token-count] must be a table of options (keys: {', '.join(CONFIG_KEYS)})"
        )
    defaults: dict[str, Any] = {}
    for key, value in table.items():
        if key not in CONFIG_KEYS:
            raise ConfigError(
                f"{path}: [tool.jupyter-token-count] has an unknown key {key!r} (known: {', '.join(CONFIG_KEYS)})"
            )
        dest, kind = CONFIG_KEYS[key]
        if kind is list and isinstance(value, str):
            value = [value]
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok or (kind is list and not all(isinstance(v, str) and v.strip() for v in value)):
            expected = {
                int: "a whole number",
                float: "a number",
                list: "a non-empty string or a list of them",
                bool: "true or false",
            }[kind]
            raise ConfigError(f"{path}: [tool.jupyter-token-count] {key} must be {expected}")
        if kind is float and not 0 < value <= 1:
            raise ConfigError(f"{path}: [tool.jupyter-token-count] {key} must be above 0 and at most 1")
        if kind is int and value < 1:
            raise ConfigError(f"{path}: [tool.jupyter-token-count] {key} must be a number of tokens above 0")
        defaults[dest] = value
    return defaults
