"""``jupyter-token-count`` (also ``jupyter token-count``): count Claude input tokens from the shell."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import __version__
from .batch import Input, Options, Row, count_all
from .errors import (
    EXIT_BAD_INPUT,
    EXIT_COULD_NOT_COUNT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_OVER_BUDGET,
    InputError,
    TokenCountError,
)
from .markup import console, reader_may_leave
from .project_config import ConfigError, find_config, read_config
from .report import RENDERERS, Budgets, apply_budgets, build_report

PROG = "jupyter-token-count"

EXAMPLES = """\
examples:
  jupyter-token-count prompt.md
      count a text file as one user message
  echo "Hello, Claude" | jupyter-token-count
      count what arrives on stdin (plain text, or JSON: a message list or a request body)
  jupyter-token-count analysis.ipynb --per-cell
      a notebook as one user message, with each cell's share
  jupyter-token-count notebooks/ --exclude 'drafts/*' --max-tokens 50000
      every notebook under a folder, one row each; exit 1 if one is over 50,000 tokens
  jupyter-token-count notebooks/ --max-tokens 50000 --strict
      the same, but an estimate is over when the top of its likely range is
  jupyter-token-count . --include '*.md' --max-context-fraction 0.25
      notebooks and markdown files; exit 1 if one takes over a quarter of its model's context window
  jupyter-token-count notebooks/ --format markdown >> "$GITHUB_STEP_SUMMARY"
      a report for a CI job summary or a pull-request comment (also: --format json, --format csv)
  jupyter-token-count chat.json -m claude-opus-4-8 -m claude-sonnet-4-6
      the same conversation under two tokenizers, side by side with costs
  jupyter-token-count --message '{"role": "user", "content": "Hi"}' --system "Be brief"
      build the request on the command line
  jupyter-token-count request.json --tool "$(cat weather_tool.json)"
      add a tool definition (repeatable)
  jupyter-token-count request.json --beta interleaved-thinking-2025-05-14
      count with a beta (repeatable); a request body's own "betas" are used too
  jupyter-token-count notebooks/ --json | jq '.[].input_tokens'
      machine-readable output: an array, one object per input and model (one file alone gives one object)
  jupyter-token-count estimate batch.jsonl
      what a Message Batches file or a JSONL of requests will cost (see: jupyter-token-count estimate --help)

