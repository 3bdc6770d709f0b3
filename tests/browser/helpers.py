"""Page helpers shared by the browser tests and the benchmark (all waits are on DOM state, no sleeps)."""

from __future__ import annotations

from typing import Any

#: Per cell of the current notebook, in order: is it empty, and what does its badge show.
CELLS_JS = """
() => {
  const app = window.jupyterapp;
  const panel = app.shell.currentWidget;
  if (!panel || !panel.content || !panel.content.widgets) { return null; }
  return panel.content.widgets.map((cell, index) => {
    const badge = cell.node.querySelector('.jp-TokenCount-badge');
    const shown = !!badge && !badge.hidden && getComputedStyle(badge).display !== 'none'
      && badge.dataset.tokenCount !== undefined;
    return {
      index,
      id: cell.model.id,
      type: cell.model.type,
      empty: cell.model.sharedModel.getSource().trim() === '',
      rendered: !!cell.inputArea && !cell.isPlaceholder(),
      badge: shown ? {
        text: badge.textContent,
        tokens: Number(badge.dataset.tokenCount),
        exact: badge.dataset.tokenExact === 'true',
        pending: badge.classList.contains('jp-mod-pending'),
        title: badge.title,
      } : null,
    };
  });
}
"""

ALL_BADGED_JS = """
() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.context || !panel.context.isReady || !panel.content.widgets.length) { return false; }
  return panel.content.widgets.every(cell => {
    const empty = cell.model.sharedModel.getSource().trim() === '';
    const badge = cell.node.querySelector('.jp-TokenCount-badge');
    const shown = !!badge && !badge.hidden && badge.dataset.tokenCount !== undefined;
    return empty ? !shown : shown;
  });
}
"""


def open_notebook(page: Any, server: Any, name: str) -> None:
    url = server.notebook_url(name)
    if server.app == "lab":
        url += "&reset"  # ignore the workspace a previous test left behind
    page.goto(url)
    page.wait_for_function(
        "() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
        " return !!(w && w.context && w.context.isReady && w.content && w.content.widgets && "
        "w.content.widgets.length); }"
    )


def wait_all_badges(page: Any) -> list[dict[str, Any]]:
    page.wait_for_function(ALL_BADGED_JS)
    return cells(page)


def cells(page: Any) -> list[dict[str, Any]]:
    return page.evaluate(CELLS_JS)


def badge_tokens(page: Any, index: int) -> int | None:
    b = cells(page)[index]["badge"]
    return None if b is None else b["tokens"]


def wait_badge_change(page: Any, index: int, old: int, *, settled: bool = True) -> int:
    """Wait until cell `index`'s badge shows a count other than `old` (and, if `settled`, no longer pending)."""
    page.wait_for_function(
        """([i, old, settled]) => {
          const cell = window.jupyterapp.shell.currentWidget.content.widgets[i];
          const b = cell && cell.node.querySelector('.jp-TokenCount-badge');
          if (!b || b.hidden || b.dataset.tokenCount === undefined) { return false; }
          if (settled && b.classList.contains('jp-mod-pending')) { return false; }
          return Number(b.dataset.tokenCount) !== old;
        }""",
        arg=[index, old, settled],
    )
    return badge_tokens(page, index)  # type: ignore[return-value]


def type_into_cell(page: Any, index: int, text: str, delay: float = 15) -> None:
    """Click into cell `index`'s editor, move to its end and type like a user."""
    page.evaluate(
        """(i) => {
          const nb = window.jupyterapp.shell.currentWidget.content;
          nb.activeCellIndex = i;
          nb.scrollToCell(nb.widgets[i]);
        }""",
        index,
    )
    editor = page.locator(".jp-Notebook .jp-Cell.jp-mod-active .cm-content")
    editor.click()
    page.keyboard.press("Control+End")
    page.keyboard.type(text, delay=delay)


def execute(page: Any, command: str, args: dict[str, Any] | None = None) -> Any:
    return page.evaluate("([c, a]) => window.jupyterapp.commands.execute(c, a || {})", [command, args or {}])


def status_total(page: Any) -> int:
    page.wait_for_selector(".jp-TokenCount-status[data-token-count-total]")
    return int(page.get_attribute(".jp-TokenCount-status", "data-token-count-total"))


def sidebar_total(page: Any) -> int:
    page.wait_for_selector("[data-token-count-sidebar-total]")
    return int(page.get_attribute("[data-token-count-sidebar-total]", "data-token-count-sidebar-total"))


def wait_kernel_idle(page: Any) -> None:
    page.wait_for_function(
        "() => { const s = window.jupyterapp.shell.currentWidget.sessionContext;"
        " return !!(s && s.session && s.session.kernel && s.session.kernel.status === 'idle'); }"
    )
