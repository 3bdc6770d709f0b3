"""A real ``redis-server`` (the Debian package) for the hub tests and bench: its own free port and
directory, no persistence, stopped (or killed, paused and restarted on the same port) on demand."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def available() -> bool:
    return Path(REDIS_SERVER).exists()


class RedisProc:
    def __init__(self, directory: Path, password: str | None = None, port: int | None = None) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.password = password
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> RedisProc:
        args = [
            REDIS_SERVER,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.dir),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--logfile",
            str(self.dir / "redis.log"),
        ]
        if self.password:
            args += ["--requirepass", self.password]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not self._answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = (self.dir / "redis.log").read_text() if (self.dir / "redis.log").exists() else ""
                self.stop()
                raise RuntimeError(f"redis-server did not start on port {self.port}: {log[-2000:]}")
            time.sleep(0.05)
        return self

    def _answers(self) -> bool:
        import redis

        try:
            return bool(self.command("PING"))
        except redis.RedisError:
            return False

    def command(self, *args: str) -> str:
        """One command (set-up and inspection only; the code under test has its own client)."""
        import redis

        client = redis.Redis(
            host="127.0.0.1", port=self.port, password=self.password, decode_responses=True, socket_timeout=2
        )
        try:
            return client.execute_command(*args)
        finally:
            client.close()

    def pause(self) -> None:
        """Freeze the process: a Redis that accepts connections but never answers (slow)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None
