"""Real-browser fixtures: a real `jupyter lab` / `jupyter notebook` server and Debian's Chromium.

Each server runs on a free port with token auth, a temporary root directory holding the demo
notebooks, private config/data/runtime directories (the extension is installed in sys.prefix, which
stays visible), offline counting and no API key. Chromium is never downloaded: Playwright drives
the system executable, and a missing executable fails the run with an instruction instead of
skipping it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .notebooks import write_demo_notebooks

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = os.environ.get("JTC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: generous: a cold JupyterLab page on a busy 2-core CI machine can take a while
SERVER_START_TIMEOUT = 180
PAGE_TIMEOUT_MS = 90_000
PLUGIN = "jupyter-token-count:plugin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterServer:
    """One `jupyter lab` or `jupyter notebook` process, isolated from the developer's settings."""

    def __init__(
        self,
        app: str,
        workdir: Path,
        *,
        env: dict[str, str] | None = None,
        settings: dict[str, Any] | None = None,
        args: list[str] | None = None,
        disabled_extensions: list[str] | None = None,
        jupyter: str | None = None,
    ):
        assert app in ("lab", "notebook")
        self.app = app
        self.workdir = workdir
        self.root = workdir / "root"
        self.token = uuid.uuid4().hex
        self.port = free_port()
        self.extra_env = env or {}
        self.settings = settings or {}
        self.args = args or []
        self.disabled_extensions = disabled_extensions or []
        #: the `jupyter` executable (default: this Python's); a benchmark runs another checkout's build with it
        self.jupyter = jupyter
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = ARTIFACTS / f"server-{app}-{self.port}.log"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base}{path.lstrip('/')}{sep}token={self.token}"

    def notebook_url(self, name: str) -> str:
        return self.url(f"lab/tree/{name}" if self.app == "lab" else f"notebooks/{name}")

    def api(self, path: str, body: Any = None, method: str | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.base + path.lstrip("/"),
            data=data,
            method=method or ("POST" if data is not None else "GET"),
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read() or b"null")

    def set_plugin_settings(self, plugin: str, values: dict[str, Any]) -> None:
        """Replace a plugin's user settings through the server (what the settings editor does)."""
        self.api(f"lab/api/settings/{plugin}", {"raw": json.dumps(values)}, method="PUT")

    def reset(self) -> None:
        """Fresh demo files and default extension settings, so tests do not see each other's edits."""
        write_demo_notebooks(self.root)
        self.set_plugin_settings(PLUGIN, {})

    def _write_user_settings(self, config: Path) -> None:
        settings = {
            # No news or update checks: they would reach the internet and pop up toasts.
            "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
            **self.settings,
        }
        # JupyterLab's debugger logs a console error of its own when a notebook closes while it is
        # still restoring its state after kernel start-up; it is unrelated to this extension.
        labconfig = config / "labconfig"
        labconfig.mkdir(parents=True, exist_ok=True)
        (labconfig / "page_config.json").write_text(
            json.dumps(
                {
                    "disabledExtensions": {
                        name: True for name in ["@jupyterlab/debugger-extension", *self.disabled_extensions]
                    }
                }
            )
        )
        for plugin, values in settings.items():
            pkg, name = plugin.split(":")
            target = config / "lab" / "user-settings" / pkg / f"{name}.jupyterlab-settings"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(values))

    def start(self) -> JupyterServer:
        config, data, runtime = (self.workdir / d for d in ("config", "data", "runtime"))
        for d in (self.root, config, data, runtime):
            d.mkdir(parents=True, exist_ok=True)
        self._write_user_settings(config)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "JUPYTER_TOKEN_COUNT_"))}
        env.update(
            JUPYTER_CONFIG_DIR=str(config),
            JUPYTER_DATA_DIR=str(data),
            JUPYTER_RUNTIME_DIR=str(runtime),
            JUPYTER_TOKEN_COUNT_MODE="offline",
            JUPYTER_TOKEN_COUNT_DATA_DIR=str(self.workdir / "token-count-cache"),
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        jupyter = self.jupyter or shutil.which("jupyter", path=str(Path(sys.executable).parent)) or "jupyter"
        app_class = "LabApp" if self.app == "lab" else "JupyterNotebookApp"
        cmd = [
            jupyter,
            self.app,
            "--no-browser",
            "--allow-root",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            f"--{app_class}.expose_app_in_browser=True",
        ]
        if self.app == "lab":
            cmd += [
                "--LabApp.news_url=None",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            ]
        cmd += self.args
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"jupyter {self.app} exited early; see {self.log_path}:\n{self._tail()}")
            try:
                self.api("api/status")
                self.api("jupyter-token-count/status")
                return
            except Exception as exc:
                last = exc
                time.sleep(0.5)
        raise RuntimeError(
            f"jupyter {self.app} did not serve /jupyter-token-count/status within {SERVER_START_TIMEOUT}s "
            f"(last error: {last}); is the server extension installed and enabled? Log:\n{self._tail()}"
        )

    def _tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def launch_chromium(playwright: Any) -> Any:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}. The browser tests drive Debian's chromium package and never "
            "download a browser: install it with `apt-get update && apt-get install -y chromium` "
            "(or point JTC_CHROMIUM at a Chromium executable).",
            pytrace=False,
        )
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


