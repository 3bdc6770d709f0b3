"""Counting many inputs for the CLI: finding them (directories walked), counting each one on its own so a
bad file never stops the others, in this process or in worker processes, with results in input order.

Every input gives rows (one per model) that either hold a count or the one-line error naming the input.
"""

from __future__ import annotations

import asyncio
import fnmatch
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from .errors import EXIT_BAD_INPUT, EXIT_COULD_NOT_COUNT, EXIT_OK, ApiRequestTooLarge, TokenCountError

#: what a directory is searched for unless --include says more
DEFAULT_INCLUDE = ("*.ipynb",)
#: never walked into: tool caches and installed packages hold notebooks nobody means to count
SKIP_DIRS = frozenset({"node_modules", "__pycache__", "site-packages"})


@dataclass
class Input:
    name: str
    obj: Any
    notebook: Path | None = None


@dataclass
class Options:
    models: list[str | None]
    system: str | None = None
    tools: list[Any] | None = None
    #: anthropic-beta values every input is counted with (--beta)
    betas: list[str] | None = None
    include_outputs: bool = False
    mode: str | None = None
    per_cell: bool = False
    #: model ids the caller already checked (the -m ones); others (a request file's own) are checked here
    checked_models: frozenset[str] = frozenset()
    #: the warnings those checks gave (an unknown id allowed with --allow-unknown-model)
    model_warnings: dict[str, str] = field(default_factory=dict)
    allow_unknown_model: bool = False


@dataclass
class Row:
    input: str
    model: str
    result: Any = None  # TokenCount
    error: str | None = None
    code: int = EXIT_OK
    cells: Any = None  # CellsResult, with --per-cell
    first_lines: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    over: list[str] = field(default_factory=list)  # which budgets it breaks (set by the CLI)

    @property
    def ok(self) -> bool:
        return self.error is None


# -- finding inputs -----------------------------------------------------------------------------------
def excluded(path: str | Path, globs: Sequence[str]) -> bool:
    """True when ``path`` (as given, or relative to the directory walked) matches an --exclude glob: as a
    whole path, as a trailing part of one (``drafts/*``), or by one of its directory or file names."""
    posix = PurePosixPath(Path(path).as_posix())
    text = str(posix)
    for glob in globs:
        g = glob.rstrip("/")
        if (
            fnmatch.fnmatch(text, g)
            or fnmatch.fnmatch(text, f"*/{g}")
            or any(fnmatch.fnmatch(p, g) for p in posix.parts)
        ):
            return True
    return False


