"""``jupyter-token-count estimate FILE``: what a Message Batches file or a JSONL of requests will cost, from the shell.

The main command takes files to count as its arguments, so ``estimate`` is a subcommand only as the very first
argument: ``jupyter-token-count estimate.ipynb`` still counts a notebook of that name, and a file named
``estimate`` is counted as ``./estimate``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from ..errors import EXIT_BAD_INPUT, EXIT_COULD_NOT_COUNT, EXIT_INTERRUPTED, EXIT_OK, EXIT_OVER_BUDGET
from ..formatting import format_tokens
from ..markup import console, md, md_code, reader_may_leave, visible

PROG = "jupyter-token-count estimate"
FORMATS = ("table", "json", "markdown")
#: the heaviest requests the table lists (--json has ten)
HEAVIEST_ROWS = 5

EXAMPLES = """\
examples:
  jupyter-token-count estimate batch.jsonl
      a Message Batches file ({"custom_id", "params"} per line): tokens, standard and batch cost
  jupyter-token-count estimate requests.jsonl.gz --sample 500 --seed 7
      count 500 random requests (and the heaviest 50) exactly to calibrate, reproducibly
  jupyter-token-count estimate batch.jsonl -m claude-haiku-4-5 --offline
      what the same job would cost on another model, without calling the API
  jupyter-token-count estimate batch.jsonl --json | jq .batch_cost_usd
  jupyter-token-count estimate batch.jsonl --max-cost 25 --batch
      exit 1 if the batch's input could cost more than $25 (the upper end of the 95 % interval)
  generate_requests.py | jupyter-token-count estimate -
      read the JSONL from stdin

how: every request is estimated offline (in N processes, -j); with ANTHROPIC_API_KEY set, a random sample and
the heaviest requests are counted exactly through Anthropic's free count_tokens endpoint and the estimates are
calibrated with them into a total with a 95 % interval. Offline, the interval comes from the estimator's own
error figures. The file is streamed: its size does not matter.

a line is a batch request {"custom_id", "params"}, a request body {"model", "messages", ...}, a message list or a
JSON string (one user message). Bad lines are reported by line number and custom_id and the rest is estimated.

exit status: 0 estimated, 1 over --max-cost, 2 bad input (no such file, bad lines: the job would fail on them),
             3 could not count (API or configuration error)
