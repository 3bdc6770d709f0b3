"""Every view of a prompt counts: a file opened the way JupyterLab opens it by default (a double-click in the file
browser: `.json` in the JSON viewer, images in the image viewer), or in the Markdown preview, shows the same count
as in the file editor and as `jupyter-token-count FILE`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import pytest
from media import image_bytes, pdf_bytes

from .helpers import execute, open_notebook, status_total, wait_all_badges
from .notebooks import DEMO

pytestmark = pytest.mark.browser

DOC = ".jp-TokenCount-docStatus"
MESSAGES = [
    {"role": "user", "content": "Summarise the quarterly report in three bullets."},
    {"role": "assistant", "content": "Revenue grew 8 %; costs were flat; the south dipped."},
    {"role": "user", "content": "Why did the south dip, and what should we watch next quarter?"},
]
PROMPT = (
    "# System prompt\n\nYou are a careful analyst. Answer in short bullet points and cite the rows you use.\n\n"
    "| region | revenue |\n|---|---|\n| north | 120 |\n| south | 80 |\n\n"
    "Flag any figure that looks inconsistent, and say how sure you are.\n"
)


@pytest.fixture
def server(lab: Any) -> Any:
    lab.reset()
    return lab


def cli_tokens(path: Any, *args: str) -> int:
    run = subprocess.run(
        [sys.executable, "-m", "jupyter_token_count.cli", "--offline", str(path), "--json", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)["input_tokens"]


def open_lab(page: Any, server: Any) -> None:
    page.goto(server.url("lab") + "&reset")
    page.wait_for_function("() => !!(window.jupyterapp && window.jupyterapp.commands.hasCommand('docmanager:open'))")


def double_click_in_file_browser(page: Any, name: str) -> None:
    item = page.locator(".jp-DirListing-item").filter(
        has=page.locator(".jp-DirListing-itemText", has_text=re.compile(rf"^{re.escape(name)}$"))
    )
    item.dblclick()


def wait_current(page: Any, name: str, viewer_js: str) -> None:
    """The current main-area widget shows ``name``, loaded, and ``viewer_js`` (given the widget) holds."""
    page.wait_for_function(
        "([n, check]) => { const w = window.jupyterapp.shell.currentWidget;"
        " return !!(w && w.context && w.context.path === n && w.context.isReady && (new Function('w', check))(w)); }",
        arg=[name, viewer_js],
    )


def doc_count(page: Any) -> tuple[int, str]:
    """The document status item's total once counted and not stale, and its tooltip."""
    page.wait_for_function(
        f"() => {{ const s = document.querySelector('{DOC}');"
        " return !!(s && s.offsetParent && s.dataset.tokenCountTotal && !s.classList.contains('jp-mod-pending')); }"
    )
    return int(page.get_attribute(DOC, "data-token-count-total") or -1), page.get_attribute(DOC, "title") or ""


def test_messages_json_opened_by_double_click_shows_its_count(server: Any, page: Any) -> None:
    (server.root / "messages.json").write_text(json.dumps(MESSAGES, indent=2))
    open_lab(page, server)
    double_click_in_file_browser(page, "messages.json")
    # JupyterLab's default for .json: the JSON viewer (a rendered tree, no text editor)
    wait_current(page, "messages.json", "return !w.content.editor && !!w.node.querySelector('.jp-RenderedJSON');")
    total, title = doc_count(page)
    page.shots("json-viewer")
    assert total == cli_tokens(server.root / "messages.json")
    assert "a list of 3 messages" in title and page.inner_text(DOC).startswith("≈")
    # the same file in the text editor: the same count
    execute(page, "docmanager:open", {"path": "messages.json", "factory": "Editor"})
    wait_current(page, "messages.json", "return !!w.content.editor;")
    assert doc_count(page)[0] == total


def test_markdown_preview_counts_as_the_editor(server: Any, page: Any) -> None:
    (server.root / "system.md").write_text(PROMPT)
    open_lab(page, server)
    double_click_in_file_browser(page, "system.md")  # .md opens in the editor by default
    wait_current(page, "system.md", "return !!w.content.editor;")
    in_editor = doc_count(page)[0]
    execute(page, "docmanager:open", {"path": "system.md", "factory": "Markdown Preview"})
    wait_current(page, "system.md", "return !w.content.editor && !!w.node.querySelector('.jp-RenderedMarkdown');")
    in_preview, title = doc_count(page)
    page.shots("markdown-preview")
    assert in_preview == in_editor == cli_tokens(server.root / "system.md")
    assert "text, as one user message" in title


def test_image_viewer_shows_what_the_image_costs_for_the_current_model(server: Any, page: Any) -> None:
    (server.root / "chart.png").write_bytes(image_bytes("PNG", (2400, 1200)))
    open_lab(page, server)
    double_click_in_file_browser(page, "chart.png")
    wait_current(page, "chart.png", "return !!w.node.querySelector('.jp-ImageViewer img');")
    total, title = doc_count(page)
    page.shots("image-viewer")
    assert total == cli_tokens(server.root / "chart.png")
    assert "a PNG image of 2,400×1,200 px, as one user message" in title and "sees it at" not in title
    # another model sees it differently (its image tier shrinks it): the count follows the sidebar's model
    execute(page, "token-count:open-sidebar")
    page.wait_for_selector("#jp-token-count-sidebar:visible")
    page.select_option(".jp-TokenCount-model", "claude-sonnet-4-6")
    page.wait_for_function(
        f"() => {{ const s = document.querySelector('{DOC}'); return s && s.title.includes('sees it at'); }}"
    )
    smaller, title = doc_count(page)
    page.shots("image-viewer-other-model")
    assert smaller == cli_tokens(server.root / "chart.png", "-m", "claude-sonnet-4-6") < total
    assert "Claude Sonnet 4.6 sees it at" in title


def test_pdf_viewer_counts_the_document(server: Any, page: Any) -> None:
    (server.root / "paper.pdf").write_bytes(pdf_bytes(2, "Quarterly results: revenue grew eight per cent."))
    open_lab(page, server)
    double_click_in_file_browser(page, "paper.pdf")
    wait_current(page, "paper.pdf", "return !w.content.editor;")
    total, title = doc_count(page)
    assert total == cli_tokens(server.root / "paper.pdf")
    assert "a PDF document, as one user message" in title


def test_the_coarse_estimator_is_named_in_the_tooltips(server_factory: Any, page: Any) -> None:
    """A server without ctok (a pip install below Python 3.12; forced here) names the coarse estimator wherever
    an estimate is shown: the notebook's status item, a cell's badge, a file's status item."""
    lab = server_factory("lab", env={"JUPYTER_TOKEN_COUNT_ESTIMATOR": "fallback"})
    (lab.root / "system.md").write_text(PROMPT)
    open_notebook(page, lab, DEMO)
    wait_all_badges(page)
    status_total(page)
    page.wait_for_function("() => document.querySelector('.jp-TokenCount-status').title.includes('coarse estimator')")
    badge = page.get_attribute(".jp-Notebook .jp-TokenCount-badge[data-token-count]", "title") or ""
    assert "coarse estimator" in badge
    page.shots("coarse-estimator")
    execute(page, "docmanager:open", {"path": "system.md", "factory": "Markdown Preview"})
    wait_current(page, "system.md", "return !!w.node.querySelector('.jp-RenderedMarkdown');")
    assert "coarse estimator" in doc_count(page)[1]
