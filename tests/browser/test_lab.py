"""JupyterLab in headless Chromium: badges, live recount, status bar, sidebar, model switch, commands."""

from __future__ import annotations

import json
import random
import re
from typing import Any

import nbformat
import pytest

from .helpers import (
    badge_tokens,
    cells,
    execute,
    open_notebook,
    sidebar_total,
    status_total,
    type_into_cell,
    wait_all_badges,
    wait_badge_change,
    wait_kernel_idle,
)
from .notebooks import DEMO, KERNELSPEC, LARGE

pytestmark = pytest.mark.browser


@pytest.fixture
def server(lab: Any) -> Any:
    lab.reset()
    return lab


def open_sidebar_from_status(page: Any) -> None:
    page.click(".jp-TokenCount-status")
    page.wait_for_selector("#jp-token-count-sidebar:visible")
    page.wait_for_selector("[data-token-count-sidebar-total]")


def test_every_nonempty_cell_shows_a_badge(server: Any, page: Any) -> None:
    open_notebook(page, server, DEMO)
    state = wait_all_badges(page)
    page.shots("badges")
    assert len(state) == 6
    for cell in state:
        if cell["empty"]:
            assert cell["badge"] is None, f"empty cell {cell['index']} has a badge"
        else:
            assert cell["badge"] is not None, f"cell {cell['index']} has no badge"
            assert cell["badge"]["tokens"] > 0
            assert "Model:" in cell["badge"]["title"] and "Cost:" in cell["badge"]["title"]
    # The test hook is an integer attribute on the badge element itself.
    hooks = page.eval_on_selector_all(".jp-TokenCount-badge:not([hidden])", "els => els.map(e => e.dataset.tokenCount)")
    assert hooks and all(re.fullmatch(r"\d+", h) for h in hooks)


def test_offline_badges_show_approx(server: Any, page: Any) -> None:
    open_notebook(page, server, DEMO)
    state = wait_all_badges(page)
    badges = [c["badge"] for c in state if c["badge"]]
    assert badges
    for b in badges:
        assert b["exact"] is False
        assert b["text"].startswith("≈"), b["text"]
        assert "Estimate" in b["title"]
        assert b["title"].startswith(f"{b['text']} input tokens"), b["title"]  # the tooltip's count too
        # and how far it may be off: the range that holds the real count nine times in ten
        assert re.search(r"\nLikely (exact|[\d,]+–[\d,]+): the real count is in this range 9 times in 10", b["title"])
    assert page.inner_text(".jp-TokenCount-status").startswith("≈")
    status_title = page.get_attribute(".jp-TokenCount-status", "title") or ""
    assert re.search(r": ≈[\d,]+ input tokens", status_title)
    total = int(page.get_attribute(".jp-TokenCount-status", "data-token-count-total") or "0")
    likely = re.search(r"Likely (?:exact|([\d,]+)–([\d,]+)): the real count", status_title)
    assert likely, status_title
    if likely[1]:
        assert int(likely[1].replace(",", "")) <= total <= int(likely[2].replace(",", "")), status_title
    page.shots("offline-approx")
    # The sidebar marks every estimated number as well: total, by type, ranked cells.
    open_sidebar_from_status(page)
    numbers = page.eval_on_selector_all(
        ".jp-TokenCount-total, .jp-TokenCount-typesTable .jp-TokenCount-num, .jp-TokenCount-rowTokens",
        "els => els.map(e => e.textContent)",
    )
    assert len(numbers) > len(badges) and all(n.startswith("≈") for n in numbers), numbers


def test_typing_changes_the_badge(server: Any, page: Any) -> None:
    open_notebook(page, server, DEMO)
    wait_all_badges(page)
    before = badge_tokens(page, 5)
    total_before = status_total(page)
    page.shots("before-typing")
    type_into_cell(page, 5, "\n# now also compute the median of every region and compare it with the mean")
    after = wait_badge_change(page, 5, before)
    page.shots("after-typing")
    assert after > before
    page.wait_for_function(
        "(old) => Number(document.querySelector('.jp-TokenCount-status').dataset.tokenCountTotal) !== old",
        arg=total_before,
    )
    # Other cells keep their counts; the total (the notebook as one request) moves by the cell's change, give
    # or take a token merged at the cell's boundary.
    assert abs((status_total(page) - total_before) - (after - before)) <= 2


