"""The same demo notebook in Notebook 7: badges and the sidebar work there too."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from media import image_bytes

from .conftest import ARTIFACTS
from .helpers import (
    badge_tokens,
    open_notebook,
    sidebar_total,
    type_into_cell,
    wait_all_badges,
    wait_badge_change,
)
from .notebooks import DEMO
from .test_viewers import cli_tokens

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def nb7(server_factory: Any) -> Any:
    return server_factory("notebook")


def test_notebook7_shows_badges(nb7: Any, page: Any) -> None:
    open_notebook(page, nb7, DEMO)
    state = wait_all_badges(page)
    page.shots("notebook7-badges")
    assert sum(1 for c in state if c["badge"]) == sum(1 for c in state if not c["empty"]) == 5
    assert all(c["badge"]["text"].startswith("≈") for c in state if c["badge"])

    before = badge_tokens(page, 1)
    type_into_cell(page, 1, "\nprint(sorted(means, key=means.get))")
    assert wait_badge_change(page, 1, before) > before
    page.shots("notebook7-typed")

    # No status bar in Notebook 7: the total sits in the notebook's toolbar, and the sidebar opens from it.
    toolbar_total = page.locator(".jp-NotebookPanel-toolbar .jp-TokenCount-status")
    toolbar_total.wait_for()
    assert toolbar_total.inner_text().startswith("≈") and "tokens" in toolbar_total.inner_text()
    page.wait_for_function(
        "() => { const s = document.querySelector('.jp-NotebookPanel-toolbar .jp-TokenCount-status');"
        " return s && !!s.dataset.tokenCountTotal; }"
    )
    toolbar_total.click()
    total = sidebar_total(page)
    page.wait_for_selector("#jp-token-count-sidebar:visible")
    page.shots("notebook7-sidebar")
    assert int(toolbar_total.get_attribute("data-token-count-total") or -1) == total
    joins = page.eval_on_selector_all(
        ".jp-TokenCount-typesTable tr.jp-TokenCount-joins", "rows => Number(rows[0].dataset.tokenCount)"
    )
    badges = sum(c["badge"]["tokens"] for c in wait_all_badges(page) if c["badge"])
    assert joins + badges == total


def test_notebook7_file_browser_page_loads_cleanly(nb7: Any, page: Any) -> None:
    # The plugin also activates on Notebook 7's pages without a notebook (tree, editor): no errors there.
    page.goto(nb7.url("tree"))
    page.wait_for_function(
        "() => !!(window.jupyterapp && window.jupyterapp.commands.hasCommand('token-count:open-sidebar'))"
    )
    page.wait_for_selector(".jp-DirListing-item")
    assert page.query_selector(".jp-TokenCount-badge") is None
    page.shots("notebook7-tree")


def test_notebook7_counts_files_in_their_viewers(nb7: Any, page: Any) -> None:
    """Notebook 7 opens a file from its tree in a new tab (the JSON viewer for .json, the image viewer for images);
    with no status bar, the count sits in that page's toolbar, the same number as `jupyter-token-count FILE`."""
    messages = [{"role": "user", "content": "Summarise the report."}, {"role": "assistant", "content": "Sure."}]
    (nb7.root / "messages.json").write_text(json.dumps(messages))
    (nb7.root / "chart.png").write_bytes(image_bytes("PNG", (800, 600)))
    page.goto(nb7.url("tree"))
    page.wait_for_selector(".jp-DirListing-item")
    with page.context.expect_page() as opened:
        page.locator(".jp-DirListing-itemText", has_text=re.compile(r"^messages\.json$")).dblclick()
    tab = opened.value
    try:
        for name, viewer, note in (
            ("messages.json", ".jp-RenderedJSON", "a list of 2 messages"),
            ("chart.png", ".jp-ImageViewer img", "a PNG image of 800×600 px"),
        ):
            if name != "messages.json":
                tab.goto(nb7.url(f"edit/{name}"))
            tab.wait_for_selector(viewer)
            item = ".jp-Toolbar .jp-TokenCount-docStatus"
            tab.wait_for_function(
                f"() => {{ const s = document.querySelector('{item}'); return !!(s && s.dataset.tokenCountTotal); }}"
            )
            assert int(tab.get_attribute(item, "data-token-count-total") or -1) == cli_tokens(nb7.root / name)
            assert note in (tab.get_attribute(item, "title") or "") and tab.inner_text(item).startswith("≈")
            tab.screenshot(path=str(ARTIFACTS / f"test_notebook7_counts_files_in_their_viewers-{name}.png"))
    finally:
        tab.close()
