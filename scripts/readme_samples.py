"""The README's sample outputs, made by the code: ``python scripts/readme_samples.py`` rewrites them in place,
``--check`` prints a diff and exits 1 when one has drifted (tests/test_readme.py runs the check in ``make test``).

A sample is marked in README.md by an HTML comment, which a Markdown viewer does not show:

    <!-- sample: NAME -->          on its own line, followed by a fenced code block: the block's content
    <!-- sample: NAME -->`...`     inline: the code span that follows it

Samples are made as a new user sees them: no API key (every count is an offline estimate, ≈), a private cache
directory, the command line run as a process in ``examples/``. The estimates are ctok's, so the script refuses to
run without it (Python >= 3.12, or scripts/setup.sh, which installs it on 3.10/3.11 too).
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MARK = re.compile(r"<!-- sample: ([a-z0-9-]+) -->(\n```[^\n]*\n(.*?)\n```|`([^`]*)`)", re.DOTALL)
#: the model the samples count for, when they name one
SONNET = "claude-sonnet-4-5"
CLI_MODELS = ["claude-sonnet-5-5", "claude-opus-4-8", "claude-sonnet-4-6", "claude-haiku-4-5"]


def _env(data_dir: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "JUPYTER_TOKEN_COUNT_"))}
    env["JUPYTER_TOKEN_COUNT_DATA_DIR"] = data_dir
    return env


def _run(cmd: list[str], env: dict[str, str], cwd: Path) -> str:
    run = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    return "\n".join(line.rstrip() for line in (run.stdout + run.stderr).rstrip().splitlines())


def _error(fn: Callable[[], object]) -> str:
    from jupyter_token_count.errors import TokenCountError

    try:
        fn()
    except TokenCountError as exc:
        return str(exc)
    raise AssertionError("expected an error")


class Samples:
    """Each method named ``sample_<name>`` (dashes as underscores) makes the sample ``<name>``."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.env = _env(str(work / "data"))

    def sample_python_repr(self) -> str:
        from jupyter_token_count import count_tokens

        res = count_tokens("Hello, Claude", system="You are a scientist", model=SONNET)
        return "\n".join(
            [
                ">>> from jupyter_token_count import count_tokens",
                f'>>> count_tokens("Hello, Claude", system="You are a scientist", model="{SONNET}")',
                repr(res),
            ]
        )

    def sample_error_media_type(self) -> str:
        import base64
        import io

        from PIL import Image

        from jupyter_token_count import count_tokens

        buf = io.BytesIO()
        Image.new("RGB", (8, 8)).save(buf, "JPEG")
        jpeg = base64.b64encode(buf.getvalue()).decode()
        image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": jpeg}}
        messages = [
            {"role": "user", "content": "Compare two charts."},
            {"role": "assistant", "content": "Send them."},
            {"role": "user", "content": [{"type": "text", "text": "The first:"}, image]},
        ]
        return _error(lambda: count_tokens(messages, model=SONNET))

    def sample_error_pdf(self) -> str:
        from jupyter_token_count import count_tokens

        (self.work / "scan.pdf").write_bytes(b"PK\x03\x04 a zip archive, renamed")
        cwd = os.getcwd()
        os.chdir(self.work)
        try:
            return _error(lambda: count_tokens(Path("scan.pdf"), model=SONNET))
        finally:
            os.chdir(cwd)

    def sample_error_server_tool(self) -> str:
        from jupyter_token_count import count_tokens

        tools = [{"type": "web_search_20250305", "name": "web_search"}]
        return _error(lambda: count_tokens("Find this week's news", tools=tools, model=SONNET))

    def sample_magic_error(self) -> str:
        script = self.work / "magic.ipy"
        script.write_text("%load_ext jupyter_token_count\n%count_tokens msgs\n")
        env = {**self.env, "IPYTHONDIR": str(self.work / "ipython")}
        cmd = [sys.executable, "-m", "IPython", "--no-banner", "--HistoryManager.enabled=False", str(script)]
        return _run(cmd, env, self.work)

    def sample_cli_table(self) -> str:
        args = ["demo.ipynb", *(a for m in CLI_MODELS for a in ("-m", m)), "--include-outputs"]
        out = _run([sys.executable, "-m", "jupyter_token_count.cli", *args], self.env, ROOT / "examples")
        return f"$ jupyter-token-count {' '.join(args)}\n{out}"

    def sample_job_estimate(self) -> str:
        args = ["estimate", "support_batch.jsonl", "--offline"]
        out = _run([sys.executable, "-m", "jupyter_token_count.cli", *args], self.env, ROOT / "examples")
        return f"$ jupyter-token-count {' '.join(args)}\n{out}"

    def sample_unknown_model(self) -> str:
        cmd = [sys.executable, "-m", "jupyter_token_count.cli", "-m", "claude-sonet-4-5", "--message"]
        return _run([*cmd, '{"role": "user", "content": "Hi"}'], self.env, self.work)

    def sample_image_note(self) -> str:
        """What the image viewer's tooltip says a large image is, on a model whose image rules shrink it."""
        import io

        from PIL import Image

        from jupyter_token_count.request.document import document_from_bytes

        buf = io.BytesIO()
        Image.new("RGB", (2400, 1200), "teal").save(buf, "PNG")
        return document_from_bytes("chart.png", buf.getvalue(), model="claude-sonnet-4-6").note

    def sample_empty_frame(self) -> str:
        from jupyter_token_count import count_tokens

        nb = self.work / "Untitled.ipynb"
        nb.write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
        return count_tokens(nb).label  # the default model, as the CLI and the status bar count it