def test_status_total_equals_sidebar_total(server: Any, page: Any) -> None:
    open_notebook(page, server, DEMO)
    state = wait_all_badges(page)
    total = status_total(page)
    open_sidebar_from_status(page)
    page.shots("sidebar")
    assert sidebar_total(page) == total
    # The "by type" rows and the "joins and frame" row add up to the total row, which is the total.
    by_type = page.eval_on_selector_all(
        ".jp-TokenCount-typesTable tr", "rows => rows.map(r => Number(r.dataset.tokenCount))"
    )
    assert by_type[-1] == total and sum(by_type[:-1]) == total
    joins = by_type[-2]
    assert joins + sum(c["badge"]["tokens"] for c in state if c["badge"]) == total
    # Cells are ranked by tokens, one row per non-empty cell.
    ranked = page.eval_on_selector_all(".jp-TokenCount-rowButton", "els => els.map(e => Number(e.dataset.tokenCount))")
    assert ranked == sorted(ranked, reverse=True)
    assert len(ranked) == sum(1 for c in state if not c["empty"])
    # The status item warns (and says so) only above 80 % of the context window.
    assert "jp-mod-warning" not in (page.get_attribute(".jp-TokenCount-status", "class") or "")


def model_that_counts_differently(server: Any, default: str) -> str:
    """A model whose tokenizer gives the demo cells other counts than `default` (tokenizer families
    can share a vocabulary, so ask the server rather than trusting family names)."""
    nb = nbformat.read(str(server.root / DEMO), as_version=4)
    cells = [{"id": c["id"], "cell_type": c["cell_type"], "source": c["source"]} for c in nb.cells]

    def counts(model: str) -> list[int]:
        body = {"model": model, "cells": cells, "include_outputs": False, "mode": "offline"}
        return [c["tokens"] for c in server.api("jupyter-token-count/cells", body)["cells"]]

    base = counts(default)
    models = server.api("jupyter-token-count/models")["models"]
    family = next((m.get("tokenizer") for m in models if m["id"] == default), None)
    for m in sorted(models, key=lambda m: m.get("tokenizer") == family):
        if m["id"] != default and m.get("lifecycle") != "retired" and counts(m["id"]) != base:
            return m["id"]
    raise AssertionError(f"no model counts the demo notebook differently from {default}")


def test_switching_the_model_changes_the_counts(server: Any, page: Any) -> None:
    models = server.api("jupyter-token-count/models")
    default = models["default_model"]
    by_id = {m["id"]: m for m in models["models"]}
    family = by_id.get(default, {}).get("tokenizer")
    other = model_that_counts_differently(server, default)
    open_notebook(page, server, DEMO)
    before = {c["index"]: c["badge"]["tokens"] for c in wait_all_badges(page) if c["badge"]}
    total_before = status_total(page)
    open_sidebar_from_status(page)
    page.select_option(".jp-TokenCount-model", other)
    page.wait_for_function(
        "(m) => document.querySelector('.jp-TokenCount-status').title.includes(m)",
        arg=by_id[other]["display_name"],
    )
    page.wait_for_function(
        "(old) => Number(document.querySelector('[data-token-count-sidebar-total]')"
        ".dataset.tokenCountSidebarTotal) !== old",
        arg=total_before,
    )
    page.shots("model-switched")
    after = {c["index"]: c["badge"]["tokens"] for c in wait_all_badges(page) if c["badge"]}
    assert after.keys() == before.keys()
    assert after != before, f"{other} ({by_id[other].get('tokenizer')}) counted the same as {default} ({family})"
    assert status_total(page) == sidebar_total(page) != total_before


def test_compare_models_side_by_side(server: Any, page: Any) -> None:
    open_notebook(page, server, DEMO)
    wait_all_badges(page)
    open_sidebar_from_status(page)
    page.click(".jp-TokenCount-compare summary")
    page.wait_for_function(
        "() => { const rows = document.querySelectorAll('.jp-TokenCount-compareTable tr[data-model]');"
        " return rows.length >= 2 && Array.from(rows).every(r => r.dataset.tokenCount !== undefined); }"
    )
    page.shots("compare")
    rows = page.eval_on_selector_all(
        ".jp-TokenCount-compareTable tr[data-model]",
        "rows => rows.map(r => [r.dataset.model, Number(r.dataset.tokenCount)])",
    )
    assert 2 <= len(rows) <= 3
    assert len({t for _, t in rows}) > 1, f"every tokenizer gave the same total: {rows}"


