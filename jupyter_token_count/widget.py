"""The ipywidgets surfaces: a live token-counter panel (``TokenCounter``) and a small display bound to a
Python object (``watch``).

Both are thin: requests are built by ``request.build_request``, counted by the process-wide ``Counter``
and rendered from its ``TokenCount``. What lives here is the interaction:

* Recounting is debounced: every edit bumps a generation number and pushes a deadline ~300 ms out; a
  worker thread (one per panel, exiting when idle) counts only once the edits stop, so a burst of typing
  costs one upstream request and the kernel's main thread never waits on the network.
* A stale answer is dropped: a result is applied only if no edit happened since its snapshot was taken,
  checked under the same lock edits take.
* Each file is validated on its own when added; a bad one carries its own error and is left out of the
  request, so everything else still counts and nothing is ever sent for it.
* Where widgets cannot render, the ``text/plain`` part of the display is the summary line.
"""

from __future__ import annotations

import contextlib
import copy
import html
import json
import logging
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ipywidgets as w
from traitlets import Bool, Int, Unicode, link, observe, validate

from . import registry
from .api import get_counter
from .counter import Counter
from .errors import ApiError, InputError, TokenCountError
from .request import CountRequest, build_request
from .request.files import (
    IMAGE_TYPES,
    PDF_TYPE,
    image_block,
    looks_like_path,
    pdf_block,
    read_path,
    sniff_media_type,
)
from .request.validate import image_size, pdf_pages
from .result import WARN_FRACTION, TokenCount, format_cost

__all__ = ["TokenCounter", "Watch", "watch"]

log = logging.getLogger(__name__)

#: seconds after the last edit before a recount starts
DEBOUNCE = 0.3
#: an idle worker thread exits after this long (a new edit starts another)
IDLE_EXIT = 30.0
#: how long the text/plain fallback waits for a first count before showing an estimate
TEXT_WAIT = 0.5

UPLOAD_ACCEPT = "application/pdf,image/png,image/jpeg,image/gif,image/webp,.pdf,.png,.jpg,.jpeg,.gif,.webp"
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp")
_KIND_NAMES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WebP", PDF_TYPE: "PDF"}

# -- theme ------------------------------------------------------------------------------------------
# JupyterLab / Notebook 7 define --jp-*; VS Code defines --vscode-*; the last fallback suits light and dark.
FG = "var(--jp-ui-font-color1,var(--vscode-editor-foreground,inherit))"
FG2 = "var(--jp-ui-font-color2,var(--vscode-descriptionForeground,rgba(127,127,127,.95)))"
BORDER = "var(--jp-border-color2,var(--vscode-panel-border,rgba(127,127,127,.35)))"
TRACK = "var(--jp-layout-color3,rgba(127,127,127,.22))"
ACCENT = "var(--jp-brand-color1,var(--vscode-charts-blue,#1976d2))"
WARN = "var(--jp-warn-color0,var(--vscode-editorWarning-foreground,#e65100))"
ERROR = "var(--jp-error-color1,var(--vscode-errorForeground,#d32f2f))"
OK = "var(--jp-success-color1,var(--vscode-charts-green,#2e7d32))"
FONT = "var(--jp-ui-font-family,var(--vscode-font-family,system-ui,sans-serif))"
MONO = "var(--jp-code-font-family,var(--vscode-editor-font-family,monospace))"
COLOURS = {
    "system": "#8e6cd1",
    "prompt": ACCENT,
    "tools": "#c9a227",
    "frame": "rgba(127,127,127,.55)",
    "other": "rgba(127,127,127,.55)",
}
FILE_COLOURS = ("#26a69a", "#ef8f35", "#d35f8d", "#6d8f3c", "#4b9fd6", "#a1887f")

_STYLE = f"""<style>
.jtc-panel {{ font-family:{FONT}; color:{FG}; }}
.jtc-panel .jtc-mono textarea {{ font-family:{MONO}; font-size:0.9em; }}
.jtc-panel textarea {{ resize:vertical; }}
.jtc-panel .jtc-card {{ box-sizing:border-box; }}
/* FileUpload writes "<description> (<n files in its value>)"; its value is emptied after each upload,
   so the count is always 0: hide that text and show a label instead */
.jtc-panel .jtc-upload {{ font-size:0 !important; }}
.jtc-panel .jtc-upload i {{ font-size:var(--jp-widgets-font-size,13px); margin-right:6px; }}
.jtc-panel .jtc-upload::after {{ content:"Add PDF or image files"; font-size:var(--jp-widgets-font-size,13px); }}
.jtc-panel .jtc-file {{ border-bottom:1px solid {BORDER}; }}
</style>"""

esc = html.escape


def _label(text: str, hint: str = "") -> w.HTML:
    hint_html = f' <span style="color:{FG2};font-weight:400">{esc(hint)}</span>' if hint else ""
    return w.HTML(f'<div style="font-size:0.85em;font-weight:600;color:{FG};margin-top:6px">{esc(text)}{hint_html}</div>')


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} bytes"  # pragma: no cover


def _pct(part: int, total: int) -> str:
    if total <= 0:
        return "0%"
    share = part / total
    return f"{share:.0%}" if share >= 0.01 or part == 0 else "<1%"


# -- debounced worker -----------------------------------------------------------------------------


