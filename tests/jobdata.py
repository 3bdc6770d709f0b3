"""Generated jobs for the job-estimate tests and bench: batch requests from a template (a shared system prompt, a
tool on some rows) over texts of log-normally spread lengths, reproducible from a seed."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

_VOCABULARY = (
    "the request token window price batch model context cost estimate sample exact answer summary table row "
    "customer order invoice shipment delay refund Zürich naïve émigré 数据 分析 données 😀 — 42 3.14 "
    "def return import class lambda {} [] () => != <= #"
)
WORDS = tuple(_VOCABULARY.split(" "))
SYSTEM = (
    "You are a support analyst. Read the customer's message, classify it as billing, shipping, product or "
    "other, and answer in two sentences with the next step the customer should take."
)
TOOL = {
    "name": "lookup_order",
    "description": "Look up an order by its number and return its status and shipping dates.",
    "input_schema": {"type": "object", "properties": {"order": {"type": "string"}}, "required": ["order"]},
}


def text(rnd: random.Random, words: int) -> str:
    return " ".join(rnd.choice(WORDS) for _ in range(words))


def batch_rows(n: int, seed: int = 0, model: str = "claude-sonnet-5-5", max_tokens: int = 256) -> list[dict[str, Any]]:
    """``n`` Message Batches requests ``{"custom_id", "params"}``; every seventh has a tool."""
    rnd = random.Random(seed)
    rows = []
    for i in range(n):
        words = max(1, min(4000, int(rnd.lognormvariate(4.0, 1.0))))
        params: dict[str, Any] = {
            "model": model,
            "max_tokens": max_tokens,
            "system": SYSTEM,
            "messages": [{"role": "user", "content": f"Message {i}: {text(rnd, words)}"}],
        }
        if i % 7 == 0:
            params["tools"] = [TOOL]
        rows.append({"custom_id": f"req-{i}", "params": params})
    return rows


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path
