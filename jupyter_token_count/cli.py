"""``jupyter-token-count`` (also ``jupyter token-count``): count Claude input tokens from the shell."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import __version__
from .batch import Input, Row
from .errors import (
    EXIT_BAD_INPUT,
    EXIT_COULD_NOT_COUNT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_OVER_BUDGET,
    TokenCountError,
    UnknownModel,
)
from .formatting import edited_note, format_change, format_share, format_tokens

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
  jupyter-token-count notebooks/*.ipynb --json | jq '.[].input_tokens'
      machine-readable output: one object per input and model

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

FORMATS = ("table", "json", "csv", "markdown")


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
    from .errors import InputError

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
            inputs.append(Input(f, InputError("no such file", f"file '{f}'")))
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
    from .errors import InputError
    from .request.betas import check_betas

    names = [n.strip() for value in args.beta for n in value.split(",") if n.strip()]
    try:
        return list(check_betas(names, "--beta")) or None
    except InputError as exc:
        raise _Fail(str(exc), EXIT_BAD_INPUT) from None


#: [tool.jupyter-token-count] keys in pyproject.toml → the option they set a default for
CONFIG_KEYS = {
    "max-tokens": ("budget", int),
    "max-context-fraction": ("max_context_fraction", float),
    "total-budget": ("total_budget", int),
    "strict": ("strict", bool),
    "model": ("model", list),
    "exclude": ("exclude", list),
    "include": ("include", list),
    "include-outputs": ("include_outputs", bool),
}


def find_config(start: Path) -> Path | None:
    """The nearest pyproject.toml with a [tool.jupyter-token-count] table, up to the repository's root."""
    for d in (start, *start.parents):
        candidate = d / "pyproject.toml"
        if candidate.is_file() and "jupyter-token-count" in candidate.read_text(encoding="utf-8", errors="replace"):
            return candidate
        if (d / ".git").exists():
            break
    return None


