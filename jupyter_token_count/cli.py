"""``jupyter-token-count`` (also ``jupyter token-count``): count Claude input tokens from the shell."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import __version__
from .errors import ApiRequestTooLarge, InputError, InvalidRequest, TokenCountError

PROG = "jupyter-token-count"

EXAMPLES = """\
examples:
  jupyter-token-count prompt.md
      count a text file as one user message
  echo "Hello, Claude" | jupyter-token-count
      count what arrives on stdin (plain text, or JSON: a message list or a request body)
  jupyter-token-count analysis.ipynb --per-cell
      a notebook as one user message, with each cell's share
  jupyter-token-count chat.json -m claude-opus-4-8 -m claude-sonnet-4-6
      the same conversation under two tokenizers, side by side with costs
  jupyter-token-count --message '{"role": "user", "content": "Hi"}' --system "Be brief"
      build the request on the command line
  jupyter-token-count request.json --tool "$(cat weather_tool.json)"
      add a tool definition (repeatable)
  jupyter-token-count notebooks/*.ipynb --json | jq '.[].input_tokens'
      machine-readable output: one object per input and model
  jupyter-token-count prompt.md --budget 4000 || echo "over budget"
      exit 1 when any input is over N tokens

counts are exact when ANTHROPIC_API_KEY is set (through Anthropic's free count_tokens endpoint),
otherwise offline estimates, always marked with ≈ and the reason.

exit status: 0 counted, 1 an input is over --budget, 2 bad input, 3 could not count (API or configuration error)
environment: ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL, JUPYTER_TOKEN_COUNT_MODEL (default model),
             JUPYTER_TOKEN_COUNT_MODE (auto, api or offline),
             JUPYTER_TOKEN_COUNT_DATA_DIR (where exact counts are cached)
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Count the input tokens a prompt costs on Claude: exact through the API, or an honest offline estimate.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("files", nargs="*", metavar="FILE",
                   help="inputs: .ipynb notebooks, .json (message list or request body), text files, images, PDFs; - for stdin")
    p.add_argument("-m", "--model", action="append", default=None,
                   help="Claude model id; repeat to compare models (default: $JUPYTER_TOKEN_COUNT_MODEL or the newest Sonnet)")
    p.add_argument("--message", action="append", default=[], metavar="JSON",
                   help='a message as JSON, e.g. \'{"role": "user", "content": "Hi"}\' (repeatable; together they form one input)')
    p.add_argument("-s", "--system", default=None, metavar="TEXT", help="system prompt for every input")
    p.add_argument("--tool", action="append", default=[], metavar="JSON", help="a tool definition as JSON (repeatable)")
    p.add_argument("--per-cell", action="store_true", help="for notebooks: a table of each cell's tokens")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--include-outputs", dest="include_outputs", action="store_true", default=False,
                     help="for notebooks: count cell outputs too (text, PNG/JPEG images)")
    out.add_argument("--no-outputs", dest="include_outputs", action="store_false", help="for notebooks: sources only (default)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--offline", action="store_true", help="estimate offline; never call the API")
    mode.add_argument("--api", action="store_true", help="require exact counts from the API")
    p.add_argument("--json", action="store_true", help="print JSON: one object for one input, an array for several")
    p.add_argument("--budget", type=int, default=None, metavar="N", help="exit 1 if any input is over N tokens")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


class _Fail(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Input:
    name: str
    obj: Any
    notebook: Path | None = None


def _read_stdin() -> Any:
    text = sys.stdin.read()
    stripped = text.lstrip()
    if stripped[:1] in ("[", "{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise _Fail(f"stdin: looks like JSON but is invalid (line {exc.lineno}, column {exc.colno}: {exc.msg})", 2) from None
    if not stripped:
        raise _Fail("stdin: empty, nothing to count", 2)
    return text


def _json_arg(value: str, what: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise _Fail(f"{what}: invalid JSON (column {exc.colno}: {exc.msg})", 2) from None


def gather_inputs(args: argparse.Namespace) -> list[Input]:
    inputs: list[Input] = []
    for f in args.files:
        if f == "-":
            inputs.append(Input("stdin", _read_stdin()))
            continue
        path = Path(f)
        if not path.exists():
            raise _Fail(f"file '{f}': no such file", 2)
        inputs.append(Input(f, path, path if path.suffix.lower() == ".ipynb" else None))
    if args.message:
        msgs = [_json_arg(m, f"--message {i + 1}") for i, m in enumerate(args.message)]
        inputs.append(Input("--message", msgs))
    if not inputs:
        if sys.stdin.isatty():
            raise _Fail("nothing to count: give a FILE, --message, or pipe text in (see --help)", 2)
        inputs.append(Input("stdin", _read_stdin()))
    return inputs


def _tools(args: argparse.Namespace) -> list[Any] | None:
    if not args.tool:
        return None
    tools: list[Any] = []
    for i, t in enumerate(args.tool):
        value = _json_arg(t, f"--tool {i + 1}")
        tools.extend(value if isinstance(value, list) else [value])
    return tools


def _where(name: str, exc: InputError) -> str:
    text = str(exc)
    return text if name in text else f"{name}: {text}"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _main(args)
    except _Fail as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return exc.code
    except TokenCountError as exc:  # e.g. a bad $JUPYTER_TOKEN_COUNT_MODE: a configuration error
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


def _main(args: argparse.Namespace) -> int:
    from .api import get_counter
    from .request import build_request, load_notebook

    counter = get_counter()
    # None: a request file's own model, else the default
    models: list[str | None] = args.model or [None]
    mode = "offline" if args.offline else "api" if args.api else None
    inputs = gather_inputs(args)
    tools = _tools(args)

    # Build every request first: bad input is reported before anything is counted.
    jobs: list[tuple[Input, str, Any]] = []
    problems: list[str] = []
    for inp in inputs:
        for model in models:
            try:
                req = build_request(inp.obj, model=model, system=args.system, tools=tools, default_model=counter.settings.model,
                                    include_outputs=args.include_outputs, max_bytes=counter.settings.max_request_bytes)
            except InputError as exc:
                problems.append(_where(inp.name, exc))
                break
            jobs.append((inp, req.model, req))
    if problems:
        for line in problems:
            print(f"{PROG}: {line}", file=sys.stderr)
        return 2

    cell_jobs: list[tuple[Input, str, Any]] = []
    if args.per_cell:
        for inp in inputs:
            if inp.notebook is not None:
                try:
                    cells = load_notebook(inp.notebook.read_text(encoding="utf-8"))
                except (InputError, OSError, UnicodeDecodeError) as exc:
                    raise _Fail(f"{inp.name}: {exc}", 2) from None
                cell_jobs.extend((inp, m or counter.settings.model, cells) for m in models)

    results, cell_results = counter.run(_count_all(counter, jobs, cell_jobs, mode, args.include_outputs))

    failures = [(inp, r) for (inp, _, _), r in zip(jobs, results, strict=True) if isinstance(r, BaseException)]
    failures += [(inp, r) for (inp, _, _), r in zip(cell_jobs, cell_results, strict=True) if isinstance(r, BaseException)]
    if failures:
        code = 3
        for inp, exc in failures:
            if isinstance(exc, (InvalidRequest, ApiRequestTooLarge, InputError)):
                code = 2
            elif not isinstance(exc, TokenCountError):
                exc = TokenCountError(f"internal error ({type(exc).__name__}: {exc})")
            print(f"{PROG}: {inp.name}: {exc}", file=sys.stderr)
        return code

    per_cell = {(inp.name, m): (cells, r) for (inp, m, cells), r in zip(cell_jobs, cell_results, strict=True)}
    rows = [(inp, m, r) for (inp, m, _), r in zip(jobs, results, strict=True)]
    if args.json:
        _print_json(rows, per_cell)
    else:
        _print_table(rows, per_cell, len(models) > 1)

    if args.budget is not None:
        over = [(inp, m, r) for inp, m, r in rows if r.input_tokens > args.budget]
        for inp, m, r in over:
            print(f"{PROG}: {inp.name}: {r.label} tokens on {m} is over the budget of {args.budget:,}", file=sys.stderr)
        if over:
            return 1
    return 0


async def _count_all(counter: Any, jobs: list[Any], cell_jobs: list[Any], mode: str | None,
                     include_outputs: bool) -> tuple[list[Any], list[Any]]:
    from .cells import acount_cells

    coros = [counter.acount(req, mode) for _, _, req in jobs]
    cell_coros = [acount_cells(counter, cells, m, include_outputs=include_outputs, mode=mode) for _, m, cells in cell_jobs]
    total = len(coros) + len(cell_coros)
    show = sys.stderr.isatty() and total > 2  # a progress bar only where someone watches many files
    if not show:
        results = await asyncio.gather(*coros, return_exceptions=True)
        cell_results = await asyncio.gather(*cell_coros, return_exceptions=True)
        return list(results), list(cell_results)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("counting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  transient=True, console=_console(stderr=True)) as progress:
        task = progress.add_task("count", total=total)

        async def tick(coro: Any) -> Any:
            try:
                return await coro
            except Exception as exc:
                return exc
            finally:
                progress.advance(task)

        results = await asyncio.gather(*(tick(c) for c in coros))
        cell_results = await asyncio.gather(*(tick(c) for c in cell_coros))
    return list(results), list(cell_results)


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal:  # piped: do not squeeze the table into 80 columns
        console = Console(stderr=stderr, highlight=False, width=160)
    return console


def _short(name: str) -> str:
    """A path as the user would write it: relative to the working directory when inside it."""
    try:
        return str(Path(name).resolve().relative_to(Path.cwd()))
    except (ValueError, OSError):
        return name


def _print_json(rows: list[Any], per_cell: dict[Any, Any]) -> None:
    out = []
    for inp, m, r in rows:
        d = {"input": inp.name, **r.to_dict()}
        if (inp.name, m) in per_cell:
            d["per_cell"] = per_cell[inp.name, m][1].to_dict()
        out.append(d)
    print(json.dumps(out[0] if len(out) == 1 else out, indent=2, ensure_ascii=False))


def _print_table(rows: list[Any], per_cell: dict[Any, Any], compare: bool) -> None:
    from rich.table import Table

    from .result import format_cost

    console = _console()
    for (name, m), (sources, cells) in per_cell.items():
        first_lines = {c.id: next((ln for ln in c.source.splitlines() if ln.strip()), "") for c in sources}
        t = Table(title=f"{_short(name)} · {cells.display_name or m}", title_justify="left", show_edge=False)
        t.add_column("cell", justify="right", no_wrap=True, min_width=4)
        t.add_column("type", no_wrap=True, min_width=8)
        t.add_column("tokens", justify="right", no_wrap=True, min_width=7)
        t.add_column("first line", overflow="ellipsis", no_wrap=True, max_width=72)
        prefix = "" if cells.exact else "≈"
        for c in cells.cells:
            if c.tokens:
                t.add_row(str(c.index + 1), c.cell_type, f"{'' if c.exact else '≈'}{c.tokens:,}", first_lines.get(c.id, ""))
        # the rest is the request frame and the joins between cells: the rows add up to the one-request total
        t.add_row("", "joins+frame", f"{prefix if cells.exact else '≈'}{cells.joins_and_frame:,}", "")
        t.add_row("", "total", f"{prefix}{cells.total:,}", "the notebook counted as one request")
        console.print(t)

    t = Table(show_edge=False, header_style="bold")
    t.add_column("input", overflow="fold")
    t.add_column("model", no_wrap=True)
    t.add_column("tokens", justify="right", no_wrap=True, min_width=7)
    t.add_column("cost (input)", justify="right", no_wrap=True)
    t.add_column("context window", justify="right", no_wrap=True)
    if compare:
        t.add_column("vs first", justify="right")
    first: dict[str, int] = {}  # each input's count under the first model, for the comparison column
    for inp, m, r in rows:
        frac = r.context_fraction
        cells = [_short(inp.name), r.display_name or m, r.label, format_cost(r.cost_usd),
                 f"{frac:.2%} of {r.context_window:,}" if frac is not None else "unknown"]
        if compare:
            if inp.name not in first:
                first[inp.name] = r.input_tokens
                cells.append("—")
            else:
                base = first[inp.name]
                cells.append(f"{(r.input_tokens - base) / base:+.1%}" if base else "")
        t.add_row(*cells)
    console.print(t)
    reasons = sorted({r.reason for _, _, r in rows if not r.exact and r.reason})
    for reason in reasons:
        console.print(f"≈ estimate: {reason}", style="dim")
    exact = sum(1 for _, _, r in rows if r.exact)
    if exact and reasons:
        console.print(f"{exact} of {len(rows)} counts are exact (from the API)", style="dim")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