def test_sidebar_rows_are_keyboard_accessible(server: Any, page: Any) -> None:
    open_notebook(page, server, DEMO)
    wait_all_badges(page)
    # Badges and the status item are reachable from the keyboard and labelled for screen readers.
    assert page.get_attribute(".jp-TokenCount-status", "tabindex") == "0"
    badge = page.locator(".jp-TokenCount-badge:not([hidden])").first
    assert badge.get_attribute("tabindex") == "0"
    assert "tokens" in (badge.get_attribute("aria-label") or "")
    # Enter on a badge opens the panel.
    assert not page.is_visible("#jp-token-count-sidebar")
    badge.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("#jp-token-count-sidebar:visible")
    page.wait_for_selector("[data-token-count-sidebar-total]")
    # Enter on a row goes to its cell.
    last = page.locator(".jp-TokenCount-rowButton").last
    target_id = last.get_attribute("data-cell-id")
    assert target_id != page.evaluate("() => window.jupyterapp.shell.currentWidget.content.activeCell.model.id")
    last.focus()
    page.keyboard.press("Enter")
    page.wait_for_function(
        "(id) => window.jupyterapp.shell.currentWidget.content.activeCell.model.id === id", arg=target_id
    )
    page.shots("row-jump")


def test_commands_in_palette(server: Any, page: Any) -> None:
    open_notebook(page, server, DEMO)
    wait_all_badges(page)
    labels = page.evaluate(
        "() => ['token-count:toggle-badges','token-count:open-sidebar',"
        "'token-count:recount','token-count:copy-messages']"
        ".map(id => window.jupyterapp.commands.hasCommand(id) ? window.jupyterapp.commands.label(id) : null)"
    )
    assert all(labels), labels
    page.keyboard.press("Control+Shift+C")
    page.wait_for_selector(".lm-CommandPalette-input:visible")
    page.fill(".lm-CommandPalette-input", "Token Count")
    page.wait_for_function("() => document.querySelectorAll('.lm-CommandPalette-item').length >= 4")
    page.shots("palette")
    items = page.eval_on_selector_all(
        ".lm-CommandPalette-item .lm-CommandPalette-itemLabel", "els => els.map(e => e.textContent)"
    )
    for label in labels:
        assert any(label in i for i in items), (label, items)
    page.keyboard.press("Escape")

    # Toggle badges off and on again.
    execute(page, "token-count:toggle-badges")
    page.wait_for_function(
        "() => !Array.from(document.querySelectorAll('.jp-TokenCount-badge')).some(b => b.offsetParent !== null)"
    )
    page.shots("badges-hidden")
    execute(page, "token-count:toggle-badges")
    wait_all_badges(page)
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('.jp-TokenCount-badge')).some(b => b.offsetParent !== null)"
    )

    # Recount sends a fresh request even though nothing changed, and the counts stay the same.
    before = [c["badge"] for c in cells(page)]
    with page.expect_response(lambda r: r.url.split("?")[0].endswith("/jupyter-token-count/cells")) as resp:
        execute(page, "token-count:recount")
    assert resp.value.ok
    wait_all_badges(page)
    assert [b and b["tokens"] for b in before] == [c["badge"] and c["badge"]["tokens"] for c in cells(page)]


def test_copy_notebook_as_claude_messages(server: Any, page: Any) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    open_notebook(page, server, DEMO)
    wait_all_badges(page)
    with page.expect_response(lambda r: r.url.split("?")[0].endswith("/jupyter-token-count/messages")) as resp:
        execute(page, "token-count:copy-messages")
    assert resp.value.ok
    page.wait_for_selector(".Toastify__toast >> text=Copied")
    page.shots("copied")
    text = page.evaluate("() => navigator.clipboard.readText()")
    body = json.loads(text)
    assert body["messages"], body
    assert "model" in body


