"""The command line as a user runs it: a real process, its output and exit code (shared by the CLI's tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def cli(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``jupyter-token-count ARGS`` in a fresh interpreter (``env`` added to this process's environment)."""
    return subprocess.run(
        [sys.executable, "-m", "jupyter_token_count.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )
