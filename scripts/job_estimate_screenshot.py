"""Render a job estimate in JupyterLab for the README (docs/job_estimate.png).

A Message Batches file of 2,000 generated support-ticket requests (tests/jobdata.py) is estimated by
``%count_tokens --job`` in a real JupyterLab and kernel, with the local stand-in of the API as the key's endpoint
(tests/standin.py), so the estimate is calibrated with exact counts; headless Chromium photographs the cell with
its output: the card and the histogram that JupyterLab draws from Vega-Lite.

    python scripts/job_estimate_screenshot.py [--out docs/job_estimate.png]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from browser.conftest import CHROMIUM, CHROMIUM_ARGS, JupyterServer  # noqa: E402
from browser.helpers import execute, open_notebook, wait_kernel_idle  # noqa: E402
from browser.notebooks import write_job_notebook  # noqa: E402
from jobdata import batch_rows  # noqa: E402
from standin import StandIn  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "docs" / "job_estimate.png"))
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    standin = StandIn().start()
    env = {"ANTHROPIC_API_KEY": standin.api_key, "ANTHROPIC_BASE_URL": standin.url, "JUPYTER_TOKEN_COUNT_MODE": "auto"}
    server = JupyterServer("lab", Path(tempfile.mkdtemp(prefix="job-shot-")), env=env)
    server.root.mkdir(parents=True, exist_ok=True)
    name = write_job_notebook(server.root, batch_rows(2000, seed=7))
    server.start()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1100, "height": 900}, device_scale_factor=1)
            page.set_default_timeout(180_000)
            open_notebook(page, server, name)
            wait_kernel_idle(page)
            execute(page, "notebook:run-all-cells")
            page.wait_for_selector(".jtc-job")
            page.wait_for_selector(".jp-RenderedVegaLite canvas, .jp-RenderedVegaLite svg")
            page.wait_for_timeout(500)  # the chart's fade-in
            page.locator(".jp-Notebook .jp-Cell").nth(1).screenshot(path=args.out)
            browser.close()
    finally:
        server.stop()
        standin.stop()
    print(args.out)


if __name__ == "__main__":
    main()