class _Debouncer:
    """Runs ``job(generation)`` on a worker thread once ``delay`` seconds pass without a ``poke``.

    ``lock`` is shared with the owner: a result is applied under it only while ``current(gen)``, and
    ``poke`` takes it too, so an edit and the application of an older answer can never interleave."""

    def __init__(self, job: Callable[[int], None], name: str) -> None:
        self.lock = threading.RLock()
        self._cv = threading.Condition(self.lock)
        self._job = job
        self._name = name
        self.gen = 0
        self._due: float | None = None
        self._busy = False
        self._closed = False
        self._thread: threading.Thread | None = None

    def poke(self, delay: float = DEBOUNCE) -> int:
        with self._cv:
            self.gen += 1
            if self._closed:
                return self.gen
            self._due = time.monotonic() + delay
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._cv.notify_all()
            return self.gen

    def current(self, gen: int) -> bool:
        return gen == self.gen and not self._closed

    @property
    def idle(self) -> bool:
        return self._due is None and not self._busy

    def in_worker(self) -> bool:
        return threading.current_thread() is self._thread

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._closed:
                    if self._due is None:
                        if not self._cv.wait(IDLE_EXIT) and self._due is None:
                            self._thread = None  # idle: exit; the next poke starts a new thread
                            return
                        continue
                    left = self._due - time.monotonic()
                    if left <= 0:
                        break
                    self._cv.wait(left)
                if self._closed:
                    self._thread = None
                    self._cv.notify_all()
                    return
                self._due = None
                self._busy = True
                gen = self.gen
            try:
                self._job(gen)
            except Exception:  # the job reports its own errors; this only guards the thread
                log.exception("token count refresh failed")
            finally:
                with self._cv:
                    self._busy = False
                    self._cv.notify_all()

    def wait_idle(self, timeout: float | None) -> bool:
        """Block until nothing is scheduled or running; False on timeout. Never blocks the worker itself."""
        if self.in_worker():
            return self.idle
        end = None if timeout is None else time.monotonic() + timeout
        with self._cv:
            while not self.idle and not self._closed:
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cv.wait(left)
            return True

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._due = None
            self._cv.notify_all()


# -- attribution ----------------------------------------------------------------------------------


def _scale(groups: dict[str, int], total: int) -> dict[str, int]:
    """Scale part sizes to sum to ``total`` (largest remainder), keeping their proportions."""
    current = sum(groups.values())
    if current <= 0 or current == total:
        return dict(groups)
    raw = {k: v * total / current for k, v in groups.items()}
    out = {k: math.floor(v) for k, v in raw.items()}
    left = total - sum(out.values())
    for k in sorted(raw, key=lambda k: raw[k] - out[k], reverse=True)[: max(left, 0)]:
        out[k] += 1
    return out


_CONTENT = re.compile(r"^/messages/(\d+)/content(?:/(\d+))?")
_MESSAGE = re.compile(r"^/messages/(\d+)")


def _part_group(path: str) -> str:
    """A JSON-pointer part of the estimator → a coarse group name."""
    if path.startswith("/system"):
        return "system"
    if path.startswith(("/tools", "/tool_overhead", "/tool_choice")):
        return "tools"
    if path == "/frame":
        return "frame"
    return path if path.startswith("/messages") else "other"


@dataclass
class _Parts:
    """Tokens per part, and whether the split is the estimator's own or scaled to an exact total."""

    tokens: dict[str, int]
    scaled: bool
    notes: list[str] = field(default_factory=list)


def _estimate_parts(res: TokenCount, req: CountRequest, counter: Counter, cache: OrderedDict[str, tuple[dict[str, int], list[str]]]) -> _Parts:
    if not res.exact:
        parts = dict(res.detail.get("parts") or {})
        return _Parts(parts, scaled=False, notes=list(res.detail.get("notes") or []))
    key = req.cache_key()
    hit = cache.get(key)
    if hit is None:
        est = counter.estimate(req, "attribution of an exact total")
        hit = (dict(est.detail.get("parts") or {}), list(est.detail.get("notes") or []))
        cache[key] = hit
        while len(cache) > 16:
            cache.popitem(last=False)
    return _Parts(_scale(hit[0], res.input_tokens), scaled=True)


# -- rendering --------------------------------------------------------------------------------------


def _badge(res: TokenCount) -> str:
    if res.exact:
        text = "exact · cached" if res.source == "cache" else "exact"
        colours = f"background:var(--jp-success-color3,rgba(46,125,50,.15));color:{OK}"
    else:
        text = "estimate"
        colours = f"background:var(--jp-warn-color3,rgba(230,81,0,.14));color:{WARN}"
    return (f'<span style="font-size:0.72em;font-weight:600;padding:1px 7px;border-radius:9px;'
            f'vertical-align:middle;{colours}">{text}</span>')


def _window_bar(res: TokenCount) -> str:
    frac = res.context_fraction
    if frac is None:
        return f'<div style="font-size:0.82em;color:{FG2}">context window unknown for {esc(res.model)}</div>'
    colour = WARN if frac >= WARN_FRACTION else ACCENT
    width = max(min(frac, 1.0) * 100, 0.6)
    over = " — over the limit" if frac > 1 else ""
    return (
        f'<div title="{frac:.2%} of the context window" style="height:7px;border-radius:4px;margin:8px 0 3px;'
        f'background:{TRACK};overflow:hidden"><div style="height:100%;width:{width:.2f}%;background:{colour};'
        f'border-radius:4px"></div></div>'
        f'<div style="font-size:0.82em;color:{FG2}">{frac:.2%} of the {res.context_window:,}-token context window{over}</div>'
    )


def render_total(res: TokenCount | None, *, pending: bool = False, error: str | None = None,
                 empty: str | None = None, notes: Iterable[str] = (), info: Iterable[str] = ()) -> str:
    """The big number, its kind (exact / ≈ with the reason), cost and share of the context window."""
    status = ""
    if pending:
        status = f'<span style="font-size:0.8em;color:{FG2};margin-left:6px">counting…</span>'
    if error:
        body = (f'<div style="color:{ERROR};font-weight:600">Cannot count</div>'
                f'<div style="color:{ERROR};font-size:0.9em;white-space:pre-wrap">{esc(error)}</div>{status}')
    elif res is None:
        text = empty or "Type a prompt or add a file to count its tokens."
        body = f'<div style="color:{FG2}">{esc(text)}{status}</div>'
    else:
        fade = "opacity:.5;" if pending else ""
        why = ""
        if not res.exact:
            why = (f'<div style="font-size:0.85em;color:{WARN};margin-top:2px">≈ estimate: '
                   f'{esc(res.reason or "offline")}</div>')
        cost = format_cost(res.cost_usd)
        price = " at the list input price" if res.cost_usd is not None else ""
        body = (
            f'<div style="{fade}display:flex;align-items:baseline;flex-wrap:wrap;gap:6px">'
            f'<span style="font-size:2.1em;font-weight:650;line-height:1.15;font-variant-numeric:tabular-nums">'
            f'{esc(res.label)}</span><span style="color:{FG2}">input tokens</span> {_badge(res)}{status}</div>'
            f"{why}"
            f'<div style="font-size:0.9em;margin-top:4px;{fade}"><b>{esc(cost)}</b>{price} · '
            f"{esc(res.display_name or res.model)}</div>"
            f'<div style="{fade}">{_window_bar(res)}</div>'
        )
    extra = "".join(f'<div style="font-size:0.82em;color:{FG2};margin-top:4px">{esc(n)}</div>' for n in info)
    extra += "".join(f'<div style="font-size:0.82em;color:{WARN};margin-top:4px">{esc(n)}</div>' for n in notes)
    return (f'<div class="jtc-card jupyter-token-count" style="box-sizing:border-box;font-family:{FONT};color:{FG};'
            f'border:1px solid {BORDER};border-radius:8px;padding:10px 14px">{body}{extra}</div>')


