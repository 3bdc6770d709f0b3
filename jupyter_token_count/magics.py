"""``%count_tokens`` and ``%%count_tokens``: count a prompt from a cell or an expression.

    %load_ext jupyter_token_count
    %%count_tokens -m claude-opus-4-8 -s "You are a scientist"
    Hello, Claude

Errors are one line on stderr, never a traceback, and the kernel stays usable.
"""

from __future__ import annotations

import argparse
import json
import keyword
import math
import os
import sys
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from traitlets import Bool, CaselessStrEnum, Unicode, default

from .config import ENV_MODE, ENV_MODEL, MODES
from .errors import TokenCountError


def _budget(kind: type, what: str) -> Any:
    """An argparse type for a budget: a finite number above 0 (``nan`` would never stop a call, ``inf`` never
    either, and 0 or less stops every one)."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text.replace(",", "").replace("_", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"expected {what} above 0, got {text!r}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its own messages
    return parse


def _unquote(text: str) -> str:
    """IPython keeps the quotes of a quoted option value; a prompt does not want them."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


class _MagicError(Exception):
    """A user-facing problem found while reading the magic's own arguments."""


def _parse(magic: Any, line: str) -> Any:
    try:
        return parse_argstring(magic, line)
    except ValueError as exc:  # shlex: an unclosed quote ("No closing quotation") was an "internal error"
        raise _MagicError(f"the line cannot be read ({exc})") from None


def _variable(text: str) -> str:
    """The name ``-o`` stores the result under: one the user can then write (``-o 5`` would hide it)."""
    name = _unquote(text)
    if not name.isidentifier() or keyword.iskeyword(name):
        raise _MagicError(f"-o/--output: {name!r} is not a Python variable name (e.g. -o r)")
    return name


