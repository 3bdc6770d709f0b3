"""``TokenCounter``: the live token-counter panel. Edits are debounced onto a worker thread, a stale
answer is dropped, and each file carries its own error."""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import ipywidgets as w
from traitlets import Bool, Int, Unicode, link, observe, validate

from .. import registry
from ..api import with_warning
from ..counter import Counter
from ..display import BORDER, COLOURS, ERROR, FG, FG2, FILE_COLOURS, FONT, MONO, render_total
from ..errors import InputError, TokenCountError
from ..formatting import format_tokens
from ..modelcheck import check_model
from ..request.betas import check_betas
from ..result import TokenCount
from .debounce import DEBOUNCE, TEXT_WAIT, _BackgroundCount, _Debouncer
from .files import UPLOAD_ACCEPT, _File, _load_file
from .parts import _CONTENT, _estimate_parts, _part_group, _Parts
from .plan import _make_plan, _parse_tools, _Plan
from .render import _pct, _Row, _size, _split_note, esc, render_bars

log = logging.getLogger(__name__)

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


def _label(text: str, hint: str = "") -> w.HTML:
    hint_html = f' <span style="color:{FG2};font-weight:400">{esc(hint)}</span>' if hint else ""
    return w.HTML(
        f'<div style="font-size:0.85em;font-weight:600;color:{FG};margin-top:6px">{esc(text)}{hint_html}</div>'
    )