@dataclass
class _Row:
    label: str
    tokens: int
    colour: str
    title: str = ""


def render_bars(rows: list[_Row], total: int, *, approx: bool, note: str = "", heading: str = "Where the tokens go") -> str:
    """Horizontal bars, one per part, widths relative to the largest part."""
    if not rows or total <= 0:
        return ""
    top = max(r.tokens for r in rows) or 1
    sign = "≈" if approx else ""
    cells = []
    for r in rows:
        width = r.tokens / top * 100
        cells.append(
            f'<div title="{esc(r.title or r.label)}" style="overflow:hidden;text-overflow:ellipsis;white-space:nowrap;'
            f'max-width:14em">{esc(r.label)}</div>'
            f'<div style="height:10px;background:{TRACK};border-radius:5px;overflow:hidden;min-width:60px">'
            f'<div style="height:100%;width:{max(width, 0.8 if r.tokens else 0):.2f}%;background:{r.colour};'
            f'border-radius:5px"></div></div>'
            f'<div style="text-align:right;font-variant-numeric:tabular-nums">{sign}{r.tokens:,}</div>'
            f'<div style="text-align:right;color:{FG2};font-variant-numeric:tabular-nums">{esc(_pct(r.tokens, total))}</div>'
        )
    foot = f'<div style="font-size:0.8em;color:{FG2};margin-top:6px">{esc(note)}</div>' if note else ""
    return (
        f'<div class="jtc-card" style="box-sizing:border-box;font-family:{FONT};color:{FG};border:1px solid {BORDER};border-radius:8px;'
        f'padding:10px 14px;margin-top:8px"><div style="font-size:0.85em;font-weight:600;margin-bottom:6px">'
        f'{esc(heading)}</div><div style="display:grid;grid-template-columns:minmax(5em,max-content) 1fr auto auto;'
        f'gap:5px 10px;align-items:center;font-size:0.88em">{"".join(cells)}</div>{foot}</div>'
    )


def _split_note(parts: _Parts, res: TokenCount) -> str:
    if parts.scaled:
        return "Exact total from the API; its split between parts is the offline estimate's, scaled to it."
    estimator = res.detail.get("estimator")
    note = f"Estimated offline{f' ({estimator})' if estimator else ''}; framing is the per-request structure."
    extra = [n[:1].upper() + n[1:] + ("" if n.endswith(".") else ".") for n in dict.fromkeys(parts.notes) if n]
    return " ".join([note, *extra[:3]])


# -- files ------------------------------------------------------------------------------------------


@dataclass
class _File:
    name: str
    size: int
    kind: str = ""  # media type, when the bytes are an image or a PDF
    block: dict[str, Any] | None = None
    info: str = ""
    error: str | None = None  # its own problem: never sent
    checked_for: str | None = None  # the model its solo validation ran for
    tokens: int | None = None


def _read_upload(data: bytes, name: str) -> tuple[str, dict[str, Any]]:
    kind = sniff_media_type(data)
    if kind == PDF_TYPE:
        return kind, pdf_block(data)
    if kind in IMAGE_TYPES:
        return kind, image_block(data)
    suffix = Path(name).suffix.lower()
    if suffix in _IMAGE_SUFFIXES:
        raise InputError(f"named like an image ({suffix}) but its bytes are not PNG, JPEG, GIF or WebP")
    if suffix == ".pdf":
        raise InputError("named .pdf but it is not a PDF (no %PDF- header)")
    raise InputError("only PDF, PNG, JPEG, GIF and WebP files can be added")


def _describe(kind: str, data: bytes) -> str:
    """A short line about the file: 'PNG · 640×480 px', 'PDF · 3 pages'; '' when unreadable (validation says why)."""
    try:
        if kind == PDF_TYPE:
            n = pdf_pages(data)
            return f"PDF · {n} page{'s' if n != 1 else ''}"
        width, height = image_size(data)
        return f"{_KIND_NAMES.get(kind, kind)} · {width}×{height} px"
    except InputError:
        return _KIND_NAMES.get(kind, kind)


_quiet_lock = threading.Lock()
_quiet_depth = 0
_quiet_saved = logging.NOTSET


@contextlib.contextmanager
def _quiet_pdf_warnings() -> Iterator[None]:
    """pypdf logs each repair of a broken PDF to stderr ("EOF marker not found"); the panel already shows
    the file's error inline, so those lines would only be noise in the notebook. Nesting- and thread-safe."""
    global _quiet_depth, _quiet_saved
    logger = logging.getLogger("pypdf")
    with _quiet_lock:
        if _quiet_depth == 0:
            _quiet_saved = logger.level
            logger.setLevel(logging.ERROR)
        _quiet_depth += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_depth -= 1
            if _quiet_depth == 0:
                logger.setLevel(_quiet_saved)


def _load_file(source: str | Path | bytes, name: str | None, model: str, max_bytes: int) -> _File:
    """Read one file and validate it on its own (a one-block request), so a bad file gets its own error."""
    with _quiet_pdf_warnings():
        return _read_and_check(source, name, model, max_bytes)