@magics_class
class TokenCountMagics(Magics):
    """Count Claude input tokens from a cell or an expression.
    Configure with ``%config TokenCountMagics.model = ...``."""

    model = Unicode(help="Default Claude model for %count_tokens / %%count_tokens.").tag(config=True)
    mode = CaselessStrEnum(
        MODES,
        default_value=None,
        allow_none=True,
        help="auto: exact through the API when a key is set, else an estimate; api; offline. "
        f"Default: the configured mode (${ENV_MODE}, else auto).",
    ).tag(config=True)
    include_outputs = Bool(False, help="Include outputs when counting a notebook.").tag(config=True)

    @default("model")
    def _default_model(self) -> str:
        from . import registry

        return os.environ.get(ENV_MODEL) or registry.default_model()

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        # %config TokenCountMagics.x = ... reaches us through the shell's config
        if shell is not None:
            shell.configurables.append(self)

    # -- helpers -------------------------------------------------------------------------------------
    def _eval(self, expr: str, what: str) -> Any:
        try:
            return self.shell.ev(expr)
        except NameError as exc:
            raise _MagicError(f"{what}: {exc}") from None
        except SyntaxError as exc:
            raise _MagicError(f"{what}: invalid Python expression {expr!r} ({exc.msg})") from None
        except Exception as exc:
            raise _MagicError(f"{what}: evaluating {expr!r} raised {type(exc).__name__}: {exc}") from None

    def _notebook_path(self, text: str) -> Path:
        """``--notebook PATH`` takes PATH literally (it is never run as Python: ``demo.ipynb`` is a file name,
        not an attribute lookup). For scripts written when it was an expression, a bare variable name that
        is not a file is still looked up in the user's namespace."""
        path = Path(_unquote(text)).expanduser()
        if path.exists() or not text.isidentifier():
            return path
        value = self.shell.user_ns.get(text)
        if isinstance(value, (str, os.PathLike)):
            return Path(value).expanduser()
        return path

    def _system(self, value: str | None) -> Any:
        if value is None:
            return None
        value = _unquote(value)
        ns = self.shell.user_ns
        if value.isidentifier() and value in ns:  # a variable holding the prompt
            return ns[value]
        return value

    @staticmethod
    def _betas(args: Any) -> list[str] | None:
        """--beta NAME (repeatable; a comma-separated list works too, as the header spells it)."""
        names = [_unquote(b).strip() for value in args.beta or [] for b in _unquote(value).split(",")]
        return [n for n in names if n] or None

    def _mode(self, args: Any) -> str | None:
        """--offline / --api, else TokenCountMagics.mode, else None: the counter's configured mode."""
        if args.offline and args.api:
            raise _MagicError("choose one of --offline and --api")
        return "offline" if args.offline else "api" if args.api else self.mode

    def _count(self, obj: Any, args: Any) -> Any:
        from .api import count_request, get_counter, with_warning
        from .modelcheck import check_model
        from .request import build_request

        counter = get_counter()
        req = build_request(
            obj,
            model=_unquote(args.model) if args.model else None,
            default_model=self.model,  # a request dict's own model wins over the default
            system=self._system(args.system),
            tools=self._eval(args.tools, "--tools") if args.tools else None,
            betas=self._betas(args),
            include_outputs=args.include_outputs or self.include_outputs,
            max_bytes=counter.settings.max_request_bytes,
        )
        # an id nobody knows: an error when the API's list was asked, else a warning shown with the estimate
        warning = check_model(req.model, counter.settings, self._mode(args))
        if warning and args.quiet:
            self._fail(f"warning: {warning}")
        return with_warning(count_request(counter, req, self._mode(args)), warning)

    def _finish(self, result: Any, args: Any, *, show: bool) -> Any:
        if args.output:
            self.shell.user_ns[args.output] = result
        if show and not args.quiet:
            from IPython.display import display

            display(result)
        return result

    @staticmethod
    def _fail(message: str) -> None:
        print(f"count_tokens: {message}", file=sys.stderr)

    def _guard(self, fn: Any) -> Any:
        """Run ``fn``; any failure becomes one line on stderr (no traceback) and None."""
        try:
            return fn()
        except (_MagicError, TokenCountError) as exc:
            self._fail(str(exc))
        except UsageError as exc:
            self._fail(f"{exc} (see %count_tokens? for the options)")
        except KeyboardInterrupt:
            self._fail("interrupted")
        except Exception as exc:  # a bug of ours must still not drown the user in a traceback
            self._fail(f"internal error ({type(exc).__name__}: {exc}); please report it")
        return None

    def _current_notebook(self) -> Path:
        ns = self.shell.user_ns
        for candidate in (ns.get("__vsc_ipynb_file__"), os.environ.get("JPY_SESSION_NAME")):
            if candidate and str(candidate).endswith(".ipynb") and Path(candidate).is_file():
                return Path(candidate)
        raise _MagicError("cannot tell which notebook this kernel runs; pass its path: %count_tokens --notebook PATH")

    # -- the magic ------------------------------------------------------------------------------------
    @magic_arguments()
    @argument(
        "-m",
        "--model",
        default=None,
        help="Claude model id (default: TokenCountMagics.model, "
        "env JUPYTER_TOKEN_COUNT_MODEL, or the registry's default).",
    )
    @argument("-s", "--system", default=None, help="System prompt: literal text, or the name of a variable holding it.")
    @argument(
        "--tools", default=None, metavar="EXPR", help="Python expression giving the tool definitions (a list of dicts)."
    )
    @argument(
        "--json", action="store_true", help="Cell magic: the cell body is JSON, a message list or a request body."
    )
    @argument("--widget", action="store_true", help="Cell magic: show a live counter panel seeded with the cell.")
    @argument(
        "--notebook",
        action="store_true",
        help="Line magic: count a notebook; the rest of the line is its "
        "path, taken literally (quotes optional; $var expands a variable; default: this notebook's saved file).",
    )
    @argument(
        "--include-outputs", action="store_true", help="With a notebook: include outputs (text, PNG/JPEG images)."
    )
    @argument(
        "--job",
        action="store_true",
        help="Line magic: estimate a whole job before it runs; the rest of the line is its source: a JSONL file "
        "(Message Batches requests or request bodies; path taken literally) or an expression giving requests "
        "(a list, a pandas Series or DataFrame column, a Dask bag or column).",
    )
    @argument(
        "--sample",
        type=int,
        default=None,
        metavar="N",
        help="With --job: requests counted exactly at random to calibrate (default 200; 0: none).",
    )
    @argument("--seed", type=int, default=None, metavar="N", help="With --job: seed of the random sample.")
    @argument(
        "--max-output-tokens",
        type=int,
        default=None,
        metavar="N",
        help="With --job: max_tokens for requests that have none (default: the model's output cap).",
    )
    @argument(
        "--beta",
        action="append",
        default=None,
        metavar="NAME",
        help="Count with this anthropic-beta value (repeatable), as client.beta.messages.create(betas=[...]) "
        "sends it. The betas a request's fields need (context_management, mcp_servers, file sources, "
        "output_format) are added anyway.",
    )
    @argument("--offline", action="store_true", help="Estimate offline; never call the API.")
    @argument("--api", action="store_true", help="Require an exact count from the API (an error if it cannot be had).")
    @argument("-o", "--output", default=None, metavar="VAR", help="Store the result object in this variable.")
    @argument("-q", "--quiet", action="store_true", help="Do not display the result (use with -o).")
    @argument(
        "expr",
        nargs="*",
        help="Line magic: a Python expression to count (a string, message list, request "
        "dict, Path to a PDF/image/text/.ipynb file, PIL image, notebook).",
    )
    @line_cell_magic
    def count_tokens(self, line: str = "", cell: str | None = None) -> Any:
        """Count the input tokens of a Claude prompt: exact through the API when a key is set, else an estimate (≈).

        Cell magic: the cell body is the user message::

            %%count_tokens -m claude-opus-4-8 -s "You are a scientist" -o r
            Hello, Claude

            %%count_tokens --json
            [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]

        Line magic: count what an expression evaluates to::

            %count_tokens "Hello, Claude"
            %count_tokens messages -s system_prompt
            %count_tokens request                  # a dict you would pass to messages.create
            %count_tokens request --beta context-management-2025-06-27
            %count_tokens Path("report.pdf")
            %count_tokens --notebook               # this notebook (its saved file)
            %count_tokens --notebook demo.ipynb    # another notebook, by its path
            %count_tokens --job batch.jsonl        # a whole job: tokens with a 95 % interval, standard and batch cost
            %count_tokens --job df["prompt"] --sample 500 -m claude-haiku-4-5
            r = %count_tokens messages --offline   # keep the result: r.input_tokens, r.exact

        Default model: ``%config TokenCountMagics.model = "claude-opus-4-8"`` or env JUPYTER_TOKEN_COUNT_MODEL.
        """
        return self._guard(lambda: self._run(line, cell))

    def _run(self, line: str, cell: str | None) -> Any:
        args = _parse(self.count_tokens, line)
        if args.output is not None:
            args.output = _variable(args.output)
        expr = " ".join(args.expr).strip()
        job_only = [f"--{n}" for n in ("sample", "seed") if getattr(args, n) is not None]
        if args.max_output_tokens is not None:
            job_only.append("--max-output-tokens")
        if job_only and not args.job:
            raise _MagicError(f"{', '.join(job_only)} apply to --job")
        if args.job:
            if cell is not None or args.notebook or args.json or args.widget:
                raise _MagicError("--job is a line magic of its own: %count_tokens --job SOURCE [options]")
            return self._job(expr, args)
        if cell is None:
            if args.json or args.widget:
                raise _MagicError("--json and --widget apply to the cell magic %%count_tokens")
            if args.notebook:
                target: Any = self._notebook_path(expr) if expr else self._current_notebook()
            elif not expr:
                raise _MagicError("nothing to count: give an expression, e.g. %count_tokens messages")
            else:
                target = self._eval(expr, "expression")
            result = self._count(target, args)
            self._finish(result, args, show=False)
            return None if args.quiet else result
        # IPython hands the body over with the newline that ends the cell's last line; it is not part of the prompt
        cell = cell[:-1] if cell.endswith("\n") else cell
        if expr or args.notebook:
            raise _MagicError(
                f"unexpected argument {expr or '--notebook'!r} for the cell magic (the cell is what is counted)"
            )
        if args.widget:
            return self._widget(cell, args)
        obj: Any = cell
        if args.json:
            try:
                obj = json.loads(cell)
            except json.JSONDecodeError as exc:
                raise _MagicError(
                    f"the cell is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
                ) from None
        elif not cell.strip():
            raise _MagicError("the cell is empty: nothing to count")
        self._finish(self._count(obj, args), args, show=True)
        return None

    def _job_source(self, text: str) -> Any:
        """A file when the text names one (taken literally, like --notebook), else a Python expression."""
        if not text:
            raise _MagicError(
                "--job needs its source: a JSONL file, or an expression such as df['prompt'] or a list of requests"
            )
        path = Path(_unquote(text)).expanduser()
        if path.is_file():
            return path
        try:
            return self.shell.ev(text)
        except NameError:
            raise _MagicError(f"--job: no such file or variable: {text}") from None
        except SyntaxError:
            raise _MagicError(f"--job: no such file, and not a Python expression: {text}") from None
        except Exception as exc:
            raise _MagicError(f"--job: evaluating {text!r} raised {type(exc).__name__}: {exc}") from None

    def _job(self, expr: str, args: Any) -> Any:
        from .job import estimate_job

        if args.system or args.tools or args.include_outputs:
            raise _MagicError(
                "--system, --tools and --include-outputs do not apply to --job (each request has its own)"
            )
        source = self._job_source(expr)
        result = estimate_job(
            source,
            model=_unquote(args.model) if args.model else None,
            sample=200 if args.sample is None else args.sample,
            seed=args.seed,
            mode=self._mode(args),
            max_output_tokens=args.max_output_tokens,
            betas=self._betas(args),
            default_model=self.model,  # a request's own model wins over it, as for %count_tokens
        )
        self._finish(result, args, show=False)
        return None if args.quiet else result

    def _widget(self, cell: str, args: Any) -> None:
        from IPython.display import display

        from .widget import TokenCounter

        tools = self._eval(args.tools, "--tools") if args.tools else None
        panel = TokenCounter(
            model=_unquote(args.model) if args.model else self.model,
            system=self._system(args.system) or "",
            prompt=cell,
            tools=tools,
            mode=self._mode(args),
            betas=self._betas(args) or (),
        )
        if args.output:
            self.shell.user_ns[args.output] = panel
        if not args.quiet:
            display(panel)