def read_config(path: Path) -> dict[str, Any]:
    """Option defaults from ``[tool.jupyter-token-count]``, so pre-commit, CI and people share one budget."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {}).get("jupyter-token-count", {})
    except (tomllib.TOMLDecodeError, OSError) as exc:
        raise _Fail(f"{path}: cannot be read as TOML ({exc})", EXIT_BAD_INPUT) from None
    defaults: dict[str, Any] = {}
    for key, value in table.items():
        if key not in CONFIG_KEYS:
            raise _Fail(
                f"{path}: [tool.jupyter-token-count] has an unknown key {key!r} (known: {', '.join(CONFIG_KEYS)})",
                EXIT_BAD_INPUT,
            )
        dest, kind = CONFIG_KEYS[key]
        if kind is list and isinstance(value, str):
            value = [value]
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok or (kind is list and not all(isinstance(v, str) for v in value)):
            expected = {
                int: "a whole number",
                float: "a number",
                list: "a string or a list of strings",
                bool: "true or false",
            }[kind]
            raise _Fail(f"{path}: [tool.jupyter-token-count] {key} must be {expected}", EXIT_BAD_INPUT)
        if kind is float and not 0 < value <= 1:
            raise _Fail(f"{path}: [tool.jupyter-token-count] {key} must be above 0 and at most 1", EXIT_BAD_INPUT)
        if kind is int and value < 1:
            raise _Fail(f"{path}: [tool.jupyter-token-count] {key} must be a number of tokens above 0", EXIT_BAD_INPUT)
        defaults[dest] = value
    return defaults


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        config = find_config(Path.cwd())
        defaults = read_config(config) if config else {}
    except _Fail as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return exc.code
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


def _main(args: argparse.Namespace) -> int:
    from .api import get_counter
    from .batch import Options, count_all
    from .modelcheck import check_model

    fmt = args.format or ("json" if args.json else "table")
    counter = get_counter()
    mode = "offline" if args.offline else "api" if args.api else None
    model_warnings: dict[str, str] = {}
    # the -m ids are checked once here, not once per file; a request file's own model is checked with it
    for model in dict.fromkeys(args.model or []):
        try:
            warning = check_model(model, counter.settings, mode, strict=not args.allow_unknown_model)
        except UnknownModel as exc:
            raise _Fail(str(exc), EXIT_BAD_INPUT) from None
        if warning:
            model_warnings[model] = warning
    inputs = gather_inputs(args)
    opts = Options(
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
    jobs = args.jobs or os.cpu_count() or 1

    # a progress bar only where someone watches many files
    rows = count_all(inputs, opts, jobs, _progress if sys.stderr.isatty() and len(inputs) > 2 else None)

    budget_lines = _apply_budgets(rows, args)
    for row in rows:
        if row.error:
            print(f"{PROG}: {row.error}", file=sys.stderr)
    for warning in dict.fromkeys([*model_warnings.values(), *(w for r in rows for w in r.warnings)]):
        print(f"{PROG}: warning: {warning}", file=sys.stderr)
    for line in budget_lines:
        print(f"{PROG}: {line}", file=sys.stderr)

    single = len(rows) == 1 and not any(Path(f).is_dir() for f in args.files)
    if fmt == "json":
        print(json.dumps(_json_rows(rows, single), indent=2, ensure_ascii=False))
    elif fmt == "csv":
        _print_csv(rows)
    elif fmt == "markdown":
        print(render_markdown(rows, args, budget_lines))
    elif any(r.ok for r in rows):
        _print_table(rows, len(opts.models) > 1, args)

    codes = [r.code for r in rows if r.error]
    if codes:
        return max(codes)
    return EXIT_OVER_BUDGET if any(r.over for r in rows) or budget_lines else EXIT_OK


@contextmanager
def _progress(total: int) -> Iterator[Callable[[], None]]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("counting"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
        console=_console(stderr=True),
    ) as progress:
        task = progress.add_task("count", total=total)
        yield lambda: progress.advance(task)


def _budgeted(res: Any, strict: bool) -> int:
    """The number a budget is checked against: the count, or with --strict the top of an estimate's range."""
    return res.high if strict and res.high is not None else res.input_tokens


def _as_checked(res: Any, strict: bool) -> str:
    """How the checked number reads: ``≈1,234`` or, strict, ``≈1,234 (likely up to 1,241)``."""
    if strict and not res.exact and res.high is not None and res.high != res.input_tokens:
        return f"{res.label} (likely up to {format_tokens(res.high, True)})"
    return res.label


def _apply_budgets(rows: list[Row], args: argparse.Namespace) -> list[str]:
    """Mark the rows over a budget; return the lines saying which budgets are broken. With --strict an estimate is
    checked by the top of its range."""
    lines: list[str] = []
    strict = bool(getattr(args, "strict", False))
    for r in rows:
        if not r.ok:
            continue
        res = r.result
        n = _budgeted(res, strict)
        if args.budget is not None and n > args.budget:
            only_strict = res.input_tokens <= args.budget  # over by its upper end only
            budget = format_tokens(args.budget, True)
            r.over.append(f"over --max-tokens {budget}" + (" (strict)" if only_strict else ""))
            lines.append(f"{r.input}: {_as_checked(res, strict)} tokens on {r.model} is over the budget of {budget}")
        frac = n / res.context_window if res.context_window else None
        if args.max_context_fraction is not None and frac is not None and frac > args.max_context_fraction:
            r.over.append(f"over {format_share(args.max_context_fraction)} of the window")
            lines.append(
                f"{r.input}: {_as_checked(res, strict)} tokens take {format_share(frac)} of {r.model}'s "
                f"{format_tokens(res.context_window, True)}-token window, over the "
                f"{format_share(args.max_context_fraction)} allowed"
            )
        elif args.max_context_fraction is not None and frac is None:
            lines.append(
                f"{r.input}: the context window of {r.model} is unknown; --max-context-fraction cannot be checked"
            )
    if args.total_budget is not None:
        for model in dict.fromkeys(r.model for r in rows if r.ok):
            counted = [r.result for r in rows if r.ok and r.model == model]
            total = sum(_budgeted(c, strict) for c in counted)
            if total > args.total_budget:
                exact = all(c.exact for c in counted)
                what = "the upper ends come to" if strict and not exact else ""
                lines.append(
                    f"all inputs together: {what + ' ' if what else ''}{format_tokens(total, exact or bool(what))} "
                    f"tokens on {model}, over the total budget of {format_tokens(args.total_budget, True)}"
                )
    return lines


