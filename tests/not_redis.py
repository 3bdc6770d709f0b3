"""A peer that is not Redis, for a ``redis_url`` pointing at the wrong port: a real socket server on a free port
that answers every connection by streaming bytes as fast as the reader takes them, in one of several shapes."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator

#: what the peer sends after accepting a connection (it never reads what it is sent)
SHAPES = {
    # random bytes, with a line break now and then
    "garbage": lambda: iter(lambda: os.urandom(65536).replace(b"\x00", b"\r\n"), b""),
    # a bulk string header announcing a gigabyte, then the gigabyte
    "huge bulk": lambda: _chain([b"$1073741824\r\n"], iter(lambda: b"x" * 65536, b"")),
    # an array header announcing a hundred million elements, then small elements forever
    "huge array": lambda: _chain([b"*100000000\r\n"], iter(lambda: b":1\r\n" * 16384, b"")),
    # one endless line (no line break ever)
    "endless line": lambda: _chain([b"+"], iter(lambda: b"a" * 65536, b"")),
    # an HTTP server's answer, as if the URL named a web server's port
    "http": lambda: iter([b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"]),
}


def _chain(first: list[bytes], rest: Iterator[bytes]) -> Iterator[bytes]:
    yield from first
    yield from rest


class NotRedis:
    def __init__(self, shape: str) -> None:
        self.shape = SHAPES[shape]
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> NotRedis:
        self._thread.start()
        return self

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            threading.Thread(target=self._stream, args=(conn,), daemon=True).start()

    def _stream(self, conn: socket.socket) -> None:
        conn.settimeout(5.0)
        try:
            for chunk in self.shape():
                if self._stop.is_set():
                    break
                conn.sendall(chunk)
                self.sent += len(chunk)
        except OSError:
            pass
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self.sock.close()
        self._thread.join(2)