# -- %count_calls: the call meter (jupyter_token_count.meter) ------------------------------------------------
@magics_class
class CallMeterMagics(Magics):
    """``%count_calls on|off|report``: count and price every Claude call the anthropic SDK makes from this kernel."""

    @magic_arguments()
    @argument(
        "action",
        choices=("on", "off", "report"),
        help="on: meter every Messages call; off: stop; report: this kernel's calls as a table.",
    )
    @argument(
        "--budget-tokens",
        type=_budget(int, "a whole number of tokens"),
        default=None,
        metavar="N",
        help="Stop (do not send) a call whose predicted "
        "input would bring the session total (or, with --per-call, the call) past N tokens.",
    )
    @argument(
        "--budget-usd",
        type=_budget(float, "an amount of US dollars"),
        default=None,
        metavar="X",
        help="The same in US dollars at list price "
        "(input cost, cache- and batch-aware; the session total includes what earlier calls cost).",
    )
    @argument("--per-call", action="store_true", help="Apply the budgets to each call instead of the session total.")
    @argument(
        "--strict",
        action="store_true",
        help="Check an estimated prediction by the top of its range (the real count is below it nine times in "
        "ten), not the estimate itself.",
    )
    @argument("-q", "--quiet", action="store_true", help="Record calls without showing a line per call.")
    @line_magic
    def count_calls(self, line: str = "") -> Any:
        """Meter every Claude Messages call made through the anthropic SDK in this kernel::

            %count_calls on                         # a line per call: input tokens, cost, window share, usage
            %count_calls on --budget-usd 0.50       # stop calls once the session would pass $0.50
            %count_calls on --budget-tokens 20000 --per-call
            %count_calls on --budget-tokens 20000 --strict   # an estimate counts by the top of its range
            %count_calls report                     # a table of this kernel's calls (r = %count_calls report)
            %count_calls off

        Python: ``jupyter_token_count.meter_calls(...)``, ``stop_metering()``, ``call_log()``, ``call_report()``.
        """
        try:
            args = _parse(self.count_calls, line)
            return self._act(args)
        except UsageError as exc:
            print(f"count_calls: {exc} (see %count_calls? for the options)", file=sys.stderr)
        except (_MagicError, TokenCountError, ValueError) as exc:
            print(f"count_calls: {exc}", file=sys.stderr)
        except Exception as exc:  # a bug of ours must still not drown the user in a traceback
            print(f"count_calls: internal error ({type(exc).__name__}: {exc}); please report it", file=sys.stderr)
        return None

    def _act(self, args: Any) -> Any:
        from . import meter

        if args.action == "report":
            return meter.call_report()
        if args.action == "off":
            if args.budget_tokens is not None or args.budget_usd is not None or args.per_call or args.strict:
                raise ValueError("budgets apply to `%count_calls on`")
            meter.stop_metering()
            print("count_calls: off")
            return None
        meter.meter_calls(
            budget_tokens=args.budget_tokens,
            budget_usd=args.budget_usd,
            per_call=args.per_call,
            show=not args.quiet,
            strict=args.strict,
        )
        limits = [
            f"{args.budget_tokens:,} tokens" if args.budget_tokens is not None else "",
            f"${args.budget_usd:g}" if args.budget_usd is not None else "",
        ]
        budget = " and ".join(x for x in limits if x)
        scope = ("per call" if args.per_call else "for this session") + (", strict" if args.strict else "")
        print("count_calls: on" + (f", budget {budget} {scope}" if budget else ""))
        return None


# argparse would read `--mode offline` as `--model offline` (an abbreviation), and the count would silently use a
# model named "offline": the magics take their options spelled out.
for _magic in (TokenCountMagics.count_tokens, CallMeterMagics.count_calls):
    _magic.parser.allow_abbrev = False