def _status(r: Row) -> str:
    if r.error:
        return "error"
    return "over_budget" if r.over else "ok"


def _json_rows(rows: list[Row], single: bool) -> Any:
    out: list[dict[str, Any]] = []
    for r in rows:
        if r.error:
            d: dict[str, Any] = {
                "input": r.input,
                "model": r.model,
                "status": "error",
                "error": r.error,
                "exit_code": r.code,
            }
        else:
            d = {"input": r.input, **r.result.to_dict(), "status": _status(r), "over_budget": r.over}
            if r.result.detail.get("empty"):
                d["empty"] = True
            if r.cells is not None:
                d["per_cell"] = r.cells.to_dict()
        out.append(d)
    return out[0] if single and len(out) == 1 else out


CSV_FIELDS = (
    "input",
    "model",
    "status",
    "input_tokens",
    "low",
    "high",
    "label",
    "exact",
    "source",
    "cost_usd",
    "context_window",
    "context_fraction",
    "reason",
    "note",
)


def _print_csv(rows: list[Row]) -> None:
    import csv

    w = csv.DictWriter(sys.stdout, fieldnames=CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        if r.error:
            w.writerow({"input": r.input, "model": r.model, "status": "error", "note": r.error})
            continue
        res = r.result
        w.writerow(
            {
                "input": r.input,
                "model": r.model,
                "status": _status(r),
                "input_tokens": res.input_tokens,
                "low": "" if res.low is None else res.low,
                "high": "" if res.high is None else res.high,
                "label": res.label,
                "exact": str(res.exact).lower(),
                "source": res.source,
                "cost_usd": "" if res.cost_usd is None else f"{res.cost_usd:.8f}".rstrip("0").rstrip("."),
                "context_window": res.context_window or "",
                "context_fraction": "" if res.context_fraction is None else f"{res.context_fraction:.6f}",
                "reason": res.reason or "",
                "note": "; ".join(_notes(r)),
            }
        )


def _notes(r: Row) -> list[str]:
    notes = list(r.over)
    if r.ok and r.result.detail.get("empty"):
        notes.append("empty: the request frame alone")
    if r.ok and r.result.original_input_tokens is not None:
        notes.append(edited_note(r.result.original_input_tokens, r.result.exact))
    if r.warnings:
        notes.append("unknown model (guessed tokenizer)")
    return notes


#: what a terminal acts on (C0 and C1 controls, DEL) or lets reorder what it shows (bidirectional controls)
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
#: ASCII punctuation but "@": each may open markup in markdown, and a backslash makes it a literal
_MD_PUNCT = re.compile(r"([!-/:-?\[-`{-~])")


def _visible(text: str) -> str:
    """Text from the data (a file name, a model id, a cell's first line) as it may reach a terminal or a report:
    control characters shown as escapes (``\\x1b``), never acted on."""
    return _UNSAFE.sub(lambda m: repr(m.group())[1:-1], text)


def _total(results: list[Any]) -> str:
    """The sum of several counts, with the sum of their ranges where some are estimates."""
    from .formatting import format_estimate

    def total(attr: str) -> int | None:
        values = [getattr(c, attr) for c in results]
        return None if any(v is None for v in values) else sum(values)

    n = sum(c.input_tokens for c in results)
    return format_estimate(n, total("low"), total("high"), all(c.exact for c in results)).replace(
        ", likely", " (likely"
    ) + ("" if all(c.exact for c in results) or total("low") is None else ")")


def _window(res: Any) -> str:
    """``0.6% of 200,000``: the share of the model's context window, or ``unknown``."""
    frac = res.context_fraction
    return "unknown" if frac is None else f"{format_share(frac)} of {format_tokens(res.context_window, True)}"


def _with_range(res: Any) -> str:
    """``1,234``, or for an estimate ``≈1,234 (likely 1,228–1,241)``."""
    return res.label + (f" ({res.likely})" if res.likely else "")


def _md(text: str) -> str:
    """Text from the data in a markdown table cell, rendered as written: every punctuation character escaped (no
    link, image, HTML, emphasis or code span can start, and a pipe cannot end the cell), and "@" in a code span of
    its own (an e-mail address is made a link whatever its escapes)."""
    return _MD_PUNCT.sub(r"\\\1", _visible(text)).replace("@", "`@`")


def _md_code(text: str) -> str:
    """Text from the data as a markdown code span that nothing in it can close: the fence is longer than any run
    of backticks inside; a pipe is escaped for the table (GitHub shows it as a pipe inside code)."""
    text = _visible(text).replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text[:1] in ("`", " ") or text[-1:] in ("`", " ") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _model_md(display_name: str | None, model: str) -> str:
    """A known model by its name (from the registry), any other id as code: it is whatever the input said."""
    return _md(display_name) if display_name and display_name != model else _md_code(model)


def render_markdown(rows: list[Row], args: argparse.Namespace, budget_lines: list[str]) -> str:
    """A GitHub-flavoured markdown report: fits a job summary ($GITHUB_STEP_SUMMARY) or a PR comment."""
    from .formatting import format_cost

    failed = [r for r in rows if r.error]
    over = [r for r in rows if r.over]
    counted = [r for r in rows if r.ok]
    verdict = "❌" if failed or over or budget_lines else "✅"
    out = [f"### {verdict} Claude input tokens", ""]
    out += ["| | File | Model | Tokens | Cost (input) | Context window | Note |", "|---|---|---|--:|--:|--:|---|"]
    for r in rows:
        if r.error:
            out.append(
                f"| ❌ | {_md_code(_short(r.input))} | {_md_code(r.model)} | — | — | — | error: "
                f"{_md(_without_name(r.error, r.input))} |"
            )
            continue
        res = r.result
        window = _window(res)
        mark = "❌" if r.over else "⚠️" if r.warnings else "✅"
        out.append(
            f"| {mark} | {_md_code(_short(r.input))} | {_model_md(res.display_name, r.model)} | {_with_range(res)} | "
            f"{format_cost(res.cost_usd)} | {window} | {_md('; '.join(_notes(r)))} |"
        )
    out.append("")
    summary = [f"{len(counted)} of {len(rows)} counted"]
    if counted:
        models = list(dict.fromkeys(r.model for r in counted))
        for model in models:
            these = [r.result for r in counted if r.model == model]
            summary.append(f"{_total(these)} tokens in all on {_md_code(model)}")
    if over:
        summary.append(f"**{len(over)} over budget**")
    if failed:
        summary.append(f"**{len(failed)} failed**")
    out.append(" · ".join(summary))
    budgets = [
        f"--max-tokens {format_tokens(args.budget, True)}" if args.budget is not None else "",
        f"--max-context-fraction {args.max_context_fraction:g}" if args.max_context_fraction is not None else "",
        f"--total-budget {format_tokens(args.total_budget, True)}" if args.total_budget is not None else "",
        "--strict" if getattr(args, "strict", False) else "",
    ]
    budgets = [b for b in budgets if b]
    if budgets:
        out += ["", "Budgets: " + ", ".join(f"`{b}`" for b in budgets)]
    for line in budget_lines:
        out.append(f"- {_md(line)}")
    reasons = sorted({r.result.reason for r in counted if not r.result.exact and r.result.reason})
    if reasons:
        out.append("")
        out += [f"≈ estimate: {_md(reason)}" for reason in reasons]
    return "\n".join(out)


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


def _without_name(error: str, name: str) -> str:
    """An error in a row that already names the input: its text without the name in front."""
    for prefix in (f"file '{name}': ", f"file '{name}', ", f"{name}: "):
        if error.startswith(prefix):
            return error[len(prefix) :]
    return error


def _print_table(rows: list[Row], compare: bool, args: argparse.Namespace) -> None:
    from rich.markup import escape
    from rich.table import Table

    from .formatting import format_cost

    console = _console()
    for r in rows:
        if r.cells is None:
            continue
        cells = r.cells
        t = Table(
            title=escape(_visible(f"{_short(r.input)} · {cells.display_name or r.model}")),
            title_justify="left",
            show_edge=False,
        )
        t.add_column("cell", justify="right", no_wrap=True, min_width=4)
        t.add_column("type", no_wrap=True, min_width=8)
        t.add_column("tokens", justify="right", no_wrap=True, min_width=7)
        t.add_column("first line", overflow="ellipsis", no_wrap=True, max_width=72)
        for c in cells.cells:
            if c.tokens:
                t.add_row(
                    str(c.index + 1),
                    c.cell_type,
                    format_tokens(c.tokens, c.exact),
                    escape(_visible(r.first_lines.get(c.id, ""))),
                )
        # the rest is the request frame and the joins between cells: the rows add up to the one-request total
        joins_exact = cells.exact and all(c.exact for c in cells.cells)
        t.add_row("", "joins+frame", format_tokens(cells.joins_and_frame, joins_exact), "")
        t.add_row("", "total", format_tokens(cells.total, cells.exact), "the notebook counted as one request")
        console.print(t)

    notes = any(r.error or _notes(r) for r in rows)
    t = Table(show_edge=False, header_style="bold")
    t.add_column("input", overflow="fold")
    t.add_column("model", no_wrap=True)
    t.add_column("tokens", justify="right", no_wrap=True, min_width=7)
    t.add_column("cost (input)", justify="right", no_wrap=True)
    t.add_column("context window", justify="right", no_wrap=True)
    if compare:
        t.add_column("vs first", justify="right")
    if notes:
        t.add_column("note", overflow="fold")
    first: dict[str, int] = {}  # each input's count under the first model, for the comparison column
    for r in rows:
        if r.error:
            cells = [escape(_visible(_short(r.input))), escape(_visible(r.model)), "[red]error[/red]", "", ""]
            if compare:
                cells.append("")
            cells.append(f"[red]{escape(_visible(_without_name(r.error, r.input)))}[/red]")
            t.add_row(*cells)
            continue
        res = r.result
        cells = [
            escape(_visible(_short(r.input))),
            escape(_visible(res.display_name or r.model)),
            f"[red]{_with_range(res)}[/red]" if r.over else _with_range(res),
            format_cost(res.cost_usd),
            _window(res),
        ]
        if compare:
            if r.input not in first:
                first[r.input] = res.input_tokens
                cells.append("—")
            else:
                base = first[r.input]
                cells.append(format_change((res.input_tokens - base) / base) if base else "")
        if notes:
            cells.append(escape(_visible("; ".join(_notes(r)))))
        t.add_row(*cells)
    console.print(t)
    counted = [r for r in rows if r.ok]
    if len(rows) > 1:
        for model in dict.fromkeys(r.model for r in counted):
            these = [r.result for r in counted if r.model == model]
            inputs = f"{len(these)} input{'s' if len(these) != 1 else ''}"
            console.print(f"total on {escape(_visible(model))}: {_total(these)} tokens in {inputs}", style="dim")
    reasons = sorted({r.result.reason for r in counted if not r.result.exact and r.result.reason})
    for reason in reasons:
        console.print(f"≈ estimate: {escape(_visible(reason))}", style="dim")
    exact = sum(1 for r in counted if r.result.exact)
    if exact and reasons:
        console.print(f"{exact} of {len(counted)} counts are exact (from the API)", style="dim")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
