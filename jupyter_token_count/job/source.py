"""What a job reads: a JSONL file (Message Batches requests or request bodies), an iterable, a pandas Series or
DataFrame column, or a Dask bag / DataFrame column, cut into chunks of rows without ever holding the whole.

A chunk is a call of one of ``scan``'s functions with its rows; a local job runs chunks in this process or in
worker processes, a Dask job hands each partition to ``scan.scan_partition`` on the cluster's workers.
"""

from __future__ import annotations

import gzip
import io
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import InputError

#: a chunk of a file ends after this many bytes or rows, whichever comes first
CHUNK_BYTES = 1 << 20
CHUNK_ROWS = 2000
#: a chunk of Python values (pickled whole to a worker)
CHUNK_VALUES = 500
UTF8_BOM = b"\xef\xbb\xbf"


@dataclass
class Chunk:
    start: int
    #: "lines": [(line number, bytes)]; "values": [value]
    kind: str
    items: list[Any]
    labels: list[Any] | None = None
    #: where reading stands after this chunk (bytes of a file, else rows), for progress
    position: int = 0


class Source:
    """Rows of a job, read in chunks. ``total`` (rows, or bytes when ``unit == "bytes"``) is None when unknown."""

    name: str = "job"
    total: int | None = None
    unit: str = "rows"
    dask: Any = None  # the Dask collection, for Dask sources

    def chunks(self) -> Iterator[Chunk]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class FileSource(Source):
    """A JSONL file (``.jsonl``, ``.ndjson``, either gzip-compressed as ``.gz``), or an open binary stream of one.
    Blank lines are skipped; rows are numbered by their line."""

    unit = "bytes"

    def __init__(self, path: Path | None, stream: BinaryIO | None = None) -> None:
        self.path = path
        self._stream = stream
        if path is not None:
            where = f"file '{path}'"
            if not path.exists():
                hint = "" if path.suffix else " (a job is read from a file; one prompt is counted with count_tokens)"
                raise InputError(f"no such file{hint}", where)
            if path.is_dir():
                raise InputError("is a directory; give a JSONL file of requests", where)
            try:
                self.total = path.stat().st_size
                self._raw: BinaryIO = open(path, "rb")  # noqa: SIM115 -- closed by close()
            except OSError as exc:
                raise InputError(f"cannot be read ({exc.strerror or exc})", where) from None
            self.name = path.name
            gz = path.suffix.lower() == ".gz" or self._raw.read(2) == b"\x1f\x8b"
            self._raw.seek(0)
            self._file: BinaryIO = gzip.GzipFile(fileobj=self._raw) if gz else self._raw  # type: ignore[assignment]
        else:
            assert stream is not None
            self.name = getattr(stream, "name", "stdin") if isinstance(getattr(stream, "name", None), str) else "stdin"
            self._raw = self._file = stream
            self.total = None

    def _position(self) -> int:
        try:
            return self._raw.tell()
        except (OSError, ValueError):
            return 0

    def chunks(self) -> Iterator[Chunk]:
        where = f"file '{self.path}'" if self.path is not None else self.name
        index = 0
        lines: list[tuple[int, bytes]] = []
        size = 0
        try:
            for number, line in enumerate(self._file, 1):
                if number == 1 and line.startswith(UTF8_BOM):
                    line = line[len(UTF8_BOM) :]
                if not line.strip():
                    continue
                lines.append((number, line))
                size += len(line)
                if size >= CHUNK_BYTES or len(lines) >= CHUNK_ROWS:
                    yield Chunk(index, "lines", lines, position=self._position())
                    index += len(lines)
                    lines, size = [], 0
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise InputError(f"cannot be read ({exc})", where) from None
        if lines:
            yield Chunk(index, "lines", lines, position=self._position())

    def close(self) -> None:
        if self.path is not None:
            self._raw.close()


