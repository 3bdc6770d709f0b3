"""Soak: mixed load against a real ``jupyter server`` with the extension, counting through the local
stand-in of count_tokens, for a configurable time.

Several client threads, each on its own keep-alive connection (loopback only), draw operations from a
fixed mix: ``POST count`` over a pool of distinct prompts (so most are cache hits after the first),
``POST cells`` for notebooks with one cell edited now and then, ``POST messages``, ``GET status`` and
``GET models``, offline-mode counts, counts with an image or a small PDF, and bad inputs that must be
refused (a lone surrogate, nesting 200 levels deep, a cell whose ``cell_type`` is a list, a 70 KB PDF
whose object stream inflates to 70 MB, an oversized body: 400/413).
An answer is an error when its status is not the expected one or the request fails. Every loop is
bounded by the deadline and every socket has a timeout.

Printed: throughput, p50/p95 per operation, errors, the server's RSS after warm-up and at the end
(sampled every few seconds), upstream count_tokens calls against distinct bodies the stand-in saw (1.00
means no body was ever sent upstream twice), and Jupyter's own ``/api/status`` latency idle vs under
load (the baseline, measured in the same run).

    python bench/soak.py [--seconds 60] [--clients 4] [--prompts 200] [--upstream-ms 20]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from hostile import nested, pdf_bomb  # noqa: E402
from live_server import NS, LiveServer  # noqa: E402
from media import image_bytes, pdf_bytes  # noqa: E402
from standin import StandIn  # noqa: E402

MODEL = "claude-sonnet-4-5"
MAX_BODY = 256 * 1024  # the server's max_request_bytes here, so an oversized body is cheap to send


def quantiles(ms: list[float]) -> tuple[float, float]:
    if not ms:
        return float("nan"), float("nan")
    s = sorted(ms)
    p95 = statistics.quantiles(s, n=20, method="inclusive")[-1] if len(s) > 1 else s[0]
    return statistics.median(s), p95


class Mix:
    """The operations, each a (weight, method, path, body-maker, expected status)."""

    def __init__(self, prompts: int, rng: random.Random) -> None:
        self.rng = rng
        words = [
            "token",
            "count",
            "prompt",
            "model",
            "cell",
            "notebook",
            "claude",
            "data",
            "result",
            "value",
            "plot",
            "table",
        ]
        self.prompts = [
            " ".join(rng.choice(words) for _ in range(rng.randint(5, 60))) + f" #{i}" for i in range(prompts)
        ]
        self.notebooks = [
            [
                {
                    "id": f"n{n}c{i}",
                    "cell_type": "markdown" if i % 3 == 0 else "code",
                    "source": f"# cell {i} of notebook {n}\n" + " ".join(rng.choice(words) for _ in range(40)),
                }
                for i in range(20)
            ]
            for n in range(5)
        ]
        self.png = base64.b64encode(image_bytes("PNG", (300, 200))).decode()
        self.pdfs = [
            base64.b64encode(pdf_bytes(pages=1 + i % 3, text=f"Report {i}: quarterly figures")).decode()
            for i in range(10)
        ]
        self.bomb = base64.b64encode(pdf_bomb(70 * 2**20)).decode()
        self.ops: list[tuple[str, int, str, str, Any, int]] = [
            ("count", 40, "POST", "count", self.count, 200),
            ("cells", 15, "POST", "cells", self.cells, 200),
            ("messages", 5, "POST", "messages", lambda: {"cells": self.rng.choice(self.notebooks)}, 200),
            ("count_offline", 8, "POST", "count", lambda: {**self.count(), "mode": "offline"}, 200),
            ("count_image", 4, "POST", "count", self.image, 200),
            ("count_pdf", 2, "POST", "count", lambda: self.document(self.rng.choice(self.pdfs)), 200),
            ("bad_pdf_bomb", 1, "POST", "count", lambda: self.document(self.bomb), 400),
            ("status", 8, "GET", "status", None, 200),
            ("models", 3, "GET", "models", None, 200),
            (
                "bad_surrogate",
                3,
                "POST",
                "count",
                lambda: '{"messages": [{"role": "user", "content": "a\\ud800"}]}',
                400,
            ),
            (
                "bad_deep",
                3,
                "POST",
                "count",
                lambda: {
                    "messages": [
                        {
                            "role": "user",
                            "content": [{"type": "tool_use", "id": "t", "name": "f", "input": nested(200)}],
                        }
                    ]
                },
                400,
            ),
            (
                "bad_cell_type",
                3,
                "POST",
                "cells",
                lambda: {"cells": [{"id": "a", "cell_type": ["code"], "source": "x"}]},
                400,
            ),
            (
                "too_large",
                2,
                "POST",
                "count",
                lambda: {"messages": [{"role": "user", "content": "x" * (MAX_BODY + 10)}]},
                413,
            ),
        ]
        self.weights = [op[1] for op in self.ops]

    def count(self) -> dict[str, Any]:
        return {"model": MODEL, "messages": [{"role": "user", "content": self.rng.choice(self.prompts)}]}

    def cells(self) -> dict[str, Any]:
        nb = [dict(c) for c in self.rng.choice(self.notebooks)]
        if self.rng.random() < 0.3:  # an edit: one cell changes
            i = self.rng.randrange(len(nb))
            nb[i]["source"] += f" edit{self.rng.randrange(1000)}"
        return {"model": MODEL, "cells": nb}

    def image(self) -> dict[str, Any]:
        return {
            "model": MODEL,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": self.png}},
                        {"type": "text", "text": self.rng.choice(self.prompts)},
                    ],
                }
            ],
        }

    def document(self, data: str) -> dict[str, Any]:
        return {
            "model": MODEL,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "document",
                            "source": {"type": "base64", "media_type": "application/pdf", "data": data},
                        },
                        {"type": "text", "text": "Summarise."},
                    ],
                }
            ],
        }

    def draw(self) -> tuple[str, str, str, Any, int]:
        name, _, method, path, make, expect = self.rng.choices(self.ops, self.weights)[0]
        return name, method, path, (make() if make else None), expect


def client(
    server: LiveServer, mix: Mix, deadline: float, out: dict[str, list[float]], errors: list[str], lock: threading.Lock
) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    while time.monotonic() < deadline:
        name, method, path, body, expect = mix.draw()
        raw = None if body is None else (body if isinstance(body, str) else json.dumps(body)).encode()
        t0 = time.perf_counter()
        try:
            conn.request(
                method, f"/{NS}/{path}", body=raw, headers={**server.headers, "Content-Type": "application/json"}
            )
            resp = conn.getresponse()
            data = resp.read()
            ms = (time.perf_counter() - t0) * 1000
            json.loads(data, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
            ok = resp.status == expect
            if resp.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        except Exception as exc:
            ms, ok, data = (time.perf_counter() - t0) * 1000, False, repr(exc).encode()
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            resp = None
        with lock:
            out[name].append(ms)
            if not ok:
                errors.append(f"{name}: {getattr(resp, 'status', 'no answer')} {data[:160]!r}")
    conn.close()


def jupyter_status_ms(server: LiveServer, n: int, pause: float = 0.05) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        conn.request("GET", "/api/status", headers=server.headers)
        conn.getresponse().read()
        times.append((time.perf_counter() - t0) * 1000)
        time.sleep(pause)
    conn.close()
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--prompts", type=int, default=200, help="distinct prompts in the count pool")
    ap.add_argument("--upstream-ms", type=float, default=20.0, help="stand-in delay per count")
    ap.add_argument("--seed", type=int, default=14)
    args = ap.parse_args()

    standin = StandIn().start()
    standin.delay = args.upstream_ms / 1000
    with (
        tempfile.TemporaryDirectory() as tmp,
        LiveServer(Path(tmp), standin.url, standin.api_key, rpm=1_000_000, max_request_bytes=MAX_BODY) as server,
    ):
        idle = jupyter_status_ms(server, 40)
        # warm-up: imports, the tokenizer's tables, the first connections
        warm = Mix(args.prompts, random.Random(args.seed + 1))
        warm_lock, warm_errors = threading.Lock(), []
        client(server, warm, time.monotonic() + 3, defaultdict(list), warm_errors, warm_lock)
        rss_before = server.rss_kb()
        standin.reset()
        standin.delay = args.upstream_ms / 1000

        out: dict[str, list[float]] = defaultdict(list)
        errors: list[str] = []
        lock = threading.Lock()
        deadline = time.monotonic() + args.seconds
        threads = [
            threading.Thread(
                target=client,
                args=(server, Mix(args.prompts, random.Random(args.seed + 10 + i)), deadline, out, errors, lock),
                daemon=True,
            )
            for i in range(args.clients)
        ]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        rss_samples = []
        loaded: list[float] = []
        while any(t.is_alive() for t in threads):
            rss_samples.append(server.rss_kb())
            if time.monotonic() < deadline - 1:
                loaded += jupyter_status_ms(server, 5, pause=0.2)
            else:
                time.sleep(0.5)
        for t in threads:
            t.join(60)
        elapsed = time.monotonic() - t0
        rss_after = server.rss_kb()
        wire = [r.raw for r in standin.count_requests()]

    total = sum(len(v) for v in out.values())
    print(
        f"soak: {args.seconds:g} s, {args.clients} clients, {args.prompts} prompts, upstream +{args.upstream_ms:g} ms"
    )
    print(f"requests {total}  throughput {total / elapsed:.1f}/s  errors {len(errors)}")
    print(f"{'operation':16} {'n':>6} {'p50 ms':>8} {'p95 ms':>8}")
    for name in sorted(out, key=lambda k: -len(out[k])):
        p50, p95 = quantiles(out[name])
        print(f"{name:16} {len(out[name]):6d} {p50:8.1f} {p95:8.1f}")
    print(
        f"server RSS after warm-up {rss_before / 1024:.1f} MB, at the end {rss_after / 1024:.1f} MB "
        f"(ratio {rss_after / max(rss_before, 1):.2f}; samples min {min(rss_samples) / 1024:.1f} / "
        f"max {max(rss_samples) / 1024:.1f} MB)"
    )
    distinct = len(set(wire))
    print(
        f"upstream count_tokens calls {len(wire)}, distinct bodies {distinct} "
        f"(calls per distinct body {len(wire) / max(distinct, 1):.2f})"
    )
    ip50, ip95 = quantiles(idle)
    lp50, lp95 = quantiles(loaded)
    print(
        f"jupyter /api/status idle p50 {ip50:.1f} ms p95 {ip95:.1f} ms; under load p50 {lp50:.1f} ms p95 {lp95:.1f} ms "
        f"(p95 ratio {lp95 / ip95:.1f}x)"
    )
    for e in errors[:10]:
        print("  error:", e)


if __name__ == "__main__":
    main()