def make(names: set[str]) -> dict[str, str]:
    from jupyter_token_count.backends.offline import text

    for key in [k for k in os.environ if k.startswith(("ANTHROPIC_", "JUPYTER_TOKEN_COUNT_"))]:
        del os.environ[key]
    if not text.using_ctok():
        sys.exit("readme_samples: the samples are ctok's estimates, and ctok is not importable on this Python")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["JUPYTER_TOKEN_COUNT_DATA_DIR"] = str(Path(tmp) / "data")
        samples = Samples(Path(tmp))
        made = {}
        for name in sorted(names):
            method = getattr(samples, "sample_" + name.replace("-", "_"), None)
            if method is None:
                sys.exit(f"readme_samples: README.md marks a sample {name!r} that nothing makes")
            made[name] = method()
        return made


def render(readme: str, made: dict[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        name, fenced = m.group(1), m.group(3) is not None
        new = made[name]
        if fenced:
            fence = m.group(2).split("\n", 2)[1]
            return f"<!-- sample: {name} -->\n{fence}\n{new}\n```"
        if "`" in new or "\n" in new:
            raise SystemExit(f"readme_samples: the inline sample {name!r} cannot hold {new!r}")
        return f"<!-- sample: {name} -->`{new}`"

    return MARK.sub(one, readme)


def marked(readme: str) -> set[str]:
    return {m.group(1) for m in MARK.finditer(readme)}


def drift(readme: str | None = None) -> str:
    """The diff between the README and what the code prints now ('' when every sample is current)."""
    readme = README.read_text(encoding="utf-8") if readme is None else readme
    fresh = render(readme, make(marked(readme)))
    return "".join(
        difflib.unified_diff(
            readme.splitlines(keepends=True), fresh.splitlines(keepends=True), "README.md", "README.md (from the code)"
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="show the drift and exit 1 instead of rewriting")
    args = parser.parse_args()
    readme = README.read_text(encoding="utf-8")
    if args.check:
        diff = drift(readme)
        sys.stdout.write(diff or f"README.md: all {len(marked(readme))} samples are current\n")
        return 1 if diff else 0
    fresh = render(readme, make(marked(readme)))
    if fresh != readme:
        README.write_text(fresh, encoding="utf-8")
        print(f"README.md: samples rewritten ({len(marked(readme))} in all)")
    else:
        print("README.md: samples already current")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