class TokenCounter(_BackgroundCount, w.VBox):
    """A live token-counter panel for a Claude prompt.

    >>> from jupyter_token_count import TokenCounter
    >>> TokenCounter(model="claude-sonnet-5-5", system="Be brief.", prompt="Summarise this report.")

    Drive it from code as well: ``model``, ``system`` and ``prompt`` are traits; ``input_tokens`` and
    ``exact`` follow the count on display; ``add_file(path)``, ``remove_file(name)`` and ``clear()``; ``request``
    is the body being counted (``client.messages.create(**panel.request, max_tokens=1024)``) and ``result``
    the ``TokenCount``. Counts are exact with an API key, else estimates shown with "≈" and the reason.
    ``betas``: ``anthropic-beta`` values the prompt is counted with.
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
        betas: Iterable[str] = (),
        counter: Counter | None = None,
        debounce: float = DEBOUNCE,
        **kwargs: Any,
    ) -> None:
        self._counter = counter
        self._betas = check_betas(list(betas))  # counted with these anthropic-beta values
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
        return (self._active_counter()).settings.model

    def _build_ui(self, tools: Any) -> None:
        full = w.Layout(width="100%")
        models = [m.id for m in registry.all_models()]
        self._model_box = w.Combobox(
            options=models,
            ensure_option=False,
            continuous_update=False,
            placeholder="model id, e.g. claude-sonnet-5-5",
            layout=full,
        )
        self._system_box = w.Textarea(placeholder="Optional system prompt", rows=3, layout=full)
        self._prompt_box = w.Textarea(
            placeholder="Type the user prompt; the count updates as you type", rows=6, layout=full
        )
        tools_text = "" if tools is None else json.dumps(tools, indent=2, ensure_ascii=False)
        self._tools_box = w.Textarea(
            value=tools_text,
            rows=5,
            layout=full,
            placeholder='[{"name": "get_weather", "description": "…", "input_schema": {"type": "object"}}]',
        )
        self._tools_box.add_class("jtc-mono")
        self._tools_msg = w.HTML()
        self._tools_fold = w.Accordion(
            children=[w.VBox([self._tools_box, self._tools_msg])],
            titles=("Tools (JSON)",),
            selected_index=0 if tools else None,
            layout=w.Layout(width="100%", margin="8px 0 0"),
        )
        self._upload = w.FileUpload(
            accept=UPLOAD_ACCEPT,
            multiple=True,
            description="Add files",
            tooltip="PDF, PNG, JPEG, GIF or WebP; add as many as you like",
            icon="paperclip",
            layout=w.Layout(width="auto"),
        )
        self._upload.add_class("jtc-upload")
        self._file_list = w.VBox(layout=w.Layout(width="100%"))
        # no width: 100%: the widgets' own margins would push the cards past the right edge
        self._total = w.HTML()
        self._bars = w.HTML()
        self._clear_button = w.Button(
            description="Clear",
            tooltip="Empty the prompts, tools and files",
            layout=w.Layout(width="auto", margin="8px 0 0", align_self="flex-end"),
        )
        self._clear_button.on_click(lambda _b: self.clear())
        title = w.HTML(f'{_STYLE}<div style="font-weight:650;font-size:1.05em;color:{FG}">Claude token count</div>')
        inputs = w.VBox(
            [
                _label("Model", "registry models, or type any id"),
                self._model_box,
                _label("System prompt"),
                self._system_box,
                _label("User prompt"),
                self._prompt_box,
                self._tools_fold,
                _label("Files", "PDF and images; each is counted in the request"),
                self._upload,
                self._file_list,
            ],
            layout=w.Layout(flex="3 1 340px", min_width="280px", padding="0 6px 0 0"),
        )
        results = w.VBox(
            [self._total, self._bars, self._clear_button],
            layout=w.Layout(flex="2 1 280px", min_width="240px", margin="22px 0 0"),
        )
        body = w.Box(
            [inputs, results],
            layout=w.Layout(
                display="flex", flex_flow="row wrap", width="100%", align_items="flex-start", grid_gap="12px"
            ),
        )
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
                self._total.value = render_total(
                    self._result, pending=True, empty="Type a prompt or add a file to count its tokens."
                )

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
            return [
                {
                    "name": f.name,
                    "size": f.size,
                    "kind": f.kind,
                    "info": f.info,
                    "error": f.error or left_out.get(f.name),
                    "tokens": f.tokens,
                }
                for f in self._files
            ]

    def add_file(self, path: str | Path | bytes, name: str | None = None) -> str:
        """Attach a PDF or image (a path, or bytes with a ``name``). A file that cannot be used is listed with
        its own error and left out of the request; nothing is sent for it. Returns the name it is listed under."""
        counter = self._active_counter()
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
        plan = _make_plan(self._snapshot()[1], self._active_counter())
        return copy.deepcopy(plan.request.body) if plan.request is not None else None

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
            counter = self._active_counter()
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
                    button = w.Button(
                        description="✕",
                        tooltip=f"Remove {f.name}",
                        layout=w.Layout(width="32px", min_width="32px", height="28px"),
                    )
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
        head = (
            f'<span style="font-weight:600">{esc(f.name)}</span> '
            f'<span style="color:{FG2};font-size:0.9em">{esc(meta)}</span>'
        )
        if error:
            tail = f'<div style="color:{ERROR};font-size:0.88em">⚠ {esc(error)} — left out of the count</div>'
        elif f.tokens is not None and self._result is not None:
            # a file's share is always the estimator's attribution, even of an exact total
            share = esc(_pct(f.tokens, self._result.input_tokens))
            tokens = format_tokens(f.tokens, False)
            tail = f'<div style="font-size:0.88em;color:{FG2}">{tokens} tokens · {share} of the total</div>'
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
                "betas": self._betas,
            }
            return self._sched.gen, snap

    def _plan_or_none(self) -> _Plan | None:
        try:
            return _make_plan(self._snapshot()[1], self._active_counter())
        except Exception:
            return None

    def _recount(self, gen: int) -> None:
        """Worker thread: build, count, and apply — unless an edit made the answer stale."""
        counter = self._active_counter()
        try:
            snap_gen, snap = self._snapshot()
            if snap_gen != gen:
                return  # edited since this run was scheduled; a newer run is due
            plan = _make_plan(snap, counter)
            if plan.request is None:
                self._apply(gen, plan, None, error=plan.error)
                return
            key = (plan.request.identity, self._mode)
            shown = self._result
            if key == self._shown_key and shown is not None and (shown.exact or not self._could_be_exact(counter)):
                res = shown  # unchanged content: nothing to ask anyone
            else:
                # an unknown id: UnknownModel (shown as the error) when the API's list says so, else a warning
                warning = check_model(plan.request.model, counter.settings, self._mode)
                res = with_warning(counter.count(plan.request, self._mode), warning)
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
        except TokenCountError as exc:  # each error says how it reads (errors.py)
            self._apply(gen, None, None, error=exc.user_message(counter.settings))
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

    def _apply(
        self,
        gen: int,
        plan: _Plan | None,
        res: TokenCount | None,
        parts: _Parts | None = None,
        *,
        error: str | None = None,
        key: tuple[str, str | None] | None = None,
    ) -> bool:
        """Show a count (and, once known, its split); False when an edit made it stale."""
        with self._sched.lock:
            if not self._sched.current(gen):
                return False  # a newer edit exists: its own count will be applied instead
            self._plan = plan
            self._result = res
            self._shown_key = key if res is not None else None
            self._tools_msg.value = (
                f'<div style="color:{ERROR};font-size:0.88em">⚠ {esc(plan.tools_error)} — tools left out of '
                "the count</div>"
                if plan is not None and plan.tools_error
                else ""
            )
            notes: list[str] = []
            if plan is not None:
                left_out = [f for f in self._files if f.error or f.name in plan.file_errors]
                if left_out:
                    notes.append(f"{len(left_out)} file{'s' if len(left_out) > 1 else ''} left out (see the list)")
                if plan.tools_error:
                    notes.append("tools left out (see the error under Tools)")
                if res is None and error is None and plan.empty_note:
                    notes.append(plan.empty_note)
            if res is not None:
                notes.extend(f"⚠ {w}" for w in res.warnings)
            self._total.value = render_total(res, error=error, notes=notes)
            if res is None:
                self._bars.value = ""
            if res is not None and plan is not None and parts is not None:
                rows = self._rows_for(plan, parts)
                self._bars.value = render_bars(
                    rows, res.input_tokens, approx=not res.exact or parts.scaled, note=_split_note(parts, res)
                )
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
                kind, name = (
                    plan.labels[int(k)] if k is not None and int(k) < len(plan.labels) else ("prompt", "User prompt")
                )
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
            rows.append(
                _Row(
                    "Tools",
                    groups["tools"],
                    COLOURS["tools"],
                    "tool definitions plus the tool-use system prompt the API adds",
                )
            )
        if groups.get("other"):
            rows.append(_Row("Other", groups["other"], COLOURS["other"]))
        if groups.get("frame"):
            rows.append(
                _Row("Framing", groups["frame"], COLOURS["frame"], "message and turn markers every request pays")
            )
        return rows
