"""JupyterLab with a key (the local stand-in of the API): the exact total in one request, shares at once, and
the layout details a new user sees (badge clear of the cell toolbar, sidebar at its default width, a new
empty notebook)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from .helpers import execute, open_notebook, sidebar_total, status_total, wait_all_badges
from .notebooks import DEMO, KERNELSPEC

pytestmark = pytest.mark.browser

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from standin import StandIn, standin_count  # noqa: E402

EXACT_JS = (
    "() => { const s = document.querySelector('.jp-TokenCount-status'); return s && s.dataset.tokenExact === 'true'; }"
)


@pytest.fixture(scope="module")
def standin() -> Iterator[StandIn]:
    server = StandIn().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def keyed(server_factory: Any, standin: StandIn) -> Any:
    return server_factory(
        "lab",
        env={
            "ANTHROPIC_API_KEY": standin.api_key,
            "ANTHROPIC_BASE_URL": standin.url,
            "JUPYTER_TOKEN_COUNT_MODE": "auto",
        },
    )


@pytest.fixture
def server(keyed: Any, standin: StandIn) -> Any:
    keyed.reset()
    standin.reset()
    return keyed


def test_exact_total_is_the_clis_number(server: Any, standin: StandIn, page: Any, tmp_path: Path) -> None:
    open_notebook(page, server, DEMO)
    state = wait_all_badges(page)  # shares at once, from the offline tokenizer
    page.wait_for_function(EXACT_JS)
    total = status_total(page)
    page.shots("exact-total")
    notebook_requests = [r for r in standin.count_requests() if standin_count(r.json) == total]
    assert len(notebook_requests) == 1  # the notebook, counted once as one request
    assert notebook_requests[0] is standin.count_requests()[0]  # and before any background per-cell count
    env = {
        **os.environ,
        "ANTHROPIC_API_KEY": standin.api_key,
        "ANTHROPIC_BASE_URL": standin.url,
        "JUPYTER_TOKEN_COUNT_DATA_DIR": str(tmp_path / "cli"),
    }
    cli = subprocess.run(
        [sys.executable, "-m", "jupyter_token_count.cli", "--api", str(server.root / DEMO), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["input_tokens"] == total
    # The sidebar's rows add up to that total: the cells' shares, then joins and frame.
    execute(page, "token-count:open-sidebar")
    assert sidebar_total(page) == total
    joins = int(page.get_attribute(".jp-TokenCount-typesTable tr.jp-TokenCount-joins", "data-token-count") or -1)
    badges = sum(c["badge"]["tokens"] for c in wait_all_badges(page) if c["badge"])
    assert joins + badges == total, (joins, badges, total, state)
    assert "joins + frame" in page.inner_text(".jp-TokenCount-typesTable")


def test_background_cell_counts_make_the_badges_exact(server: Any, standin: StandIn, page: Any) -> None:
    open_notebook(page, server, DEMO)
    wait_all_badges(page)
    # the per-cell counts go out after the total, and the client comes back for them
    page.wait_for_function(
        "() => { const bs = [...document.querySelectorAll('.jp-TokenCount-badge:not([hidden])')];"
        " return bs.length === 5 && bs.every(b => b.dataset.tokenExact === 'true'); }",
        timeout=30_000,
    )
    titles = page.eval_on_selector_all(".jp-TokenCount-badge:not([hidden])", "els => els.map(e => e.title)")
    assert all("Exact" in t and "≈" not in t for t in titles)


def _one_line_notebook(root: Path) -> str:
    nb = new_notebook(
        cells=[new_markdown_cell("# Short cells"), new_code_cell("x = 1"), new_code_cell("y = 2")],
        metadata={"kernelspec": KERNELSPEC},
    )
    nbformat.write(nb, str(root / "short.ipynb"))
    return "short.ipynb"


def _overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def test_badge_of_a_selected_one_line_cell_is_not_under_the_cell_toolbar(server: Any, page: Any) -> None:
    open_notebook(page, server, _one_line_notebook(server.root))
    wait_all_badges(page)
    page.locator(".jp-Notebook .jp-Cell").nth(1).click()
    toolbar = page.locator(".jp-Cell.jp-mod-active .jp-cell-toolbar")
    toolbar.wait_for()
    page.wait_for_timeout(300)  # two animation frames for the badge to move
    badge = page.locator(".jp-Cell.jp-mod-active .jp-TokenCount-badge")
    page.shots("badge-and-toolbar")
    assert badge.is_visible()
    assert not _overlap(badge.bounding_box(), toolbar.bounding_box())
    # another cell selected: the first one has no toolbar any more, and its badge goes back to its corner
    moved = page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".jp-TokenCount-badge")
    assert moved.evaluate("b => b.style.right") != ""
    page.locator(".jp-Notebook .jp-Cell").nth(2).click()
    page.wait_for_function(
        "() => document.querySelectorAll('.jp-Notebook .jp-Cell')[1].querySelector('.jp-TokenCount-badge')"
        ".style.right === ''"
    )


def test_sidebar_fits_its_default_width(server: Any, page: Any) -> None:
    open_notebook(page, server, DEMO)
    wait_all_badges(page)
    execute(page, "token-count:open-sidebar")
    sidebar_total(page)
    page.click(".jp-TokenCount-compare summary")
    # every comparison row is answered (the server's deadline bounds it) well within 5 s
    page.wait_for_function(
        "() => { const rows = [...document.querySelectorAll('.jp-TokenCount-compareTable tr[data-model]')];"
        " return rows.length > 1 && rows.every(r => r.dataset.tokenCount !== undefined); }",
        timeout=5_000,
    )
    page.shots("sidebar-default-width")
    side = page.locator("#jp-token-count-sidebar").bounding_box()
    for sel in (".jp-TokenCount-model", ".jp-TokenCount-mode"):
        box = page.locator(sel).bounding_box()
        assert box["x"] >= side["x"] and box["x"] + box["width"] <= side["x"] + side["width"] + 0.5, sel
    heights = page.eval_on_selector_all(
        ".jp-TokenCount-compareTable tr[data-model]", "rows => rows.map(r => r.getBoundingClientRect().height)"
    )
    line = page.evaluate(
        "() => parseFloat(getComputedStyle(document.querySelector('.jp-TokenCount-compareTable td')).lineHeight) || 18"
    )
    assert all(h < 2 * line for h in heights), (heights, line)


def test_a_new_empty_notebook_is_the_frame_and_says_why(server: Any, page: Any) -> None:
    open_notebook(page, server, DEMO)
    wait_all_badges(page)
    execute(page, "notebook:create-new", {"kernelName": "python3"})
    page.wait_for_function(
        "() => { const w = window.jupyterapp.shell.currentWidget;"
        " return !!(w && w.context && w.context.isReady && w.context.path.startsWith('Untitled')); }"
    )
    # the frame alone, as the CLI counts an empty notebook: exact with the key, and never "estimate: estimate"
    page.wait_for_function(EXACT_JS)
    text = page.inner_text(".jp-TokenCount-status")
    title = page.get_attribute(".jp-TokenCount-status", "title") or ""
    page.shots("new-empty-notebook")
    frame = standin_count({"model": "x", "messages": [{"role": "user", "content": "."}]}) - 1
    assert status_total(page) == frame and text.startswith(f"{frame} tokens"), (text, title)
    assert "Estimate: estimate" not in title and "Exact" in title


def test_a_request_file_with_context_editing_shows_the_count_before_its_edits(
    server: Any, standin: StandIn, page: Any
) -> None:
    from test_magics import EDITED

    from .test_editor import DOC, doc_total, open_file

    (server.root / "edited.json").write_text(json.dumps(EDITED, indent=2))
    open_file(page, server, "edited.json")
    page.wait_for_function(f"() => document.querySelector('{DOC}').dataset.tokenExact === 'true'")
    sent = standin.count_requests()[-1]
    assert sent.headers["anthropic-beta"] == "context-management-2025-06-27,token-counting-2024-11-01"
    before = standin_count(sent.json)
    assert 0 < doc_total(page) < before
    title = page.get_attribute(DOC, "title") or ""
    page.shots("context-editing")
    assert f"(after context editing, {before:,} before)" in title and "a request body" in title
