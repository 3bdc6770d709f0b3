"""A real ``jupyter server`` process with the extension enabled, for tests and benches that drive it
over HTTP from other threads or processes (schemathesis, the soak): pytest-jupyter's in-process server
shares the test's event loop, so a blocking client there would wait for itself."""

from __future__ import annotations

import http.client
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

NS = "jupyter-token-count"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_argv(port: int, token: str, root: Path) -> list[str]:
    """The command that starts a real ``jupyter server`` on this port only, with token auth and no browser."""
    return [
        sys.executable,
        "-m",
        "jupyter_server",
        "--no-browser",
        "--allow-root",
        f"--port={port}",
        "--port-retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
    ]


def write_server_config(config_dir: Path, token_count_config: dict[str, Any]) -> None:
    """A Jupyter config directory enabling the extension (as the shipped config file does) with these traits."""
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "jupyter_server_config.json").write_text(
        json.dumps(
            {
                "ServerApp": {"jpserver_extensions": {"jupyter_token_count": True}},
                "TokenCountConfig": token_count_config,
            }
        )
    )


class LiveServer:
    """``with LiveServer(tmp, standin_url, api_key, rpm=...) as server:`` — ``server.url(endpoint)``,
    ``server.headers``, ``server.call(method, endpoint, body)`` and ``server.rss_kb()``."""

    def __init__(self, tmp: Path, standin_url: str | None, api_key: str | None, **token_count_config: Any) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.token = secrets.token_hex(16)
        config_dir = tmp / "config"
        tc = {"cache_dir": str(tmp / "cache"), **token_count_config}
        if standin_url:
            tc["base_url"] = standin_url
        write_server_config(config_dir, tc)
        (tmp / "root").mkdir(exist_ok=True)
        self.env = {**os.environ, "JUPYTER_CONFIG_DIR": str(config_dir)}
        self.env.pop("ANTHROPIC_BASE_URL", None)
        self.env.pop("ANTHROPIC_API_KEY", None)
        if api_key:
            self.env["ANTHROPIC_API_KEY"] = api_key
        self.log_path = tmp / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def url(self, endpoint: str) -> str:
        return f"{self.base}/{NS}/{endpoint}"

    def __enter__(self) -> LiveServer:
        log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            server_argv(self.port, self.token, self.tmp / "root"),
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 120
        while True:
            try:
                status, _ = self.call("GET", "status", timeout=5)
                if status == 200:
                    return self
            except (OSError, http.client.HTTPException):
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"jupyter server did not start:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.3)

    def __exit__(self, *exc: Any) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def call(
        self,
        method: str,
        endpoint: str,
        body: Any = None,
        *,
        timeout: float = 60,
        conn: http.client.HTTPConnection | None = None,
    ) -> tuple[int, Any]:
        """One request (on ``conn`` to keep it alive); (status, parsed JSON body)."""
        own = conn is None
        c = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            raw = None if body is None else json.dumps(body).encode()
            c.request(
                method, f"/{NS}/{endpoint}", body=raw, headers={**self.headers, "Content-Type": "application/json"}
            )
            resp = c.getresponse()
            data = resp.read()
            return resp.status, json.loads(data) if data else None
        finally:
            if own:
                c.close()

    def rss_kb(self) -> int:
        """Resident memory of the server process (Linux /proc)."""
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0
