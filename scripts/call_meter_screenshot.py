"""Render the call meter's inline lines for the README (docs/call_meter.png).

Real calls through the ``anthropic`` SDK against the local stand-in (tests/standin.py), metered; their lines are
written into a page styled like a notebook's cells and photographed by headless Chromium.

    python scripts/call_meter_screenshot.py [--out docs/call_meter.png]
"""

from __future__ import annotations

import argparse
import html
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from standin import StandIn  # noqa: E402

CELLS = [
    (
        'reply = client.messages.create(model="claude-sonnet-5-5", max_tokens=1024,\n'
        "                               system=SYSTEM, messages=history)",
        {},
    ),
    (
        'reply = client.messages.create(model="claude-sonnet-5-5", max_tokens=1024,\n'
        "                               system=SYSTEM, messages=history)   # again: the cached prefix is read",
        {},
    ),
    (
        'with client.messages.stream(model="claude-opus-4-8", max_tokens=4096, messages=history) as s:\n'
        "    text = s.get_final_text()",
        {"stream": True},
    ),
    (
        "%count_calls on --budget-usd 0.05 --per-call\n"
        'client.messages.create(model="claude-opus-4-8", max_tokens=4096,\n'
        '                       messages=[{"role": "user", "content": report}])',
        {"blocked": True},
    ),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "docs" / "call_meter.png"))
    args = ap.parse_args()
    server = StandIn().start()
    os.environ.update(
        ANTHROPIC_API_KEY=server.api_key, ANTHROPIC_BASE_URL=server.url, JUPYTER_TOKEN_COUNT_DATA_DIR=tempfile.mkdtemp()
    )
    import anthropic

    import jupyter_token_count as jtc
    from jupyter_token_count.meter import CallLine

    client = anthropic.Anthropic(max_retries=0)
    system = [
        {"type": "text", "text": "You are a meticulous data analyst. " * 400, "cache_control": {"type": "ephemeral"}}
    ]
    history = [{"role": "user", "content": "Here are our first-half sales figures. What is the trend? " * 30}]
    jtc.meter_calls(show=False)
    client.messages.create(model="claude-sonnet-5-5", max_tokens=1024, system=system, messages=history)
    client.messages.create(model="claude-sonnet-5-5", max_tokens=1024, system=system, messages=history)
    with client.messages.stream(model="claude-opus-4-8", max_tokens=4096, messages=history) as s:
        s.get_final_text()
    jtc.meter_calls(budget_usd=0.05, per_call=True, show=False)
    try:
        client.messages.create(
            model="claude-opus-4-8",
            max_tokens=4096,
            messages=[{"role": "user", "content": "Quarterly figures, region by region. " * 2500}],
        )
    except jtc.BudgetExceeded as exc:
        blocked = str(exc)
    while any(r.predicting for r in jtc.call_log()):  # the lines as they end up
        time.sleep(0.05)
    jtc.stop_metering()
    server.stop()
    records = jtc.call_log()
    parts = []
    for (code, opts), rec in zip(CELLS, records, strict=True):
        out = CallLine([rec])._repr_html_()
        if opts.get("blocked"):
            out += f'<pre class="err">BudgetExceeded: {html.escape(blocked)}</pre>'
        parts.append(f'<div class="cell"><pre class="in">{html.escape(code)}</pre><div class="out">{out}</div></div>')
    page = (
        "<!doctype html><meta charset=utf-8><style>body{margin:12px;background:#fff;font-family:system-ui,sans-serif}"
        ".cell{margin-bottom:10px}.in{background:#f5f5f5;border:1px solid #e0e0e0;border-radius:3px;padding:6px 8px;"
        "margin:0 0 4px;font-size:12px}.out{padding:2px 8px}.err{background:#fdd;margin:4px 0 0;padding:4px 8px;"
        "font-size:12px;white-space:pre-wrap}</style>" + "".join(parts)
    )
    with tempfile.NamedTemporaryFile("w", suffix=".html", delete=False, encoding="utf-8") as f:
        f.write(page)
    subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--screenshot={args.out}",
            "--window-size=1100,420",
            f.name,
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    print(args.out)


if __name__ == "__main__":
    main()