def test_cleanup_when_cells_and_notebooks_close(server: Any, page: Any) -> None:
    open_notebook(page, server, DEMO)
    state = wait_all_badges(page)
    n_badges = sum(1 for c in state if c["badge"])
    rows_js = "(n) => document.querySelectorAll('.jp-TokenCount-rowButton').length === n"
    execute(page, "token-count:open-sidebar")
    page.wait_for_function(rows_js, arg=n_badges)
    page.evaluate("() => { const nb = window.jupyterapp.shell.currentWidget.content; nb.activeCellIndex = 0; }")
    execute(page, "notebook:delete-cell")
    page.wait_for_function(
        "(n) => document.querySelectorAll('.jp-Notebook .jp-TokenCount-badge:not([hidden])').length === n",
        arg=n_badges - 1,
    )
    page.wait_for_function(rows_js, arg=n_badges - 1)
    page.shots("cell-deleted")
    # Close without saving: the badges, the sidebar's rows and the status item go with the notebook.
    # (Wait for the kernel first: closing mid-start-up makes JupyterLab's debugger log an error of its own.)
    wait_kernel_idle(page)
    page.evaluate(
        "async () => { const w = window.jupyterapp.shell.currentWidget; w.context.model.dirty = false; w.close(); }"
    )
    page.wait_for_function("() => document.querySelectorAll('.jp-TokenCount-badge').length === 0")
    page.wait_for_selector(".jp-TokenCount-status", state="hidden")
    page.wait_for_function(rows_js, arg=0)
    page.shots("closed")


def test_windowed_notebook_gets_badges_as_cells_render(server_factory: Any, page: Any) -> None:
    # "full" windowing attaches only the cells in view; badges must follow as cells scroll in.
    lab_full = server_factory("lab", settings={"@jupyterlab/notebook-extension:tracker": {"windowingMode": "full"}})
    open_notebook(page, lab_full, LARGE)
    page.wait_for_selector(".jp-Notebook .jp-TokenCount-badge[data-token-count]")
    page.shots("windowed-top")
    first = cells(page)
    assert not all(c["rendered"] for c in first), "expected the long notebook to be windowed"
    page.evaluate(
        "() => { const nb = window.jupyterapp.shell.currentWidget.content;"
        " nb.activeCellIndex = nb.widgets.length - 1; return nb.scrollToCell(nb.widgets[nb.widgets.length - 1]); }"
    )
    page.wait_for_function(
        "() => { const nb = window.jupyterapp.shell.currentWidget.content; const c = nb.widgets[nb.widgets.length - 1];"
        " const b = c.node.querySelector('.jp-TokenCount-badge'); return b && !b.hidden && "
        "b.dataset.tokenCount !== undefined && c.node.isConnected; }"
    )
    page.shots("windowed-bottom")
    # The status total covers every cell, rendered or not.
    total = status_total(page)
    assert total > 100 * 10


def settled(page: Any, rects_js: str) -> Any:
    """The cells' layout once it has stopped moving (two polls 200 ms apart agree): markdown cells finish
    rendering after the badges are in, and on a busy machine that can come after the first measurement."""
    page.wait_for_function(
        "(js) => { const now = JSON.stringify((new Function('return ' + js))()());"
        " const same = window.__jtcLayout === now; window.__jtcLayout = now; return same; }",
        arg=rects_js,
        polling=200,
    )
    return page.evaluate(rects_js)


def test_badges_take_no_layout_space(server: Any, page: Any) -> None:
    # Badges are positioned inside the input area: showing, hiding or updating them moves nothing.
    open_notebook(page, server, DEMO)
    wait_all_badges(page)
    rects_js = (
        "() => Array.from(document.querySelectorAll('.jp-Notebook .jp-Cell'))"
        ".map(c => { const r = c.getBoundingClientRect(); return [Math.round(r.top), Math.round(r.height)]; })"
    )
    shown = settled(page, rects_js)
    execute(page, "token-count:toggle-badges")
    page.wait_for_function(
        "() => !Array.from(document.querySelectorAll('.jp-TokenCount-badge')).some(b => b.offsetParent !== null)"
    )
    assert page.evaluate(rects_js) == shown
    execute(page, "token-count:toggle-badges")
    wait_all_badges(page)
    # Typing on one line: the badge goes pending, then shows the new count; the cell keeps its size.
    before = badge_tokens(page, 5)
    heights = settled(page, rects_js)
    type_into_cell(page, 5, "  # and a longer comment on the same line")
    wait_badge_change(page, 5, before)
    assert page.evaluate(rects_js) == heights


