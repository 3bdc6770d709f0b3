"""Content-addressed cache of exact counts: an in-memory LRU in front of SQLite.

Only API answers are stored: an estimate must never come back as exact after a restart. SQLite in WAL
mode lets several kernels and the server share one file, so a second process asking the same question
makes no upstream request.

What is read back is checked like an API answer: a row whose value is not a whole number between 0 and
``MAX_TOKENS`` (text, a blob, a negative or fractional number: a damaged or tampered file) is never
served, and is deleted. A data directory that cannot be written still serves the counts already in it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import NamedTuple

from .ratelog import RateLimitedLog

log = logging.getLogger(__name__)
#: a cache that fails on every write (a full disk, a locked file) warns once per kind every five minutes
_warn = RateLimitedLog(log)

#: the largest count believed anywhere (the API's answers, the cache's rows, a hub's shared values): 50 times
#: the largest context window of any model
MAX_TOKENS = 100_000_000


def valid_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TOKENS


class Entry(NamedTuple):
    """One exact answer: ``input_tokens``, and for a request with context editing the count before the edits."""

    input_tokens: int
    original_input_tokens: int | None = None


_SCHEMA = """
CREATE TABLE IF NOT EXISTS counts (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    created REAL NOT NULL,
    original_input_tokens INTEGER
)
"""


def _add_original_column(conn: sqlite3.Connection) -> None:
    """A file made by an older version lacks the column; add it (its rows keep NULL: no context editing)."""
    cols = {r[1] for r in conn.execute("PRAGMA table_info(counts)")}
    if "original_input_tokens" not in cols:
        try:
            conn.execute("ALTER TABLE counts ADD COLUMN original_input_tokens INTEGER")
        except sqlite3.OperationalError as exc:  # another process added it between our look and our change
            if "duplicate column" not in str(exc):
                raise


class CountCache:
    #: rows kept on disk (about 100 bytes each); the oldest go first once a write finds more
    MAX_ROWS = 200_000
    #: how many writes between two checks of that limit
    PRUNE_EVERY = 1000

    def __init__(self, directory: Path | None, memory_size: int = 4096, max_rows: int = MAX_ROWS) -> None:
        self._mem: OrderedDict[str, Entry] = OrderedDict()
        self._mem_size = memory_size
        self._max_rows = max_rows
        self._writes = 0
        self._lock = threading.Lock()
        self._local = threading.local()
        self.path: Path | None = None
        self.read_only = False
        self.hits = 0
        self.misses = 0
        self.rejected = 0  # rows found invalid and not served
        self.write_failures = 0
        #: why the last write failed; None once a write succeeds again
        self.write_error: str | None = None
        if directory is not None:
            self.path = directory / "counts.sqlite3"
            try:
                directory.mkdir(parents=True, exist_ok=True)
                self._conn()  # fail now, not on the first count
            except (OSError, sqlite3.Error) as exc:
                if self._open_read_only():
                    log.warning(
                        "token count cache at %s is read-only (%s): existing counts are used, new ones "
                        "are kept in memory only",
                        self.path,
                        exc,
                    )
                else:
                    log.warning("token count cache disabled: %s cannot be used (%s)", directory, exc)
                    self.path = None

    def _open_read_only(self) -> bool:
        """An existing cache file in a directory we cannot write: open it for reading. ``mode=ro`` needs the
        WAL index to be creatable; ``immutable=1`` does not (nobody can write there either)."""
        if self.path is None or not self.path.is_file():
            return False
        for query in ("mode=ro", "mode=ro&immutable=1"):
            try:
                conn = sqlite3.connect(
                    f"{self.path.resolve().as_uri()}?{query}",
                    uri=True,
                    timeout=5.0,
                    isolation_level=None,
                    check_same_thread=False,
                )
                conn.execute("SELECT input_tokens FROM counts LIMIT 1").fetchall()
            except sqlite3.Error:
                continue
            self.read_only = True
            self._ro_uri = query
            self._local.conn = conn
            return True
        return False

    def _conn(self) -> sqlite3.Connection | None:
        if self.path is None:
            return None
        conn = getattr(self._local, "conn", None)
        if conn is None and self.read_only:
            conn = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?{self._ro_uri}", uri=True, timeout=5.0, isolation_level=None
            )
            self._local.conn = conn
        elif conn is None:
            # one connection per thread: sqlite3 objects must not cross threads
            conn = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute(_SCHEMA)
                _add_original_column(conn)
            except sqlite3.Error:
                conn.close()  # a half-open connection would keep its lock until collected
                raise
            self._local.conn = conn
        return conn

    def get(self, key: str) -> int | None:
        entry = self.entry(key)
        return None if entry is None else entry.input_tokens

    def entry(self, key: str) -> Entry | None:
        """The exact answer stored under ``key`` (memory first, then SQLite), or None."""
        with self._lock:
            if key in self._mem:
                self._mem.move_to_end(key)
                self.hits += 1
                return self._mem[key]
        value = None
        try:
            conn = self._conn()
            if conn is not None:
                row = conn.execute(
                    f"SELECT input_tokens, {self._original_column()} FROM counts WHERE key = ?", (key,)
                ).fetchone()
                if row is not None and valid_count(row[0]) and (row[1] is None or valid_count(row[1])):
                    value = Entry(row[0], row[1])
                elif row is not None:
                    self._reject(conn, key, row[0] if not valid_count(row[0]) else row[1])
        except sqlite3.Error as exc:
            _warn.warning("read", "token count cache read failed: %s", exc)
        with self._lock:
            if value is None:
                self.misses += 1
            else:
                self.hits += 1
                self._remember(key, value)
        return value

    def _original_column(self) -> str:
        """A read-only file written by an older version has no ``original_input_tokens`` column: read NULL."""
        if not self.read_only:
            return "original_input_tokens"
        if not hasattr(self, "_ro_original"):
            conn = self._conn()
            cols = {r[1] for r in conn.execute("PRAGMA table_info(counts)")} if conn is not None else set()
            self._ro_original = "original_input_tokens" in cols
        return "original_input_tokens" if self._ro_original else "NULL"

    def close(self) -> None:
        """Close this thread's connection (the last one to close checkpoints the WAL into the file)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _reject(self, conn: sqlite3.Connection, key: str, value: object) -> None:
        with self._lock:
            self.rejected += 1
        _warn.warning("damaged", "token count cache: ignoring a damaged row (value %.40r is not a token count)", value)
        if not self.read_only:
            try:
                conn.execute("DELETE FROM counts WHERE key = ?", (key,))
            except sqlite3.Error as exc:
                _warn.warning("delete", "token count cache: could not delete the damaged row: %s", exc)

    def put(self, key: str, model: str, input_tokens: int, original_input_tokens: int | None = None) -> None:
        if not valid_count(input_tokens) or not (original_input_tokens is None or valid_count(original_input_tokens)):
            # the backend checks answers; this guards every other caller
            log.warning("token count cache: refusing to store %.40r", (input_tokens, original_input_tokens))
            return
        entry = Entry(int(input_tokens), None if original_input_tokens is None else int(original_input_tokens))
        with self._lock:
            self._remember(key, entry)
        if self.read_only:
            return
        try:
            conn = self._conn()
            if conn is not None:
                conn.execute(
                    "INSERT OR REPLACE INTO counts (key, model, input_tokens, created, original_input_tokens) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (key, model, entry.input_tokens, time.time(), entry.original_input_tokens),
                )
                with self._lock:
                    self._writes += 1
                    prune = self._writes % self.PRUNE_EVERY == 1 or self._max_rows < self.PRUNE_EVERY
                if prune:
                    self._prune(conn)
        except sqlite3.Error as exc:
            with self._lock:
                self.write_failures += 1
                self.write_error = f"{type(exc).__name__}: {exc}"[:200]
            _warn.warning(
                "write", "token count cache write failed (new counts are kept in memory only): %s", self.write_error
            )
        else:
            if self.write_error is not None:
                with self._lock:
                    self.write_error = None

    def _prune(self, conn: sqlite3.Connection) -> None:
        """Keep the file from growing without end: drop the oldest rows beyond ``max_rows``."""
        (rows,) = conn.execute("SELECT COUNT(*) FROM counts").fetchone()
        if rows > self._max_rows:
            conn.execute(
                "DELETE FROM counts WHERE key IN (SELECT key FROM counts ORDER BY created LIMIT ?)",
                (rows - self._max_rows,),
            )

    def _remember(self, key: str, value: Entry) -> None:
        self._mem[key] = value
        self._mem.move_to_end(key)
        while len(self._mem) > self._mem_size:
            self._mem.popitem(last=False)

    def stats(self) -> dict[str, object]:
        size = None
        try:
            conn = self._conn()
            if conn is not None:
                size = conn.execute("SELECT COUNT(*) FROM counts").fetchone()[0]
        except sqlite3.Error:
            pass
        with self._lock:
            return {
                "hits": self.hits,
                "misses": self.misses,
                "memory_entries": len(self._mem),
                "persistent_entries": size,
                "persistent": self.path is not None,
                "read_only": self.read_only,
                # what a user needs to know: are new counts being kept? (not while writes fail)
                "writable": self.path is not None and not self.read_only and self.write_error is None,
                "write_failures": self.write_failures,
                "write_error": self.write_error,
                "rejected": self.rejected,
            }