def _read_and_check(source: str | Path | bytes, name: str | None, model: str, max_bytes: int) -> _File:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data: bytes | None = bytes(source)
        entry = _File(name or "file", len(data))
    else:
        path = Path(source).expanduser()
        entry = _File(name or path.name, 0)
        data = None
        with contextlib.suppress(OSError):  # a missing file is reported by read_path below
            entry.size = path.stat().st_size
        if entry.size * 4 / 3 > max_bytes:  # base64 grows it by a third: refuse before reading it all
            entry.error = f"{_size(entry.size)} is over the API's {max_bytes / 2**20:.0f} MB request limit once encoded"
            return entry
        try:
            what, payload = read_path(path)
        except InputError as exc:
            entry.error = exc.message
            return entry
        if what not in ("image", "pdf"):
            entry.error = f"only PDF, PNG, JPEG, GIF and WebP files can be added (this is {what})"
            return entry
        data = payload
        entry.size = len(payload)
    assert data is not None
    try:
        entry.kind, entry.block = _read_upload(data, entry.name)
    except InputError as exc:
        entry.error = exc.message
        return entry
    entry.info = _describe(entry.kind, data)
    _check_alone(entry, model, max_bytes)
    return entry


def _check_alone(entry: _File, model: str, max_bytes: int) -> None:
    """Validate the file as the only block of a request for ``model`` (page caps depend on the model)."""
    if entry.block is None:
        return
    entry.checked_for = model
    try:
        with _quiet_pdf_warnings():
            build_request(entry.block, model=model, max_bytes=max_bytes)
    except InputError as exc:
        entry.error = exc.message
    else:
        entry.error = None


def _parse_tools(text: str) -> Any:
    """The tools text area → a list of tool definitions, or None when empty. InputError says where it breaks."""
    if not text.strip():
        return None
    try:
        tools = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    if isinstance(tools, dict):
        tools = [tools]
    if not isinstance(tools, list):
        raise InputError("expected a JSON list of tool definitions (or one tool object)")
    return tools


@dataclass
class _Plan:
    """What one recount will send, and what was left out."""

    request: CountRequest | None
    labels: list[tuple[str, str]]  # per content block of the user message: (kind, name)
    files: list[str]  # names of files included
    file_errors: dict[str, str]  # name → why it is left out (beyond its own validation)
    tools_error: str | None
    error: str | None = None
    #: why nothing is counted although something was typed
    empty_note: str | None = None


# -- the panel ------------------------------------------------------------------------------------


