"""A job estimate in JupyterLab: ``%count_tokens --job`` in a real kernel, calibrated against the stand-in, shows its
card and a histogram that JupyterLab draws natively from Vega-Lite (not the SVG fallback)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .helpers import execute, open_notebook, wait_kernel_idle
from .notebooks import write_job_notebook

pytestmark = pytest.mark.browser

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from jobdata import SYSTEM, batch_rows  # noqa: E402
from standin import StandIn  # noqa: E402

#: the job's output: the card, then the chart drawn by JupyterLab's Vega renderer
CHART = ".jp-RenderedVegaLite"


@pytest.fixture(scope="module")
def standin() -> Iterator[StandIn]:
    server = StandIn().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def keyed(server_factory: Any, standin: StandIn) -> Any:
    env = {"ANTHROPIC_API_KEY": standin.api_key, "ANTHROPIC_BASE_URL": standin.url, "JUPYTER_TOKEN_COUNT_MODE": "auto"}
    return server_factory("lab", env=env)


def test_job_estimate_card_and_vegalite_histogram(keyed: Any, standin: StandIn, page: Any) -> None:
    standin.reset()
    name = write_job_notebook(keyed.root, batch_rows(2000, seed=7))
    open_notebook(page, keyed, name)
    wait_kernel_idle(page)  # running before the kernel is up would ask which kernel to start
    execute(page, "notebook:run-all-cells")
    card = page.wait_for_selector(".jp-OutputArea-output .jtc-job", timeout=180_000)
    page.wait_for_selector(f"{CHART} canvas, {CHART} svg", timeout=60_000)
    assert "$" in card.inner_text() and page.locator(".jtc-job mjx-container, .jtc-job .MathJax").count() == 0
    text = card.inner_text()
    assert "≈" in text and "95 % interval" in text and "calibrated" in text and "2,000 requests" in text
    assert "batch" in text and "standard" in text
    # 200 random requests and the 20 heaviest, counted once each through the kernel's counter (the other
    # requests the stand-in sees are the notebook's own, counted by the server extension)
    assert len([r for r in standin.count_requests() if SYSTEM.encode() in r.raw]) == 220
    assert page.locator(".jp-RenderedSVG").count() == 0  # the fallback is not what shows
    page.shots("job-estimate")  # type: ignore[attr-defined]