def test_dark_theme(server: Any, page: Any) -> None:
    open_notebook(page, server, DEMO)
    wait_all_badges(page)
    light = page.eval_on_selector(".jp-TokenCount-badge:not([hidden])", "b => getComputedStyle(b).backgroundColor")
    execute(page, "apputils:change-theme", {"theme": "JupyterLab Dark"})
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")
    page.wait_for_function(
        "(light) => getComputedStyle(document.querySelector('.jp-TokenCount-badge:not([hidden])')).backgroundColor"
        " !== light",
        arg=light,
    )
    open_sidebar_from_status(page)
    page.shots("dark")
    # The badge follows the theme's own layout colour rather than a fixed one.
    same = page.evaluate(
        "() => { const b = document.querySelector('.jp-TokenCount-badge:not([hidden])');"
        " const probe = document.createElement('div'); probe.style.background = 'var(--jp-layout-color1)';"
        " document.body.appendChild(probe); const want = getComputedStyle(probe).backgroundColor; probe.remove();"
        " return getComputedStyle(b).backgroundColor === want; }"
    )
    assert same
    execute(page, "apputils:change-theme", {"theme": "JupyterLab Light"})
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'true'")


def test_include_outputs_toggle(server: Any, page: Any) -> None:
    open_notebook(page, server, DEMO)
    state = wait_all_badges(page)
    with_output = 1  # the demo's only cell with an output
    before = state[with_output]["badge"]["tokens"]
    others = {c["index"]: c["badge"]["tokens"] for c in state if c["badge"] and c["index"] != with_output}
    open_sidebar_from_status(page)
    page.check(".jp-TokenCount-includeOutputs")
    after = wait_badge_change(page, with_output, before)
    page.shots("outputs-included")
    assert after > before
    now = {c["index"]: c["badge"]["tokens"] for c in cells(page) if c["badge"] and c["index"] != with_output}
    assert now == others  # cells without outputs are unaffected
    page.uncheck(".jp-TokenCount-includeOutputs")
    assert wait_badge_change(page, with_output, after) == before


def test_included_outputs_recount_after_execution(server: Any, page: Any) -> None:
    # With outputs counted, running a cell changes its badge although its source did not change.
    source_js = "(i) => window.jupyterapp.shell.currentWidget.content.widgets[i].model.sharedModel.getSource()"
    open_notebook(page, server, DEMO)
    state = wait_all_badges(page)
    open_sidebar_from_status(page)
    page.check(".jp-TokenCount-includeOutputs")
    wait_badge_change(page, 1, state[1]["badge"]["tokens"])
    target = 5  # no output yet; it uses `sales` from cell 1
    before = badge_tokens(page, target)
    source = page.evaluate(source_js, target)
    wait_kernel_idle(page)
    page.evaluate(
        """async (indices) => {
          const app = window.jupyterapp;
          const nb = app.shell.currentWidget.content;
          for (const i of indices) {
            nb.deselectAll();
            nb.activeCellIndex = i;
            await app.commands.execute('notebook:run-cell');
          }
        }""",
        [1, target],
    )
    after = wait_badge_change(page, target, before)
    page.shots("outputs-after-run")
    assert after > before
    assert page.evaluate(source_js, target) == source


def test_status_bar_warns_above_80_percent_of_the_window(server: Any, page: Any) -> None:
    # ~250k tokens: a quarter of the default model's 1M window, more than Haiku 4.5's 200k.
    rng = random.Random(7)
    words = [f"{rng.getrandbits(24):x}" for _ in range(50_000)]
    text = "\n".join(" ".join(words[i : i + 16]) for i in range(0, len(words), 16))
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_raw_cell(text), nbformat.v4.new_markdown_cell("Summarise.")],
        metadata={"kernelspec": KERNELSPEC},
    )
    nbformat.write(nb, str(server.root / "big.ipynb"))
    small = next(
        m
        for m in server.api("jupyter-token-count/models")["models"]
        if m.get("context_window") and m["context_window"] <= 200_000 and m.get("lifecycle") != "retired"
    )
    open_notebook(page, server, "big.ipynb")
    wait_all_badges(page)
    status = ".jp-TokenCount-status"
    assert "jp-mod-warning" not in (page.get_attribute(status, "class") or "")
    page.shots("big-default-model")
    open_sidebar_from_status(page)
    page.select_option(".jp-TokenCount-model", small["id"])
    page.wait_for_function(
        "(s) => document.querySelector(s).classList.contains('jp-mod-warning')", arg=status, timeout=180_000
    )
    page.shots("big-small-window-warning")
    assert "over 80%" in (page.get_attribute(status, "title") or "")
    assert page.eval_on_selector(".jp-TokenCount-sub", "e => e.classList.contains('jp-mod-warning')")