class TokenCounter(w.VBox):
    """A live token-counter panel for a Claude prompt.

    >>> from jupyter_token_count import TokenCounter
    >>> TokenCounter(model="claude-sonnet-5-5", system="Be brief.", prompt="Summarise this report.")

    Drive it from code as well: ``model``, ``system`` and ``prompt`` are traits; ``input_tokens`` and
    ``exact`` follow the count on display; ``add_file(path)``, ``remove_file(name)`` and ``clear()``; ``request``
    is the body being counted (``client.messages.create(**panel.request, max_tokens=1024)``) and ``result``
    the ``TokenCount``. Counts are exact with an API key, else estimates shown with "≈" and the reason.
    """

    model = Unicode(help="model id (registry id, alias or any new id)")
    system = Unicode("", help="system prompt")
    prompt = Unicode("", help="user prompt")
    input_tokens = Int(0, read_only=True, help="the count on display (0 when there is nothing to count)")
    exact = Bool(False, read_only=True, help="True when input_tokens comes from the count_tokens API")
    status = Unicode("empty", read_only=True, help="empty | pending | done | error")
    error = Unicode("", read_only=True, help="why there is no count, when status is 'error'")

    def __init__(
        self,
        model: str | None = None,
        system: str | None = None,
        prompt: str | None = None,
        *,
        tools: Any = None,
        files: Iterable[str | Path] = (),
        mode: str | None = None,
        counter: Counter | None = None,
        debounce: float = DEBOUNCE,
        **kwargs: Any,
    ) -> None:
        self._counter = counter
        self._mode = mode
        self._debounce = debounce
        self._files: list[_File] = []
        self._rows: dict[str, tuple[w.HBox, w.HTML, w.Button]] = {}
        self._result: TokenCount | None = None
        self._plan: _Plan | None = None
        self._shown_key: tuple[str, str | None] | None = None
        self._parts_cache: OrderedDict[str, tuple[dict[str, int], list[str]]] = OrderedDict()
        self._sched = _Debouncer(self._recount, "jupyter-token-count-widget")
        self._ready = False
        self._build_ui(tools)
        super().__init__(children=[self._ui], **kwargs)
        self.add_class("jtc-panel")
        self.layout.width = "100%"
        self.model = (model or "").strip() or self._settings_model()
        self.system = system or ""
        self.prompt = prompt or ""
        link((self, "model"), (self._model_box, "value"))
        link((self, "system"), (self._system_box, "value"))
        link((self, "prompt"), (self._prompt_box, "value"))
        self._ready = True
        for f in files:
            self.add_file(f)
        self._changed(delay=0.0)  # the first count starts at once

    # -- construction ----------------------------------------------------------------------------
    def _settings_model(self) -> str:
        return (self._counter or get_counter()).settings.model

    def _build_ui(self, tools: Any) -> None:
        full = w.Layout(width="100%")
        models = [m.id for m in registry.all_models()]
        self._model_box = w.Combobox(options=models, ensure_option=False, continuous_update=False,
                                     placeholder="model id, e.g. claude-sonnet-5-5", layout=full)
        self._system_box = w.Textarea(placeholder="Optional system prompt", rows=3, layout=full)
        self._prompt_box = w.Textarea(placeholder="Type the user prompt; the count updates as you type", rows=6,
                                      layout=full)
        tools_text = "" if tools is None else json.dumps(tools, indent=2, ensure_ascii=False)
        self._tools_box = w.Textarea(value=tools_text, rows=5, layout=full,
                                     placeholder='[{"name": "get_weather", "description": "…", "input_schema": {"type": "object"}}]')
        self._tools_box.add_class("jtc-mono")
        self._tools_msg = w.HTML()
        self._tools_fold = w.Accordion(children=[w.VBox([self._tools_box, self._tools_msg])], titles=("Tools (JSON)",),
                                       selected_index=0 if tools else None, layout=w.Layout(width="100%", margin="8px 0 0"))
        self._upload = w.FileUpload(accept=UPLOAD_ACCEPT, multiple=True, description="Add files",
                                    tooltip="PDF, PNG, JPEG, GIF or WebP; add as many as you like", icon="paperclip",
                                    layout=w.Layout(width="auto"))
        self._upload.add_class("jtc-upload")
        self._file_list = w.VBox(layout=w.Layout(width="100%"))
        # no width: 100%: the widgets' own margins would push the cards past the right edge
        self._total = w.HTML()
        self._bars = w.HTML()
        self._clear_button = w.Button(description="Clear", tooltip="Empty the prompts, tools and files",
                                      layout=w.Layout(width="auto", margin="8px 0 0", align_self="flex-end"))
        self._clear_button.on_click(lambda _b: self.clear())
        title = w.HTML(f'{_STYLE}<div style="font-weight:650;font-size:1.05em;color:{FG}">Claude token count</div>')
        inputs = w.VBox(
            [
                _label("Model", "registry models, or type any id"), self._model_box,
                _label("System prompt"), self._system_box,
                _label("User prompt"), self._prompt_box,
                self._tools_fold,
                _label("Files", "PDF and images; each is counted in the request"),
                self._upload, self._file_list,
            ],
            layout=w.Layout(flex="3 1 340px", min_width="280px", padding="0 6px 0 0"),
        )
        results = w.VBox([self._total, self._bars, self._clear_button],
                         layout=w.Layout(flex="2 1 280px", min_width="240px", margin="22px 0 0"))
        body = w.Box([inputs, results], layout=w.Layout(display="flex", flex_flow="row wrap", width="100%",
                                                        align_items="flex-start", grid_gap="12px"))
        self._ui = w.VBox([title, body], layout=w.Layout(width="100%", padding="4px 2px"))
        self._tools_box.observe(lambda _c: self._changed(), names="value")
        self._upload.observe(self._on_upload, names="value")
        self._total.value = render_total(None, pending=True)

    # -- traits ------------------------------------------------------------------------------------
    @validate("model")
    def _valid_model(self, proposal: dict[str, Any]) -> str:
        return str(proposal["value"]).strip()

    @observe("model", "system", "prompt")
    def _on_input(self, _change: dict[str, Any]) -> None:
        self._changed()

    def _changed(self, delay: float | None = None) -> None:
        if not self._ready:
            return
        with self._sched.lock:
            self._sched.poke(self._debounce if delay is None else delay)
            if self.status != "pending":
                self.set_trait("status", "pending")
                self._total.value = render_total(self._result, pending=True,
                                                 empty="Type a prompt or add a file to count its tokens.")

    # -- public API --------------------------------------------------------------------------------
    @property
    def tools(self) -> list[dict[str, Any]] | None:
        """The parsed tools JSON (None when empty or invalid)."""
        try:
            return _parse_tools(self._tools_box.value)
        except InputError:
            return None

    @tools.setter
    def tools(self, value: Any) -> None:
        if isinstance(value, str):
            self._tools_box.value = value
        else:
            self._tools_box.value = "" if value is None else json.dumps(value, indent=2, ensure_ascii=False)

    @property
    def files(self) -> list[dict[str, Any]]:
        """The attached files: name, size, kind, info, error (None when it counts) and its token share."""
        with self._sched.lock:
            left_out = self._plan.file_errors if self._plan else {}
            return [{"name": f.name, "size": f.size, "kind": f.kind, "info": f.info,
                     "error": f.error or left_out.get(f.name), "tokens": f.tokens} for f in self._files]

    def add_file(self, path: str | Path | bytes, name: str | None = None) -> str:
        """Attach a PDF or image (a path, or bytes with a ``name``). A file that cannot be used is listed with
        its own error and left out of the request; nothing is sent for it. Returns the name it is listed under."""
        counter = self._counter or get_counter()
        entry = _load_file(path, name, self.model or counter.settings.model, counter.settings.max_request_bytes)
        with self._sched.lock:
            entry.name = self._unique(entry.name)
            self._files.append(entry)
        self._refresh_file_rows()
        self._changed()
        return entry.name

    def remove_file(self, name: str) -> None:
        """Detach the file listed under ``name`` (KeyError when there is none)."""
        with self._sched.lock:
            idx = next((i for i, f in enumerate(self._files) if f.name == name), None)
            if idx is None:
                names = ", ".join(repr(f.name) for f in self._files) or "none"
                raise KeyError(f"no file named {name!r} (attached: {names})")
            del self._files[idx]
        self._refresh_file_rows()
        self._changed()

    def clear(self) -> None:
        """Empty the system prompt, user prompt, tools and files (the model stays)."""
        with self._sched.lock:
            self._ready = False  # one recount for the whole reset, not one per field
            try:
                self._files.clear()
                self.system = ""
                self.prompt = ""
                self._tools_box.value = ""
            finally:
                self._ready = True
            self._result = None
            self._plan = None
            self._shown_key = None
            self.set_trait("input_tokens", 0)
            self.set_trait("exact", False)
            self.set_trait("error", "")
            self._tools_msg.value = ""
            self._bars.value = ""
            self._total.value = render_total(None)
            self._sched.poke(0.0)  # drops any answer still in flight
            self.set_trait("status", "empty")
        self._refresh_file_rows()

    @property
    def request(self) -> dict[str, Any] | None:
        """The body being counted, now: usable as ``client.messages.create(**panel.request, max_tokens=...)``.
        None when there is nothing to count. Files and tools with errors are left out, as in the count."""
        plan = self._make_plan(self._snapshot()[1])
        return copy.deepcopy(plan.request.body) if plan.request is not None else None

    @property
    def result(self) -> TokenCount | None:
        """The ``TokenCount`` for the current content (waits for a pending recount); None if nothing to count."""
        self.wait()
        return self._result

    def wait(self, timeout: float | None = None) -> TokenCount | None:
        """Block until the count matches the current content (or ``timeout`` seconds pass)."""
        if timeout is None:
            counter = self._counter or get_counter()
            timeout = counter.settings.timeout * (counter.settings.max_retries + 1) + 5
        self._sched.wait_idle(timeout)
        return self._result

    def summary(self) -> str:
        """One plain line: what a text-only front end shows."""
        if self.status == "error":
            return f"Token count unavailable: {self.error}"
        if self._result is None:
            return "Nothing to count yet: type a prompt or add a file"
        return self._result.summary()

    def close(self) -> None:
        self._sched.close()
        for child in self._all_children():
            child.close()
        super().close()

    # -- display -----------------------------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:
            return None
        if self._result is None and self.status == "pending":
            # a front end without widgets only ever sees this text: give it a number. An estimate is what
            # the worker computes anyway when no exact count can be had; an API count gets a short grace.
            counter = self._counter or get_counter()
            exact_possible = self._could_be_exact(counter)
            self._sched.wait_idle(TEXT_WAIT if exact_possible else 10 * TEXT_WAIT)
            plan = self._plan_or_none() if self._result is None and exact_possible else None
            if plan is not None and plan.request is not None:
                bundle["text/plain"] = counter.estimate(plan.request, "exact count still in flight").summary()
                return bundle
        bundle["text/plain"] = self.summary()
        return bundle

    def __repr__(self) -> str:
        return f"TokenCounter({self.summary()})"

    # -- internals: files --------------------------------------------------------------------------
    def _unique(self, name: str) -> str:
        taken = {f.name for f in self._files}
        if name not in taken:
            return name
        stem, suffix = Path(name).stem, Path(name).suffix
        n = 2
        while f"{stem} ({n}){suffix}" in taken:
            n += 1
        return f"{stem} ({n}){suffix}"

    def _on_upload(self, change: dict[str, Any]) -> None:
        uploads = change["new"]
        if not uploads:
            return
        for item in uploads:
            try:
                self.add_file(bytes(item["content"]), name=str(item["name"]))
            except Exception as exc:  # never let a file break the panel
                log.warning("could not add %s: %s", item.get("name"), exc)
        self._upload.value = ()  # ready for the next file; files are added one by one

    def _refresh_file_rows(self) -> None:
        """Rebuild the file list when files come or go; update each row's text otherwise."""
        with self._sched.lock:
            names = [f.name for f in self._files]
            for gone in set(self._rows) - set(names):
                row, text, button = self._rows.pop(gone)
                for widget in (text, button, row):
                    widget.close()
            for f in self._files:
                if f.name not in self._rows:
                    text = w.HTML(layout=w.Layout(flex="1 1 auto", overflow="hidden"))
                    button = w.Button(description="✕", tooltip=f"Remove {f.name}",
                                      layout=w.Layout(width="32px", min_width="32px", height="28px"))
                    button.on_click(lambda _b, n=f.name: self._remove_quietly(n))
                    row = w.HBox([text, button], layout=w.Layout(width="100%", align_items="center"))
                    row.add_class("jtc-file")
                    self._rows[f.name] = (row, text, button)
                self._rows[f.name][1].value = self._file_html(f)
            children = tuple(self._rows[n][0] for n in names)
            if self._file_list.children != children:
                self._file_list.children = children

    def _remove_quietly(self, name: str) -> None:
        with contextlib.suppress(KeyError):  # a double click on a row that is already gone
            self.remove_file(name)

    def _file_html(self, f: _File) -> str:
        plan = self._plan
        error = f.error or (plan.file_errors.get(f.name) if plan else None)
        meta = " · ".join(x for x in (f.info, _size(f.size)) if x)
        head = (f'<span style="font-weight:600">{esc(f.name)}</span> '
                f'<span style="color:{FG2};font-size:0.9em">{esc(meta)}</span>')
        if error:
            tail = f'<div style="color:{ERROR};font-size:0.88em">⚠ {esc(error)} — left out of the count</div>'
        elif f.tokens is not None and self._result is not None:
            # a file's share is always the estimator's attribution, even of an exact total
            share = esc(_pct(f.tokens, self._result.input_tokens))
            tail = f'<div style="font-size:0.88em;color:{FG2}">≈{f.tokens:,} tokens · {share} of the total</div>'
        else:
            tail = f'<div style="font-size:0.88em;color:{FG2}">counting…</div>'
        return f'<div style="line-height:1.35;padding:3px 0;overflow:hidden;text-overflow:ellipsis">{head}{tail}</div>'

    def _all_children(self) -> list[w.Widget]:
        out: list[w.Widget] = []

        def walk(widget: w.Widget) -> None:
            for child in getattr(widget, "children", ()) or ():
                walk(child)
                out.append(child)

        walk(self._ui)
        out.append(self._ui)
        return out

    # -- internals: counting -----------------------------------------------------------------------
    def _snapshot(self) -> tuple[int, dict[str, Any]]:
        with self._sched.lock:
            snap = {
                "model": self.model or self._settings_model(),
                "system": self.system,
                "prompt": self.prompt,
                "tools": self._tools_box.value,
                "files": list(self._files),
            }
            return self._sched.gen, snap

    def _plan_or_none(self) -> _Plan | None:
        try:
            return self._make_plan(self._snapshot()[1])
        except Exception:
            return None

    def _make_plan(self, snap: dict[str, Any]) -> _Plan:
        counter = self._counter or get_counter()
        max_bytes = counter.settings.max_request_bytes
        model = snap["model"]
        tools_error = None
        try:
            tools = _parse_tools(snap["tools"])
            if tools is not None:
                build_request(".", model=model, tools=tools, max_bytes=None)  # tools checked on their own
        except InputError as exc:
            tools, tools_error = None, str(exc)
        files: list[_File] = []
        for f in snap["files"]:
            if f.block is not None and f.checked_for != model:
                _check_alone(f, model, max_bytes)  # the page cap depends on the model
            if f.error is None and f.block is not None:
                files.append(f)
        prompt = snap["prompt"] if snap["prompt"].strip() else ""
        file_errors: dict[str, str] = {}
        while True:
            blocks: list[dict[str, Any]] = [f.block for f in files]  # type: ignore[misc]
            labels = [("file", f.name) for f in files]
            if prompt:
                blocks.append({"type": "text", "text": prompt})
                labels.append(("prompt", "User prompt"))
            if not blocks:
                note = None
                if snap["system"].strip() or tools:
                    note = "a system prompt or tools alone cannot be counted: the API needs a user message"
                return _Plan(None, [], [], file_errors, tools_error, empty_note=note)
            # a lone prompt is sent as a plain string (the familiar form), unless it reads like a file path
            content: Any = prompt if not files and not looks_like_path(prompt) else blocks
            message = {"role": "user", "content": content}
            try:
                req = build_request([message], model=model, system=snap["system"] or None, tools=tools,
                                    max_bytes=max_bytes, default_model=counter.settings.model)
            except InputError as exc:
                m = re.match(r"messages\[0\]\.content\[(\d+)\]", exc.where or "")
                k = int(m.group(1)) if m else -1
                if 0 <= k < len(files):  # a file that fails only in company (e.g. many large images): leave it out
                    file_errors[files[k].name] = exc.message
                    del files[k]
                    continue
                return _Plan(None, labels, [f.name for f in files], file_errors, tools_error, error=str(exc))
            return _Plan(req, labels, [f.name for f in files], file_errors, tools_error)

    def _recount(self, gen: int) -> None:
        """Worker thread: build, count, and apply — unless an edit made the answer stale."""
        counter = self._counter or get_counter()
        try:
            snap_gen, snap = self._snapshot()
            if snap_gen != gen:
                return  # edited since this run was scheduled; a newer run is due
            plan = self._make_plan(snap)
            if plan.request is None:
                self._apply(gen, plan, None, error=plan.error)
                return
            key = (plan.request.cache_key(), self._mode)
            shown = self._result
            if key == self._shown_key and shown is not None and (shown.exact or not self._could_be_exact(counter)):
                res = shown  # unchanged content: nothing to ask anyone
            else:
                res = counter.count(plan.request, self._mode)
            # an exact total is shown at once; its split needs the estimator, which may take a moment
            if res.exact and not self._apply(gen, plan, res, key=key):
                return
            try:
                parts = _estimate_parts(res, plan.request, counter, self._parts_cache)
            except Exception:  # the total stands without its split
                log.exception("token attribution failed")
                parts = None
            if self._apply(gen, plan, res, parts, key=key):
                self._retry_when_allowed(res)
        except InputError as exc:
            self._apply(gen, None, None, error=str(exc))
        except ApiError as exc:
            self._apply(gen, None, None, error=f"the API refused the request: {exc}")
        except TokenCountError as exc:
            self._apply(gen, None, None, error=str(exc))
        except Exception as exc:  # shown in the panel, never as a traceback in the notebook
            log.exception("token count failed")
            self._apply(gen, None, None, error=f"unexpected {type(exc).__name__}: {exc}")

    def _could_be_exact(self, counter: Counter) -> bool:
        return (self._mode or counter.settings.mode) != "offline" and counter.settings.key_configured

    def _retry_when_allowed(self, res: TokenCount) -> None:
        """A rate-limit estimate says when an exact count may be had: recount then, if nothing changed.
        A timer rather than the debouncer, so ``wait()`` does not wait for it."""
        if res.exact or not res.retry_after:
            return
        gen = self._sched.gen

        def retry() -> None:
            with self._sched.lock:
                if self._sched.current(gen):
                    self._changed(delay=0.0)

        timer = threading.Timer(res.retry_after + 0.25, retry)
        timer.daemon = True
        timer.start()

    def _apply(self, gen: int, plan: _Plan | None, res: TokenCount | None, parts: _Parts | None = None, *,
               error: str | None = None, key: tuple[str, str | None] | None = None) -> bool:
        """Show a count (and, once known, its split); False when an edit made it stale."""
        with self._sched.lock:
            if not self._sched.current(gen):
                return False  # a newer edit exists: its own count will be applied instead
            self._plan = plan
            self._result = res
            self._shown_key = key if res is not None else None
            self._tools_msg.value = (
                f'<div style="color:{ERROR};font-size:0.88em">⚠ {esc(plan.tools_error)} — tools left out of the count</div>'
                if plan is not None and plan.tools_error else "")
            notes: list[str] = []
            if plan is not None:
                left_out = [f for f in self._files if f.error or f.name in plan.file_errors]
                if left_out:
                    notes.append(f"{len(left_out)} file{'s' if len(left_out) > 1 else ''} left out (see the list)")
                if plan.tools_error:
                    notes.append("tools left out (see the error under Tools)")
                if res is None and error is None and plan.empty_note:
                    notes.append(plan.empty_note)
            self._total.value = render_total(res, error=error, notes=notes)
            if res is None:
                self._bars.value = ""
            if res is not None and plan is not None and parts is not None:
                rows = self._rows_for(plan, parts)
                self._bars.value = render_bars(rows, res.input_tokens, approx=not res.exact or parts.scaled,
                                               note=_split_note(parts, res))
            elif res is not None:
                for f in self._files:
                    f.tokens = None
            self.set_trait("error", error or "")
            self.set_trait("input_tokens", res.input_tokens if res else 0)
            self.set_trait("exact", bool(res and res.exact))
            self.set_trait("status", "error" if error else "done" if res else "empty")
        self._refresh_file_rows()
        return True

    def _rows_for(self, plan: _Plan, parts: _Parts) -> list[_Row]:
        groups: dict[str, int] = {}
        file_tokens: dict[str, int] = {}
        for path, n in parts.tokens.items():
            group = _part_group(path)
            m = _CONTENT.match(path)
            if m and m.group(1) == "0":
                k = m.group(2)
                kind, name = plan.labels[int(k)] if k is not None and int(k) < len(plan.labels) else ("prompt", "User prompt")
                group = f"file:{name}" if kind == "file" else "prompt"
                if kind == "file":
                    file_tokens[name] = file_tokens.get(name, 0) + n
            elif group.startswith("/messages"):
                group = "other"
            groups[group] = groups.get(group, 0) + n
        for f in self._files:
            f.tokens = file_tokens.get(f.name) if f.name in plan.files else None
        rows = []
        if groups.get("system"):
            rows.append(_Row("System prompt", groups["system"], COLOURS["system"]))
        if "prompt" in groups:
            rows.append(_Row("User prompt", groups["prompt"], COLOURS["prompt"]))
        for i, name in enumerate(plan.files):
            rows.append(_Row(name, groups.get(f"file:{name}", 0), FILE_COLOURS[i % len(FILE_COLOURS)]))
        if groups.get("tools"):
            rows.append(_Row("Tools", groups["tools"], COLOURS["tools"],
                             "tool definitions plus the tool-use system prompt the API adds"))
        if groups.get("other"):
            rows.append(_Row("Other", groups["other"], COLOURS["other"]))
        if groups.get("frame"):
            rows.append(_Row("Framing", groups["frame"], COLOURS["frame"], "message and turn markers every request pays"))
        return rows