@pytest.fixture(autouse=True)
def jp_asyncio_loop() -> Iterator[None]:
    """Replaces pytest-jupyter's autouse fixture of this name here: on Python >= 3.12 it takes Playwright's loop,
    running in the main thread, as the test's loop and fails closing it. These tests talk to real servers over
    HTTP and need no loop of their own."""
    yield None


# package scope: Playwright's sync API keeps an event loop running in the main thread while it is open,
# which would break every later test that needs asyncio there; it closes when the browser tests are done.
@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - the test extra installs it
        pytest.fail("playwright (python) is not installed: pip install -e '.[test]'", pytrace=False)
    with sync_playwright() as pw:
        b = launch_chromium(pw)
        yield b
        b.close()


@pytest.fixture(scope="package")
def server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., JupyterServer]]:
    started: list[JupyterServer] = []

    def make(app: str = "lab", **kwargs: Any) -> JupyterServer:
        work = tmp_path_factory.mktemp(f"jupyter-{app}")
        server = JupyterServer(app, work, **kwargs)
        write_demo_notebooks(server.root)
        started.append(server)
        return server.start()

    yield make
    for s in started:
        s.stop()


@pytest.fixture(scope="module")
def lab(server_factory: Callable[..., JupyterServer]) -> JupyterServer:
    return server_factory("lab")


#: Page errors of the Jupyter front ends themselves, reproduced with this extension disabled.
KNOWN_UPSTREAM_ERRORS = [
    # Notebook 7.6's keyboard-shortcuts plugin reads `plugins[id].schema` for a plugin the settings
    # registry does not hold, on every page load (same stack with jupyter-token-count disabled).
    ("Cannot read properties of undefined (reading 'schema')", "/static/notebook/notebook_core."),
]


KERNEL_SETTLED_JS = """
() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const s = w && w.sessionContext;
  if (!s || s.isDisposed || !s.session) { return true; }
  const k = s.session.kernel;
  return !!k && (k.status === 'idle' || k.status === 'dead');
}
"""


class ConsoleWatch:
    """Collects console errors and uncaught page errors; a test fails if any appear."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        self.ignored: list[str] = []
        page.on("console", self._on_console)
        page.on("pageerror", self._on_pageerror)

    def _on_pageerror(self, exc: Any) -> None:
        stack = str(getattr(exc, "stack", "") or "")
        text = f"uncaught: {exc}\n{stack}"
        frames = [ln.strip() for ln in stack.splitlines() if ln.strip().startswith("at ")]
        top = frames[0] if frames else ""
        if any(msg in str(exc) and where in top for msg, where in KNOWN_UPSTREAM_ERRORS):
            self.ignored.append(text)
        else:
            self.errors.append(text)

    def _on_console(self, msg: Any) -> None:
        if msg.type == "error":
            loc = msg.location or {}
            self.errors.append(f"{msg.text} ({loc.get('url', '')}:{loc.get('lineNumber', '')})")


class Shots:
    def __init__(self, page: Any, test_name: str) -> None:
        self.page = page
        self.prefix = test_name.replace("[", "-").replace("]", "").replace("/", "_")
        self.n = 0
        ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def __call__(self, step: str) -> Path:
        self.n += 1
        path = ARTIFACTS / f"{self.prefix}-{self.n:02d}-{step}.png"
        self.page.screenshot(path=str(path))
        return path


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    pg = context.new_page()
    watch = ConsoleWatch(pg)
    pg.shots = Shots(pg, request.node.name)  # type: ignore[attr-defined]
    pg.console_watch = watch  # type: ignore[attr-defined]
    yield pg
    with contextlib.suppress(Exception):
        pg.shots("final")  # type: ignore[attr-defined]
    with contextlib.suppress(Exception):
        # Leaving while a kernel is still starting makes JupyterLab's kernel client log cancelled
        # futures (its subshell and debugger requests); let it settle first.
        pg.wait_for_function(KERNEL_SETTLED_JS, timeout=30_000)
    context.close()
    assert not watch.errors, "console errors:\n" + "\n".join(watch.errors)