counts are exact when ANTHROPIC_API_KEY is set (through Anthropic's free count_tokens endpoint),
otherwise offline estimates, always marked with ≈ and the reason, with the range that holds the real count
nine times in ten ("likely 1,228–1,241"; low and high in --json and --format csv).

batches: every input gets its row, counted or with its error; one bad file never stops the others.
An empty notebook (no cells, or only empty ones) or an empty file counts as the request frame alone:
what any one-message request costs before its content (a few tokens), the same total JupyterLab shows.
With -j/--jobs N, files are read and counted in N processes; the rows and their order are the same.

unknown models: an id that neither this package's model list nor, with a key, the API's own list
(GET /v1/models) knows is an error naming the closest ids. Without a key nothing can confirm a model
newer than this release: --allow-unknown-model estimates it with a guessed tokenizer (with a warning).

exit status: 0 all counted and within budget, 1 an input is over a budget (--max-tokens,
             --max-context-fraction, --total-budget), 2 an input is bad (unreadable, corrupt, not a
             notebook, unknown model), 3 could not count (API or configuration error); the highest wins
configuration: defaults for --max-tokens, --max-context-fraction, --total-budget, --strict, -m, --include,
             --exclude and --include-outputs from [tool.jupyter-token-count] in the nearest pyproject.toml, e.g.
               [tool.jupyter-token-count]
               max-tokens = 50000
               exclude = ["drafts/*"]
environment: ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL, JUPYTER_TOKEN_COUNT_MODEL (default model),
             JUPYTER_TOKEN_COUNT_MODE (auto, api or offline),
             JUPYTER_TOKEN_COUNT_DATA_DIR (where exact counts are cached)
"""

FORMATS = tuple(RENDERERS)
#: the subcommand that estimates a job (``jupyter_token_count.job.cli``)
SUBCOMMAND = "estimate"


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {n}")
    return n


def _token_budget(text: str) -> int:
    try:
        n = int(text.replace(",", "").replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of tokens, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a number of tokens above 0, got {n}")
    return n


def _fraction(text: str) -> float:
    try:
        f = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction such as 0.5 (or 50%), got {text!r}") from None
    if not 0 < f <= 1:
        raise argparse.ArgumentTypeError(f"expected a fraction above 0 and at most 1 (or 100%), got {text!r}")
    return f


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Count the input tokens a prompt costs on Claude: exact through the API, "
        "or an honest offline estimate.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "files",
        nargs="*",
        metavar="PATH",
        help="inputs: .ipynb notebooks, .json (message list or request body), text files, images, PDFs; "
        "a directory is searched for notebooks (see --include); - for stdin",
    )
    p.add_argument(
        "-m",
        "--model",
        action="append",
        default=None,
        help="Claude model id; repeat to compare models (default: $JUPYTER_TOKEN_COUNT_MODEL or the newest Sonnet)",
    )
    p.add_argument(
        "--message",
        action="append",
        default=[],
        metavar="JSON",
        help='a message as JSON, e.g. \'{"role": "user", "content": "Hi"}\' (repeatable; together they form one input)',
    )
    p.add_argument("-s", "--system", default=None, metavar="TEXT", help="system prompt for every input")
    p.add_argument("--tool", action="append", default=[], metavar="JSON", help="a tool definition as JSON (repeatable)")
    p.add_argument(
        "--beta",
        action="append",
        default=[],
        metavar="NAME",
        help="count with this anthropic-beta value (repeatable), added to a request file's own betas; the betas "
        "a request's fields need (context_management, mcp_servers, Files-API sources, output_format) are added anyway",
    )
    p.add_argument("--per-cell", action="store_true", help="for notebooks: a table of each cell's tokens")
    out = p.add_mutually_exclusive_group()
    out.add_argument(
        "--include-outputs",
        dest="include_outputs",
        action="store_true",
        default=False,
        help="for notebooks: count cell outputs (text, PNG/JPEG images) and images attached to markdown cells",
    )
    out.add_argument(
        "--no-outputs",
        dest="include_outputs",
        action="store_false",
        help="for notebooks: the cells' text only (default)",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--offline", action="store_true", help="estimate offline; never call the API")
    mode.add_argument("--api", action="store_true", help="require exact counts from the API")
    p.add_argument(
        "--allow-unknown-model",
        action="store_true",
        help="estimate for a model id nobody can confirm (newer than this release) instead of failing",
    )

    found = p.add_argument_group("many files")
    found.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="GLOB",
        help="in directories, also count files named like GLOB, e.g. '*.md' (repeatable; notebooks always)",
    )
    found.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="skip paths matching GLOB, e.g. 'drafts/*' or 'scratch*.ipynb' (repeatable); "
        "hidden folders, node_modules and site-packages are never searched",
    )
    found.add_argument(
        "-j",
        "--jobs",
        type=_positive_int,
        default=None,
        metavar="N",
        help=f"count in N processes (default: the number of CPUs, {os.cpu_count() or 1} here)",
    )

    budgets = p.add_argument_group("budgets (exit 1 when one is broken)")
    budgets.add_argument(
        "--max-tokens",
        "--budget",
        dest="budget",
        type=_token_budget,
        default=None,
        metavar="N",
        help="an input over N tokens",
    )
    budgets.add_argument(
        "--max-context-fraction",
        type=_fraction,
        default=None,
        metavar="F",
        help="an input taking more than F (e.g. 0.5 or 50%%) of its model's context window",
    )
    budgets.add_argument(
        "--total-budget",
        type=_token_budget,
        default=None,
        metavar="N",
        help="all inputs together over N tokens (per model)",
    )
    budgets.add_argument(
        "--strict",
        action="store_true",
        default=False,
        help="compare an estimate's upper end (the top of the range that holds the real count nine times in "
        "ten) with the budgets, not the estimate itself: for CI that must never let a prompt over its budget "
        "through (exact counts are their own upper end)",
    )

    report = p.add_argument_group("output")
    report.add_argument(
        "-f",
        "--format",
        choices=FORMATS,
        default=None,
        help="table (default), json, csv, or markdown (for a CI job summary or a pull-request comment)",
    )
    report.add_argument("--json", action="store_true", help="the same as --format json")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


class _Fail(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def _read_stdin() -> Any:
    text = sys.stdin.read()
    stripped = text.lstrip()
    if stripped[:1] in ("[", "{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise _Fail(
                f"stdin: looks like JSON but is invalid (line {exc.lineno}, column {exc.colno}: {exc.msg})",
                EXIT_BAD_INPUT,
            ) from None
    if not stripped:
        raise _Fail("stdin: empty, nothing to count", EXIT_BAD_INPUT)
    return text


def _json_arg(value: str, what: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise _Fail(f"{what}: invalid JSON (column {exc.colno}: {exc.msg})", EXIT_BAD_INPUT) from None


def gather_inputs(args: argparse.Namespace) -> list[Input]:
    """Files as given, directories walked; a path that does not exist still gets its (error) row."""
    from .batch import DEFAULT_INCLUDE, excluded, walk

    inputs: list[Input] = []
    include = (*DEFAULT_INCLUDE, *args.include)
    for f in args.files:
        if f == "-":
            inputs.append(Input("stdin", _read_stdin()))
            continue
        path = Path(f)
        if path.is_dir():
            found = walk(path, include, args.exclude)
            if not found:
                inputs.append(
                    Input(
                        f,
                        InputError(
                            f"no files named {' or '.join(include)} in this directory"
                            + (" (after --exclude)" if args.exclude else ""),
                            f"directory '{f}'",
                        ),
                    )
                )
            inputs.extend(Input(str(p), p, p if p.suffix.lower() == ".ipynb" else None) for p in found)
        elif excluded(path, args.exclude):
            continue
        elif not path.exists():
            hint = (
                f" (to estimate a job, {SUBCOMMAND} comes first: {PROG} {SUBCOMMAND} FILE)" if f == SUBCOMMAND else ""
            )
            inputs.append(Input(f, InputError(f"no such file{hint}", f"file '{f}'")))
        else:
            inputs.append(Input(f, path, path if path.suffix.lower() == ".ipynb" else None))
    if args.message:
        msgs = [_json_arg(m, f"--message {i + 1}") for i, m in enumerate(args.message)]
        inputs.append(Input("--message", msgs))
    if not inputs and not args.files:
        if sys.stdin.isatty():
            raise _Fail(
                "nothing to count: give a FILE or a directory, --message, or pipe text in (see --help)", EXIT_BAD_INPUT
            )
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


def _betas(args: argparse.Namespace) -> list[str] | None:
    """--beta NAME, repeatable; a comma-separated list works too (as the anthropic-beta header spells it)."""
    from .request.betas import check_betas

    names = [n.strip() for value in args.beta for n in value.split(",") if n.strip()]
    try:
        return list(check_betas(names, "--beta")) or None
    except InputError as exc:
        raise _Fail(str(exc), EXIT_BAD_INPUT) from None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == [SUBCOMMAND]:  # only as the first argument: `estimate.ipynb` or `./estimate` are files
        from .job.cli import main as estimate_main

        return estimate_main(argv[1:])
    parser = build_parser()
    try:
        config = find_config(Path.cwd())
        defaults = read_config(config) if config else {}
    except ConfigError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    model_default = defaults.pop("model", None)  # -m replaces the configured models rather than adding to them
    parser.set_defaults(**defaults)
    args = parser.parse_args(argv)
    if args.model is None and model_default:
        args.model = model_default
    try:
        return _main(args)
    except _Fail as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return exc.code
    except TokenCountError as exc:  # e.g. a bad $JUPYTER_TOKEN_COUNT_MODE: a configuration error
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_COULD_NOT_COUNT
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _check_models(args: argparse.Namespace, counter: Any, mode: str | None) -> dict[str, str]:
    """The -m ids, checked once here rather than once per file (a request file's own model is checked with it):
    an unknown id fails; a guessed one gives its warning."""
    from .modelcheck import check_model

    warnings: dict[str, str] = {}
    for model in dict.fromkeys(args.model or []):
        try:
            warning = check_model(model, counter.settings, mode, strict=not args.allow_unknown_model)
        except InputError as exc:  # an id nobody knows, or none at all (-m "")
            raise _Fail(str(exc), EXIT_BAD_INPUT) from None
        if warning:
            warnings[model] = warning
    return warnings


def _options(args: argparse.Namespace, mode: str | None, model_warnings: dict[str, str]) -> Options:
    return Options(
        models=args.model or [None],
        system=args.system,
        tools=_tools(args),
        betas=_betas(args),
        include_outputs=args.include_outputs,
        mode=mode,
        per_cell=args.per_cell,
        checked_models=frozenset(args.model or ()),
        model_warnings=model_warnings,
        allow_unknown_model=args.allow_unknown_model,
    )


def _tell(rows: list[Row], model_warnings: dict[str, str], budget_lines: list[str]) -> None:
    """Errors, warnings and broken budgets on stderr, whatever the format on stdout."""
    lines = [row.error for row in rows if row.error]
    warnings = dict.fromkeys([*model_warnings.values(), *(w for r in rows for w in r.warnings)])
    lines += [f"warning: {w}" for w in warnings]
    for line in [*lines, *budget_lines]:
        print(f"{PROG}: {line}", file=sys.stderr)


def _exit_code(rows: list[Row], budget_lines: list[str]) -> int:
    """The worst input's code; else over budget, else fine."""
    codes = [r.code for r in rows if r.error]
    if codes:
        return max(codes)
    return EXIT_OVER_BUDGET if any(r.over for r in rows) or budget_lines else EXIT_OK


def _main(args: argparse.Namespace) -> int:
    from .api import get_counter

    mode = "offline" if args.offline else "api" if args.api else None
    model_warnings = _check_models(args, get_counter(), mode)
    inputs = gather_inputs(args)
    opts = _options(args, mode, model_warnings)
    # a progress bar only where someone watches many files
    progress = _progress if sys.stderr.isatty() and len(inputs) > 2 else None
    rows = count_all(inputs, opts, args.jobs or os.cpu_count() or 1, progress)

    budgets = Budgets(args.budget, args.max_context_fraction, args.total_budget, bool(getattr(args, "strict", False)))
    budget_lines = apply_budgets(rows, budgets)
    _tell(rows, model_warnings, budget_lines)
    single = len(rows) == 1 and not any(Path(f).is_dir() for f in args.files)
    report = build_report(rows, budgets, budget_lines, compare=len(opts.models) > 1, single=single)
    with reader_may_leave():
        RENDERERS[args.format or ("json" if args.json else "table")](report)
    return _exit_code(rows, budget_lines)


@contextmanager
def _progress(total: int) -> Iterator[Callable[[], None]]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("counting"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
        console=console(stderr=True),
    ) as progress:
        task = progress.add_task("count", total=total)
        yield lambda: progress.advance(task)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