def walk(root: Path, include: Sequence[str], exclude: Sequence[str]) -> list[Path]:
    """Files under ``root`` matching an include glob (by name), hidden directories and SKIP_DIRS left out,
    in a stable (sorted) order."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        rel_dir = here.relative_to(root)
        dirnames[:] = sorted(
            d for d in dirnames if not d.startswith(".") and d not in SKIP_DIRS and not excluded(rel_dir / d, exclude)
        )
        for name in sorted(filenames):
            if name.startswith(".") or not any(fnmatch.fnmatch(name, g) for g in include):
                continue
            if not excluded(rel_dir / name, exclude):
                found.append(here / name)
    return found


# -- counting one input -------------------------------------------------------------------------------
def _where(name: str, exc: Exception) -> str:
    text = str(exc)
    return text if name in text else f"{name}: {text}"


def _failure(name: str, exc: BaseException) -> tuple[str, int]:
    """An exception → (one line naming the input, exit code)."""
    if isinstance(exc, TokenCountError):  # each error class declares its exit code
        return _where(name, exc), exc.exit_code
    if isinstance(exc, OSError):
        return f"{name}: cannot be read ({exc.strerror or exc})", EXIT_BAD_INPUT
    return f"{name}: internal error ({type(exc).__name__}: {exc}); please report it", EXIT_COULD_NOT_COUNT


async def acount_input(counter: Any, inp: Input, opts: Options) -> list[Row]:
    """One input under every model: a row each, or one error row where the input itself is bad."""
    from .api import acount_request, with_warning
    from .cells import acount_cells
    from .modelcheck import check_model
    from .request import build_request, load_notebook

    rows: list[Row] = []
    cells = None
    for model in opts.models:
        shown_model = model or counter.settings.model
        try:
            if isinstance(inp.obj, BaseException):  # found bad while gathering (e.g. a missing file)
                raise inp.obj
            req = build_request(
                inp.obj,
                model=model,
                system=opts.system,
                tools=opts.tools,
                betas=opts.betas,
                default_model=counter.settings.model,
                include_outputs=opts.include_outputs,
                max_bytes=counter.settings.max_request_bytes,
            )
            shown_model = req.model
            warning = opts.model_warnings.get(req.model)
            if req.model not in opts.checked_models:
                warning = check_model(req.model, counter.settings, opts.mode, strict=not opts.allow_unknown_model)
            res = with_warning(await acount_request(counter, req, opts.mode), warning)
            row = Row(inp.name, req.model, res, warnings=list(res.warnings))
            if opts.per_cell and inp.notebook is not None:
                if cells is None:
                    text = inp.notebook.read_text(encoding="utf-8")
                    cells = load_notebook(text, where=inp.name) if text.strip() else []
                row.cells = await acount_cells(
                    counter, cells, req.model, include_outputs=opts.include_outputs, mode=opts.mode
                )
                row.first_lines = {c.id: next((ln for ln in c.source.splitlines() if ln.strip()), "") for c in cells}
            rows.append(row)
        except Exception as exc:
            message, code = _failure(inp.name, exc)
            rows.append(Row(inp.name, shown_model, error=message, code=code))
            if code == EXIT_BAD_INPUT and not isinstance(exc, ApiRequestTooLarge):
                break  # the input itself is bad: the same under every model
    return rows


# -- many inputs --------------------------------------------------------------------------------------
def _init_worker(rpm: int) -> None:
    from .api import configure

    configure(rpm=rpm)  # a fresh counter per process; the processes share the API's rate limit between them


def _work(inp: Input, opts: Options) -> list[Row]:
    from .api import get_counter

    counter = get_counter()
    return counter.run(acount_input(counter, inp, opts))


def _context() -> Any:
    # fork: workers start at once with everything imported; elsewhere (macOS, Windows) it is unsafe or absent
    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork")
    return None


ProgressFactory = Callable[[int], AbstractContextManager[Callable[[], None]]]


@contextmanager
def _no_progress(total: int) -> Iterator[Callable[[], None]]:
    yield lambda: None


def count_all(inputs: Sequence[Input], opts: Options, jobs: int, progress: ProgressFactory | None = None) -> list[Row]:
    """Rows for every input, in input order, whatever ``jobs`` is. ``progress(total)`` is entered once the
    work is under way and yields a callable ticked once per input."""
    from .api import get_counter

    progress = progress or _no_progress
    counter = get_counter()
    jobs = max(1, min(jobs, len(inputs)))
    if jobs == 1:
        with progress(len(inputs)) as tick:

            async def one(inp: Input) -> list[Row]:
                try:
                    return await acount_input(counter, inp, opts)
                finally:
                    tick()

            async def every() -> list[list[Row]]:
                return list(await asyncio.gather(*(one(i) for i in inputs)))

            per_input = counter.run(every())
        return [row for rows in per_input for row in rows]

    rpm = max(1, counter.settings.rpm // jobs)
    done: list[list[Row] | None] = [None] * len(inputs)
    with ProcessPoolExecutor(
        max_workers=jobs, mp_context=_context(), initializer=_init_worker, initargs=(rpm,)
    ) as pool:
        # submitting starts the workers: before the progress bar's thread exists, so they fork a single thread
        futures = {pool.submit(_work, inp, opts): i for i, inp in enumerate(inputs)}
        with progress(len(inputs)) as tick:
            for fut in as_completed(futures):
                i = futures[fut]
                try:
                    done[i] = fut.result()
                except Exception as exc:  # a worker died (e.g. out of memory): the input still gets its row
                    message, code = _failure(inputs[i].name, exc)
                    done[i] = [Row(inputs[i].name, opts.models[0] or counter.settings.model, error=message, code=code)]
                tick()
    return [row for rows in done for row in rows or []]
