"""``watch``: a small live count of a Python object (typically a message list you keep appending to)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import ipywidgets as w
from traitlets import Bool, Int

from ..counter import Counter
from ..display import render_total
from ..errors import InputError, TokenCountError
from ..request import CountRequest, build_request
from ..result import TokenCount
from .debounce import DEBOUNCE, TEXT_WAIT, _BackgroundCount, _Debouncer

log = logging.getLogger(__name__)


class Watch(_BackgroundCount, w.HTML):
    """A small display bound to a Python object (typically a message list you keep appending to).
    Call ``.refresh()`` after changing the object; counting happens off the main thread."""

    input_tokens = Int(0, read_only=True)
    exact = Bool(False, read_only=True)

    def __init__(
        self,
        obj: Any,
        *,
        model: str | None = None,
        system: Any = None,
        tools: Any = None,
        mode: str | None = None,
        counter: Counter | None = None,
        every_cell: bool = False,
        debounce: float = DEBOUNCE,
        **kwargs: Any,
    ) -> None:
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

    def refresh(self, delay: float | None = None) -> Watch:
        """Recount the object as it is now (the snapshot is taken here, the count runs in the background)."""
        counter = self._active_counter()
        with self._sched.lock:
            try:
                self._pending = build_request(
                    self.obj,
                    model=self._model,
                    system=self._system,
                    tools=self._tools,
                    max_bytes=counter.settings.max_request_bytes,
                    default_model=counter.settings.model,
                )
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
        counter = self._active_counter()
        try:
            if req is not None:
                res = counter.count(req, self._mode)
        except TokenCountError as exc:  # each error says how it reads (errors.py)
            error = exc.user_message(counter.settings)
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


def watch(
    obj: Any,
    *,
    model: str | None = None,
    system: Any = None,
    tools: Any = None,
    mode: str | None = None,
    every_cell: bool = False,
) -> Watch:
    """A small live count of ``obj`` (e.g. the message list of a conversation). Call ``.refresh()`` after
    changing it, or pass ``every_cell=True`` to refresh after each cell runs.

    >>> messages = [{"role": "user", "content": "Hi"}]
    >>> counts = watch(messages, model="claude-sonnet-5-5")
    >>> messages.append({"role": "assistant", "content": "Hello!"}); counts.refresh()
    """
    return Watch(obj, model=model, system=system, tools=tools, mode=mode, every_cell=every_cell)