# -- watch ------------------------------------------------------------------------------------------


class Watch(w.HTML):
    """A small display bound to a Python object (typically a message list you keep appending to).
    Call ``.refresh()`` after changing the object; counting happens off the main thread."""

    input_tokens = Int(0, read_only=True)
    exact = Bool(False, read_only=True)

    def __init__(self, obj: Any, *, model: str | None = None, system: Any = None, tools: Any = None,
                 mode: str | None = None, counter: Counter | None = None, every_cell: bool = False,
                 debounce: float = DEBOUNCE, **kwargs: Any) -> None:
        kwargs.setdefault("layout", w.Layout(max_width="38em"))
        super().__init__(**kwargs)
        self.obj = obj
        self._model = model
        self._system = system
        self._tools = tools
        self._mode = mode
        self._counter = counter
        self._debounce = debounce
        self._sched = _Debouncer(self._recount, "jupyter-token-count-watch")
        self._pending: CountRequest | None = None
        self._result: TokenCount | None = None
        self._previous: int | None = None
        self._error: str | None = None
        self._hook: Callable[..., None] | None = None
        if every_cell:
            self._install_hook()
        self.refresh(delay=0.0)

    @property
    def result(self) -> TokenCount | None:
        self.wait()
        return self._result

    def wait(self, timeout: float | None = None) -> TokenCount | None:
        counter = self._counter or get_counter()
        self._sched.wait_idle(timeout if timeout is not None else counter.settings.timeout * 3 + 5)
        return self._result

    def refresh(self, delay: float | None = None) -> Watch:
        """Recount the object as it is now (the snapshot is taken here, the count runs in the background)."""
        counter = self._counter or get_counter()
        with self._sched.lock:
            try:
                self._pending = build_request(self.obj, model=self._model, system=self._system, tools=self._tools,
                                              max_bytes=counter.settings.max_request_bytes,
                                              default_model=counter.settings.model)
                self._error = None
            except InputError as exc:
                self._pending, self._error = None, str(exc)
            self._sched.poke(self._debounce if delay is None else delay)
            self.value = self._render(pending=True)
        return self

    def close(self) -> None:
        self._sched.close()
        if self._hook is not None:
            try:
                from IPython import get_ipython

                ip = get_ipython()
                if ip is not None:
                    ip.events.unregister("post_run_cell", self._hook)
            except Exception:
                pass
            self._hook = None
        super().close()

    def _install_hook(self) -> None:
        from IPython import get_ipython

        ip = get_ipython()
        if ip is None:
            return

        def after_cell(_result: Any = None) -> None:
            self.refresh()

        self._hook = after_cell
        ip.events.register("post_run_cell", after_cell)

    def _recount(self, gen: int) -> None:
        with self._sched.lock:
            req, error = self._pending, self._error
        res: TokenCount | None = None
        try:
            if req is not None:
                res = (self._counter or get_counter()).count(req, self._mode)
        except ApiError as exc:
            error = f"the API refused the request: {exc}"
        except TokenCountError as exc:
            error = str(exc)
        except Exception as exc:
            log.exception("token count failed")
            error = f"unexpected {type(exc).__name__}: {exc}"
        with self._sched.lock:
            if not self._sched.current(gen):
                return
            if res is not None and self._result is not None:
                self._previous = self._result.input_tokens
            self._result, self._error = res, error
            self.value = self._render()
            self.set_trait("input_tokens", res.input_tokens if res else 0)
            self.set_trait("exact", bool(res and res.exact))

    def _render(self, pending: bool = False) -> str:
        notes = []
        if self._result is not None and self._previous is not None and not pending:
            delta = self._result.input_tokens - self._previous
            if delta:
                notes.append(f"{delta:+,} since the previous refresh")
        return render_total(self._result, pending=pending, error=self._error, empty="Nothing counted yet", info=notes)

    def summary(self) -> str:
        if self._error:
            return f"Token count unavailable: {self._error}"
        return self._result.summary() if self._result else "Nothing counted yet"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:
            return None
        if self._result is None:
            self._sched.wait_idle(TEXT_WAIT)
        bundle["text/plain"] = self.summary()
        return bundle

    def __repr__(self) -> str:
        return f"Watch({self.summary()})"


def watch(obj: Any, *, model: str | None = None, system: Any = None, tools: Any = None, mode: str | None = None,
          every_cell: bool = False) -> Watch:
    """A small live count of ``obj`` (e.g. the message list of a conversation). Call ``.refresh()`` after
    changing it, or pass ``every_cell=True`` to refresh after each cell runs.

    >>> messages = [{"role": "user", "content": "Hi"}]
    >>> counts = watch(messages, model="claude-sonnet-5-5")
    >>> messages.append({"role": "assistant", "content": "Hello!"}); counts.refresh()
    """
    return Watch(obj, model=model, system=system, tools=tools, mode=mode, every_cell=every_cell)