class ValuesSource(Source):
    """An iterable of rows (request dicts, message lists, strings), or a pandas Series (its index labels the rows)."""

    def __init__(self, values: Iterable[Any], labels: Iterable[Any] | None, name: str, total: int | None) -> None:
        self._values = values
        self._labels = labels
        self.name = name
        self.total = total

    def chunks(self) -> Iterator[Chunk]:
        values = iter(self._values)
        labels = iter(self._labels) if self._labels is not None else None
        index = 0
        while True:
            items = list(islice(values, CHUNK_VALUES))
            if not items:
                return
            labs = list(islice(labels, len(items))) if labels is not None else None
            index += len(items)
            yield Chunk(index - len(items), "values", items, labs, position=index)


class DaskSource(Source):
    def __init__(self, collection: Any, name: str) -> None:
        self.dask = collection
        self.name = name
        self.total = None


def _is_pandas(obj: Any, kind: str) -> bool:
    module = type(obj).__module__
    return (module == "pandas" or module.startswith("pandas.")) and type(obj).__name__ == kind


def _is_dask(obj: Any) -> bool:
    return type(obj).__module__.startswith("dask") and hasattr(obj, "to_delayed") and hasattr(obj, "npartitions")


def _column(frame: Any, what: str) -> Any:
    """The one column of a DataFrame that holds requests; a frame of Batches rows (custom_id, params) is kept
    as a frame and read as such."""
    columns = [str(c) for c in frame.columns]
    if {"custom_id", "params"} <= set(columns):
        return frame[["custom_id", "params"]]
    if len(columns) == 1:
        return frame[frame.columns[0]]
    shown = ", ".join(repr(c) for c in columns[:6]) + (", …" if len(columns) > 6 else "")
    raise InputError(
        f"{what} has {len(columns)} columns ({shown}): pass the column that holds the requests, e.g. df[{columns[0]!r}]"
    )


def _batch_rows(frame: Any) -> Iterator[dict[str, Any]]:
    for custom_id, params in zip(frame["custom_id"], frame["params"], strict=True):
        yield {"custom_id": custom_id, "params": params}


def open_source(source: Any) -> Source:
    """Anything estimate_job accepts → a Source; a source that cannot be read at all is an ``InputError``."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source).expanduser()
        return FileSource(path)
    if isinstance(source, (io.BufferedIOBase, io.RawIOBase)):
        return FileSource(None, source)  # type: ignore[arg-type]
    if isinstance(source, io.TextIOBase):
        buffer = getattr(source, "buffer", None)
        if buffer is None:
            raise InputError("a text stream without a byte buffer: open the file in binary mode ('rb')")
        return FileSource(None, buffer)
    if _is_dask(source):
        if type(source).__name__ == "DataFrame":
            source = _column(source, "the Dask DataFrame")
        kind = "bag" if type(source).__name__ == "Bag" else "DataFrame column"
        name = getattr(source, "name", None)
        label = f"Dask {kind}" + (f" {name!r}" if isinstance(name, str) and kind != "bag" else "")
        return DaskSource(source, f"{label} ({source.npartitions} partitions)")
    if _is_pandas(source, "DataFrame"):
        picked = _column(source, "the DataFrame")
        if _is_pandas(picked, "DataFrame"):
            return ValuesSource(_batch_rows(picked), picked.index, "DataFrame of batch requests", len(picked))
        source = picked
    if _is_pandas(source, "Series"):
        name = f"Series {source.name!r}" if source.name is not None else "Series"
        return ValuesSource(source, source.index, name, len(source))
    if isinstance(source, (bytes, bytearray, Mapping)) or not isinstance(source, Iterable):
        raise InputError(
            f"cannot read a job from a {type(source).__name__}: give a JSONL file (Message Batches requests or "
            "request bodies), an iterable of requests, message lists or strings, a pandas Series or a Dask "
            "collection (a single request is counted with count_tokens)"
        )
    total = len(source) if hasattr(source, "__len__") else None
    name = f"{type(source).__name__} of {total:,}" if total is not None else type(source).__name__
    return ValuesSource(source, None, name, total)