a file named 'estimate' is counted by the main command as ./estimate
"""


def _whole(text: str) -> int:
    try:
        n = int(text.replace(",", "").replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {n}")
    return n


def _positive(text: str) -> int:
    n = _whole(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {n}")
    return n


def _usd(text: str) -> float:
    try:
        value = float(text.lstrip("$").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an amount in US dollars such as 25 or 12.50, got {text!r}"
        ) from None
    if not (math.isfinite(value) and value > 0):  # nan would never break the budget, inf never either
        raise argparse.ArgumentTypeError(f"expected an amount in US dollars above 0, got {text!r}")
    return value


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        if "FILE" in message and Path("estimate").is_file():  # `jupyter-token-count estimate` meant the file?
            message += "; to count the file named 'estimate', write: jupyter-token-count ./estimate"
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        description="Estimate what a job (a Message Batches file, a JSONL of requests) will cost before it runs: "
        "input tokens with a 95 %% interval, standard and batch prices, worst-case output, requests over the "
        "context window, and a prompt-caching hint.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "file", metavar="FILE", help="a JSONL file of requests (.jsonl, .ndjson, or gzip-compressed); - for stdin"
    )
    p.add_argument("-m", "--model", default=None, help="price every request on this model instead of its own")
    p.add_argument(
        "--sample",
        type=_whole,
        default=200,
        metavar="N",
        help="requests counted exactly at random to calibrate (plus the heaviest tenth as many; default 200; 0: none)",
    )
    p.add_argument("--seed", type=_whole, default=None, metavar="N", help="seed of the random sample (reproducible)")
    p.add_argument(
        "--max-output-tokens",
        type=_positive,
        default=None,
        metavar="N",
        help="max_tokens for requests that have none (default: the model's output cap)",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--offline", action="store_true", help="estimate offline only; never call the API")
    mode.add_argument("--api", action="store_true", help="require exact counts (fail without a key)")
    p.add_argument(
        "--beta",
        action="append",
        default=[],
        metavar="NAME",
        help="an anthropic-beta value every request is counted with, as a batch's header applies it (repeatable; "
        "the betas a request's own fields need are added anyway)",
    )
    p.add_argument("-j", "--jobs", type=_positive, default=None, metavar="N", help="estimate in N processes")
    p.add_argument("--strict", action="store_true", help="stop at the first bad line instead of reporting bad lines")
    budget = p.add_argument_group("budget (exit 1 when broken)")
    budget.add_argument(
        "--max-cost",
        type=_usd,
        default=None,
        metavar="USD",
        help="the job's input could cost more than USD (the upper end of its 95 %% interval)",
    )
    budget.add_argument("--batch", action="store_true", help="with --max-cost: at Message Batches prices")
    out = p.add_argument_group("output")
    out.add_argument("-f", "--format", choices=FORMATS, default=None, help="table (default), json or markdown")
    out.add_argument("--json", action="store_true", help="the same as --format json")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from ..errors import InputError, TokenCountError

    try:
        return _main(args)
    except InputError as exc:
        print(f"{PROG}: {visible(str(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except TokenCountError as exc:
        print(f"{PROG}: {visible(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except ValueError as exc:  # e.g. a bad $JUPYTER_TOKEN_COUNT_MODE
        print(f"{PROG}: {visible(str(exc))}", file=sys.stderr)
        return EXIT_COULD_NOT_COUNT
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _main(args: argparse.Namespace) -> int:
    from . import estimate_job

    fmt = args.format or ("json" if args.json else "table")
    if args.batch and args.max_cost is None:
        print(f"{PROG}: --batch applies to --max-cost", file=sys.stderr)
        return EXIT_BAD_INPUT
    source: Any = sys.stdin.buffer if args.file == "-" else Path(args.file)
    with _progress(sys.stderr.isatty()) as progress:
        est = estimate_job(
            source,
            model=args.model,
            sample=args.sample,
            seed=args.seed,
            mode="offline" if args.offline else "api" if args.api else None,
            max_output_tokens=args.max_output_tokens,
            jobs=args.jobs,
            errors="raise" if args.strict else "report",
            progress=progress,
            betas=[n.strip() for value in args.beta for n in value.split(",") if n.strip()] or None,
        )
    for line in est.errors:
        print(f"{PROG}: {visible(line)}", file=sys.stderr)
    if est.bad_rows > len(est.errors):
        print(f"{PROG}: … {est.bad_rows - len(est.errors):,} more bad lines", file=sys.stderr)
    for w in est.warnings:
        print(f"{PROG}: warning: {visible(w)}", file=sys.stderr)
    over = _over_budget(est, args)
    if over:
        print(f"{PROG}: {visible(over)}", file=sys.stderr)
    with reader_may_leave():
        if fmt == "json":
            print(json.dumps(est.to_dict(), indent=2, ensure_ascii=False, default=str))
        elif fmt == "markdown":
            print(render_markdown(est, over))
        else:
            _print_table(est)
    if est.bad_rows:
        return EXIT_BAD_INPUT
    return EXIT_OVER_BUDGET if over else EXIT_OK


def _over_budget(est: Any, args: argparse.Namespace) -> str | None:
    if args.max_cost is None:
        return None
    from ..formatting import format_cost

    high = est.batch_cost_usd_high if args.batch else est.cost_usd_high
    what = "batch" if args.batch else "standard"
    if high is None:
        return f"--max-cost cannot be checked: no {what} price is known for {est.model or 'some models'}"
    if high > args.max_cost:
        return (
            f"the job's input could cost up to {format_cost(high)} ({what}, upper end of the 95 % interval), "
            f"over --max-cost {format_cost(args.max_cost)}"
        )
    return None


@contextmanager
def _progress(show: bool) -> Iterator[Callable[[dict[str, Any]], None] | bool]:
    """A progress bar on stderr when it is a terminal: bytes of the file while estimating, then exact counts."""
    if not show:
        yield False
        return
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    from .progress import describe

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        transient=True,
        console=console(stderr=True),
    ) as bar:
        tasks: dict[str, Any] = {}

        def update(event: dict[str, Any]) -> None:
            phase = event["phase"]
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=event.get("total"))
            bar.update(tasks[phase], completed=event["done"], total=event.get("total"), description=describe(event))

        yield update


def render_markdown(est: Any, over: str | None) -> str:
    """A GitHub-flavoured markdown report (a CI job summary, a pull-request comment)."""
    verdict = "❌" if over or est.bad_rows or est.over_window else "✅"
    out = [f"### {verdict} Job estimate: {est.label} input tokens", "", "| | |", "|---|---|"]
    # names, ids and messages come from the data: the lines escape them as the CLI's reports do (issue 22)
    listed = est.heaviest and len(est.heaviest) > 1  # then the table below says it better than one line
    out += [f"| {md(k)} | {v} |" for k, v in est.lines(markdown=True) if not (k == "heaviest" and listed)]
    if est.heaviest and len(est.heaviest) > 1:
        out += ["", "| heaviest requests | tokens | model |", "|---|--:|---|"]
        out += [
            f"| {md_code(h['where'])} | {format_tokens(h['input_tokens'], h['exact'])} | {md_code(h['model'])} |"
            for h in est.heaviest[:HEAVIEST_ROWS]
        ]
    if over:
        out += ["", f"**{md(over)}**"]
    return "\n".join(out)


def _print_table(est: Any) -> None:
    from rich.markup import escape
    from rich.table import Table

    out = console()
    table = Table(show_header=False, show_edge=False, box=None, padding=(0, 2, 0, 0))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    listed = est.heaviest and len(est.heaviest) > 1  # then the table below says it better than one line
    for label, text in est.lines():
        if label == "heaviest" and listed:
            continue
        style = "red" if label in ("over window", "bad rows") else "yellow" if label == "warning" else ""
        table.add_row(escape(label), f"[{style}]{escape(text)}[/{style}]" if style else escape(text))
    out.print(table)
    if listed:
        heavy = Table(title="heaviest requests", title_justify="left", show_edge=False, header_style="bold")
        heavy.add_column("request", overflow="fold")
        heavy.add_column("tokens", justify="right", no_wrap=True)
        heavy.add_column("model", no_wrap=True)
        for h in est.heaviest[:HEAVIEST_ROWS]:
            heavy.add_row(
                escape(visible(h["where"])),
                format_tokens(h["input_tokens"], h["exact"]),
                escape(visible(h["model"])),
            )
        out.print(heavy)
