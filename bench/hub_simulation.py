"""A JupyterHub in miniature: several real Jupyter servers with the extension share one real Redis
(``TokenCountConfig.redis_url``) and one organisation key, pointed at the local stand-in of count_tokens
(``tests/standin.py``). Simulated users, spread over the servers, each open the same 50-cell notebook the
way the UI opens it (``POST cells`` with ``deadline_ms: 0``, then again while its total is pending) and
edit two cells (typing posts with ``exact_total: false``, then the exact-total post after the pause).
Per-cell background counts are on (the default), so every server also wants every cell counted.

Printed, all measured in this run from what the stand-in received and what the clients timed:
- upstream requests vs distinct request bodies (target: equal — no body counted twice across the hub);
- the most requests the stand-in saw in any 60 s vs the hub's cap (``hub_rpm``);
- p50/p95 latency of ``POST cells`` as the users saw it;
- per server: counts found in Redis and upstream calls another server made for it.

    python bench/hub_simulation.py [--servers 3] [--users 200] [--cap 600] [--arrival 60] [--without-redis]

``--without-redis`` runs the same hub without sharing (each server capped at cap / servers), the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from live_server import free_port, server_argv, write_server_config  # noqa: E402
from redis_proc import RedisProc  # noqa: E402
from server_latency import notebook  # noqa: E402
from standin import StandIn  # noqa: E402

NS = "jupyter-token-count"
MODEL = "claude-sonnet-4-5"
N_CELLS = 50
KEYSTROKES = 4  # typing posts per edited cell (debounced pauses), then the exact total


class JupyterServer:
    def __init__(self, standin: StandIn, redis_url: str | None, cap: int, tmp: Path) -> None:
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.dir = tmp
        config_dir = tmp / "config"
        # each server's own cap is the hub's: only the shared budget binds while Redis is up
        write_server_config(
            config_dir, {"base_url": standin.url, "rpm": cap, "hub_rpm": cap, "cache_dir": str(tmp / "cache")}
        )
        (tmp / "root").mkdir()
        env = {**os.environ, "ANTHROPIC_API_KEY": standin.api_key, "JUPYTER_CONFIG_DIR": str(config_dir)}
        env.pop("ANTHROPIC_BASE_URL", None)
        env.pop("JUPYTER_TOKEN_COUNT_REDIS_URL", None)
        if redis_url:
            env["JUPYTER_TOKEN_COUNT_REDIS_URL"] = redis_url
        self.log = (tmp / "server.log").open("w")
        self.proc = subprocess.Popen(
            server_argv(self.port, self.token, tmp / "root"),
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.base = f"http://127.0.0.1:{self.port}/{NS}/"
        self.headers = {"Authorization": f"token {self.token}", "Content-Type": "application/json"}

    async def wait_ready(self, client: httpx.AsyncClient) -> None:
        deadline = time.monotonic() + 180
        while True:
            try:
                if (await client.get(self.base + "status", headers=self.headers)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = (self.dir / "server.log").read_text()[-3000:]
                raise RuntimeError(f"jupyter server did not start:\n{tail}")
            await asyncio.sleep(0.3)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


class Stats:
    def __init__(self) -> None:
        #: (kind, seconds): "answer" posts must answer at once (typing, deadline 0); "wait" posts wait for the
        #: exact total, up to the server's deadline
        self.latency: list[tuple[str, float]] = []
        self.posts = 0
        self.exact_totals = 0
        self.estimated_totals = 0
        self.errors: list[str] = []
        self.resent = 0


async def post_cells(
    client: httpx.AsyncClient, server: JupyterServer, body: dict[str, Any], stats: Stats, kind: str = "answer"
) -> Any:
    t0 = time.perf_counter()
    try:
        resp = await client.post(server.base + "cells", content=json.dumps(body), headers=server.headers, timeout=120)
    except (httpx.ReadError, httpx.RemoteProtocolError):
        # a keep-alive connection the server closed as we reused it: a browser resends, so do we (counted)
        stats.resent += 1
        try:
            resp = await client.post(
                server.base + "cells", content=json.dumps(body), headers=server.headers, timeout=120
            )
        except httpx.HTTPError as exc:
            stats.errors.append(f"{type(exc).__name__}: {exc}")
            return None
    except httpx.HTTPError as exc:
        stats.errors.append(f"{type(exc).__name__}: {exc}")
        return None
    stats.latency.append((kind, time.perf_counter() - t0))
    stats.posts += 1
    if resp.status_code != 200:
        stats.errors.append(f"{resp.status_code} {resp.text[:200]}")
        return None
    return resp.json()


async def open_as_the_ui(
    client: httpx.AsyncClient, server: JupyterServer, cells: list[dict[str, Any]], stats: Stats
) -> None:
    body = {"model": MODEL, "cells": cells}
    data = await post_cells(client, server, {**body, "deadline_ms": 0}, stats)
    if data is not None and data["pending"]:
        data = await post_cells(client, server, body, stats, "wait")  # the server's deadline (2 s) bounds it
    if data is not None:
        if data["exact"]:
            stats.exact_totals += 1
        else:
            stats.estimated_totals += 1


async def user(
    u: int, start_at: float, client: httpx.AsyncClient, server: JupyterServer, base: list[dict[str, Any]], stats: Stats
) -> None:
    rng = random.Random(u)
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    cells = [dict(c) for c in base]
    await open_as_the_ui(client, server, cells, stats)
    for idx in rng.sample(range(N_CELLS), 2):
        await asyncio.sleep(rng.uniform(1.0, 3.0))  # reading, then a click into the cell
        for k in range(KEYSTROKES):
            cells[idx] = {**cells[idx], "source": cells[idx]["source"] + f"\n# user {u} note {k}"}
            await post_cells(client, server, {"model": MODEL, "cells": cells, "exact_total": False}, stats)
            await asyncio.sleep(rng.uniform(0.2, 0.6))
        await asyncio.sleep(2.0)  # the pause after which the UI asks for the exact total
        await open_as_the_ui(client, server, cells, stats)


def peak_in_window(stamps: list[float], window: float = 60.0) -> int:
    stamps = sorted(stamps)
    best, lo = 0, 0
    for hi, t in enumerate(stamps):
        while stamps[lo] <= t - window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def canonical(raw: bytes) -> str:
    return hashlib.sha256(json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()).hexdigest()


async def status(client: httpx.AsyncClient, server: JupyterServer) -> dict[str, Any]:
    return (await client.get(server.base + "status", headers=server.headers)).json()


async def run(args: argparse.Namespace, standin: StandIn, servers: list[JupyterServer]) -> None:
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
    async with httpx.AsyncClient(limits=limits) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(s.wait_ready(client) for s in servers))
        shared = (
            "no Redis: each server alone, its rpm the cap divided among them"
            if args.without_redis
            else ("sharing Redis")
        )
        print(
            f"{len(servers)} jupyter servers up in {time.perf_counter() - t0:.1f}s, {shared}; hub cap "
            f"{args.cap} requests/min; stand-in at {standin.url}"
        )
        for s in servers:  # warm the offline tokenizer and the SDK import: not part of what a user waits for
            await client.post(
                s.base + "count",
                headers=s.headers,
                timeout=120,
                content=json.dumps(
                    {"model": MODEL, "messages": [{"role": "user", "content": f"warm {s.port}"}], "mode": "offline"}
                ),
            )
        standin.reset()
        base = notebook(N_CELLS, "course-week-3")
        stats = Stats()
        begin = time.monotonic()
        rng = random.Random(1)
        arrivals = [rng.uniform(0, args.arrival) for _ in range(args.users)]
        await asyncio.gather(
            *(user(u, begin + arrivals[u], client, servers[u % len(servers)], base, stats) for u in range(args.users))
        )
        sim = time.monotonic() - begin
        # the background per-cell counts go on after the users: let them finish (or the budget stop them)
        quiet_since, last = time.monotonic(), -1
        while time.monotonic() - quiet_since < 5 and time.monotonic() - begin < sim + args.drain:
            n = len(standin.count_requests())
            if n != last:
                last, quiet_since = n, time.monotonic()
            await asyncio.sleep(0.5)
        statuses = [await status(client, s) for s in servers]

    reqs = standin.count_requests()
    bodies = Counter(canonical(r.raw) for r in reqs)
    distinct = len(bodies)
    twice = {k for k, n in bodies.items() if n > 1}
    if twice:
        kinds = Counter("cell or frame" if len(r.raw) < 3000 else "notebook" for r in reqs if canonical(r.raw) in twice)
        print(f"  bodies sent more than once: {len(twice)} ({dict(kinds)} requests)")
    peak = peak_in_window([r.at for r in reqs])
    print(
        f"\n{args.users} users over {len(servers)} servers, arriving within {args.arrival:g}s; each opened the same "
        f"{N_CELLS}-cell notebook and edited 2 cells ({sim:.0f}s of users, then the background drain)"
    )
    print(
        f"  upstream requests: {len(reqs)}   distinct request bodies: {distinct}   "
        f"({'equal: no body counted twice' if len(reqs) == distinct else 'DUPLICATES'})"
    )
    print(
        f"  most requests in any 60 s at the stand-in: {peak}   cap: {args.cap}/min   "
        f"({'within' if peak <= args.cap else 'EXCEEDED'})"
    )
    for label, kinds in (
        ("all", ("answer", "wait")),
        ("answering at once (typing, deadline_ms 0)", ("answer",)),
        ("waiting for a pending total", ("wait",)),
    ):
        ms = sorted(t * 1000 for k, t in stats.latency if k in kinds)
        if len(ms) < 2:
            continue
        p95 = statistics.quantiles(ms, n=20, method="inclusive")[-1]
        print(
            f"  POST cells, {label}: {len(ms)} posts, p50 {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms, "
            f"max {ms[-1]:.1f} ms"
        )
    print(f"  errors: {len(stats.errors)}; posts resent after a closed keep-alive connection: {stats.resent}")
    print(
        f"  notebook totals shown exact: {stats.exact_totals}, estimated (pending or over the cap): "
        f"{stats.estimated_totals}"
    )
    for s, st in zip(servers, statuses, strict=True):
        h = st["hub"]
        if not h["enabled"]:
            print(f"  server :{s.port}  upstream {st['upstream_requests']:>4}  (no Redis)")
            continue
        print(
            f"  server :{s.port}  upstream {st['upstream_requests']:>4}  Redis hits {h['shared_hits']:>5}  "
            f"answered by another server {h['remote_results']:>4}  rate denials {h['rate_denials']:>4}  "
            f"connected {h['connected']}  Redis failures {h['failures']}"
        )
    for e in stats.errors[:5]:
        print("  error:", e)
    for s in servers:
        if s.proc.poll() is not None:
            print(f"  server :{s.port} EXITED ({s.proc.returncode}):", (s.dir / "server.log").read_text()[-1500:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--servers", type=int, default=3, help="Jupyter servers (default 3; this machine has 2 cores)")
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--cap", type=int, default=600, help="hub_rpm: requests per minute for the whole hub")
    ap.add_argument("--arrival", type=float, default=60.0, help="users arrive uniformly within this many seconds")
    ap.add_argument("--drain", type=float, default=60.0, help="longest wait for background counts after the users")
    ap.add_argument(
        "--without-redis",
        action="store_true",
        help="the baseline: the same hub without Redis (each server's rpm: cap / servers)",
    )
    args = ap.parse_args()
    standin = StandIn()
    standin._server.RequestHandlerClass.disable_nagle_algorithm = True  # see bench/server_latency.py
    standin.start()
    with tempfile.TemporaryDirectory(prefix="jtc-hub-") as tmp:
        redis_server = RedisProc(Path(tmp) / "redis", password=secrets.token_hex(8)).start()
        url, rpm = (None, max(1, args.cap // args.servers)) if args.without_redis else (redis_server.url, args.cap)
        servers = [JupyterServer(standin, url, rpm, Path(tmp) / f"server{i}") for i in range(args.servers)]
        try:
            asyncio.run(run(args, standin, servers))
            if not args.without_redis:
                stats = redis_server.command("INFO", "commandstats")
                calls = {k.removeprefix("cmdstat_"): v["calls"] for k, v in stats.items()}
                top = ", ".join(f"{k} {v}" for k, v in sorted(calls.items(), key=lambda kv: -kv[1])[:6])
                print(f"  Redis commands: {sum(calls.values())} ({top})")
        finally:
            for s in servers:
                s.stop()
            redis_server.stop()
            standin.stop()


if __name__ == "__main__":
    main()
