"""Prompt files in JupyterLab's file editor: the file's count and the selection's, live while typing."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from .helpers import execute, open_notebook, type_into_cell, wait_all_badges
from .notebooks import DEMO

pytestmark = pytest.mark.browser

DOC = ".jp-TokenCount-docStatus"
EDITOR = ".jp-FileEditor .cm-content"
PROMPT = (
    "# System prompt\n\nYou are a careful analyst. Answer in short bullet points and cite the rows you use.\n\n"
    "Flag any figure that looks inconsistent, and say how sure you are.\n\n"
    "## Style\n\nPlain words, no jargon, at most five bullets.\n"
)


@pytest.fixture
def server(lab: Any) -> Any:
    lab.reset()
    return lab


def open_file(page: Any, server: Any, name: str) -> None:
    """Open ``name`` in the file editor (a .json file would open in the JSON viewer by default)."""
    if not page.evaluate("() => !!window.jupyterapp"):
        page.goto(server.url(f"lab/tree/{name}") + "&reset")
        page.wait_for_function(
            "() => !!(window.jupyterapp && window.jupyterapp.commands.hasCommand('docmanager:open'))"
        )
        # JupyterLab opens the URL's file itself once its layout is restored: let it, so that late open cannot take
        # the focus from the editor opened below (seen once on a busy two-core machine: a 90 s timeout)
        page.evaluate("() => window.jupyterapp.restored")
    execute(page, "docmanager:open", {"path": name, "factory": "Editor"})
    page.wait_for_function(
        "(n) => { const shell = window.jupyterapp.shell;"
        " const mine = [...shell.widgets('main')].find(w => w.context && w.context.path === n && w.content.editor);"
        " if (mine && shell.currentWidget !== mine) shell.activateById(mine.id);"
        " const w = shell.currentWidget;"
        " return !!(w && w.context && w.context.path === n && w.context.isReady && w.content.editor); }",
        arg=name,
    )
    page.wait_for_selector(f"{EDITOR} >> visible=true")
    page.wait_for_function(
        f"() => {{ const s = document.querySelector('{DOC}'); return s && s.dataset.tokenCountTotal; }}"
    )


def doc_total(page: Any) -> int:
    return int(page.get_attribute(DOC, "data-token-count-total") or -1)


def cli_tokens(path: Any) -> int:
    run = subprocess.run(
        [sys.executable, "-m", "jupyter_token_count.cli", "--offline", str(path), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)["input_tokens"]


def test_a_markdown_file_counts_as_the_cli_counts_it(server: Any, page: Any) -> None:
    (server.root / "system.md").write_text(PROMPT)
    open_file(page, server, "system.md")
    page.shots("markdown-file")
    assert doc_total(page) == cli_tokens(server.root / "system.md")
    text = page.inner_text(DOC)
    assert text.startswith("≈") and "tokens" in text  # offline: an estimate, marked
    assert "text, as one user message" in (page.get_attribute(DOC, "title") or "")
    # selecting a paragraph shows its count too
    page.locator(f"{EDITOR} >> visible=true").click()
    page.keyboard.press("Control+Home")
    for _ in range(3):
        page.keyboard.press("Shift+ArrowDown")
    page.wait_for_function(f"() => !!document.querySelector('{DOC}').dataset.tokenCountSelection")
    selected = int(page.get_attribute(DOC, "data-token-count-selection") or -1)
    page.shots("markdown-selection")
    assert 0 < selected < doc_total(page)
    assert " selected · " in page.inner_text(DOC)
    # typing updates the count
    before = doc_total(page)
    page.keyboard.press("Control+End")
    page.keyboard.type("\nAlways end with a one-line summary of the risks you found.", delay=10)
    page.wait_for_function(
        f"(old) => Number(document.querySelector('{DOC}').dataset.tokenCountTotal) > old", arg=before
    )
    page.wait_for_function(f"() => !document.querySelector('{DOC}').classList.contains('jp-mod-pending')")
    execute(page, "docmanager:save")
    page.wait_for_timeout(500)
    assert doc_total(page) == cli_tokens(server.root / "system.md")


def test_a_messages_json_file_is_counted_as_messages(server: Any, page: Any) -> None:
    messages = [
        {"role": "user", "content": "Summarise the quarterly report."},
        {"role": "assistant", "content": "Revenue grew 8 %; the south dipped."},
        {"role": "user", "content": "Why did the south dip?"},
    ]
    (server.root / "messages.json").write_text(json.dumps(messages, indent=2))
    open_file(page, server, "messages.json")
    assert "a list of 3 messages" in (page.get_attribute(DOC, "title") or "")
    assert doc_total(page) == cli_tokens(server.root / "messages.json")
    (server.root / "settings.json").write_text(json.dumps({"temperature": 0.2}))
    open_file(page, server, "settings.json")
    page.wait_for_function(f"() => document.querySelector('{DOC}').title.includes('neither a message list')")


def test_selection_in_a_notebook_cell(server: Any, page: Any) -> None:
    open_notebook(page, server, DEMO)
    wait_all_badges(page)
    type_into_cell(page, 1, "")  # a code cell: its editor shows (a rendered markdown cell hides its own)
    page.keyboard.press("Control+Home")
    page.keyboard.press("Shift+End")
    page.wait_for_function("() => !!document.querySelector('.jp-TokenCount-status').dataset.tokenCountSelection")
    assert " selected · " in page.inner_text(".jp-TokenCount-status")


#: Installs probes: the time from the next keydown to the first animation frame after the editor's model changes.
ECHO_JS = """
() => {
  const editor = window.jupyterapp.shell.currentWidget.content.editor;
  window.__echo = null;
  let down = null;
  const onKey = () => { if (down === null) { down = performance.now(); } };
  document.addEventListener('keydown', onKey, true);
  const onChange = () => {
    if (down === null) { return; }  // a change that no keystroke of ours made
    editor.model.sharedModel.changed.disconnect(onChange);
    document.removeEventListener('keydown', onKey, true);
    requestAnimationFrame(() => { window.__echo = performance.now() - down; });
  };
  editor.model.sharedModel.changed.connect(onChange);
}
"""


def test_a_1mb_file_stays_editable_while_it_is_counted(server: Any, page: Any) -> None:
    line = "The quick brown analyst reads every row of the regional sales table twice.\n"
    (server.root / "transcript.txt").write_text(line * (1_000_000 // len(line)))
    in_flight: set[Any] = set()
    page.on("request", lambda r: in_flight.add(r) if r.url.split("?")[0].endswith("/document") else None)
    page.on("requestfinished", lambda r: in_flight.discard(r))
    open_file(page, server, "transcript.txt")
    page.locator(f"{EDITOR} >> visible=true").click()
    page.keyboard.press("Control+End")
    # A count that held the page's thread would delay every keystroke typed while it runs; a busy machine (CI on
    # two cores) may delay one now and then. So: up to three keystrokes, each typed while a count of the 1 MB
    # document is in flight, and the fastest must echo within 100 ms.
    echoes: list[float] = []
    for key in "xyz":
        page.keyboard.type(key)  # starts (or restarts) a count of the 1 MB document
        page.wait_for_function(f"() => document.querySelector('{DOC}').classList.contains('jp-mod-pending')")
        deadline = 200
        while not in_flight and deadline:
            page.wait_for_timeout(25)
            deadline -= 1
        assert in_flight, "no count of the document was running"
        page.evaluate(ECHO_JS)
        page.keyboard.type(key.upper())
        page.wait_for_function("() => window.__echo !== null")
        echoes.append(page.evaluate("() => window.__echo"))
        if echoes[-1] < 100:
            break
    page.shots("one-megabyte")
    assert min(echoes) < 100, f"keystrokes echoed after {', '.join(f'{ms:.0f}' for ms in echoes)} ms while counted"
    assert (page.get_attribute(DOC, "data-token-exact") or "") == "false"  # stale: ≈ until the count lands


def test_the_sidebar_follows_a_prompt_file(server: Any, page: Any) -> None:
    (server.root / "system.md").write_text(PROMPT)
    open_file(page, server, "system.md")
    execute(page, "token-count:open-sidebar")
    page.wait_for_selector("#jp-token-count-sidebar:visible")
    page.wait_for_function(
        "(n) => { const t = document.querySelector('[data-token-count-sidebar-total]');"
        " return t && Number(t.dataset.tokenCountSidebarTotal) === n; }",
        arg=doc_total(page),
    )
    assert "system.md" in page.inner_text(".jp-TokenCount-notebookName")
    assert not page.locator(".jp-TokenCount-cells").is_visible()  # no cells to rank in a file
    assert "Counted as text" in page.inner_text(".jp-TokenCount-exactness")
    page.click(".jp-TokenCount-compare summary")
    page.wait_for_function(
        "() => { const rows = [...document.querySelectorAll('.jp-TokenCount-compareTable tr[data-model]')];"
        " return rows.length > 1 && rows.every(r => r.dataset.tokenCount !== undefined); }"
    )
    page.shots("sidebar-follows-file")
    counts = page.eval_on_selector_all(
        ".jp-TokenCount-compareTable tr[data-model]", "rows => rows.map(r => Number(r.dataset.tokenCount))"
    )
    assert doc_total(page) in counts and len(set(counts)) > 1  # other tokenizers, other counts
