"""Latency the call meter adds to a Claude call, with a cached count.

Starts the local stand-in (``tests/standin.py``: a real HTTP server speaking the Messages and count_tokens
protocols) in a subprocess and sends the same ``messages.create`` through the real ``anthropic`` SDK, interleaving three
variants call by call so that drift hits them alike:

* ``off``: the meter switched off (the baseline, measured in the same run);
* ``on``: the meter on, no budget: the count runs beside the call, the line is printed (text mode, to /dev/null);
* ``on+budget``: a token budget, so the (cached) count is awaited in the calling thread before sending.

Also one streamed variant of each (``stream=True``, the SSE events followed through the tee). Between calls the
background prediction is let finish, so it never competes with the next measurement. Prints p50/p95 per
variant, the added p50 (on − off), and the time spent inside the meter's hooks in the calling thread (timed from
inside, free of network noise); never asserts. Target: added p50 ≤ 5 ms.

    python bench/call_meter.py [--n 200] [--large-kb 1024]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SERVE = (
    "import sys, time\nfrom standin import StandIn\ns = StandIn().start()\nprint(s.api_key, s.url, flush=True)\n"
    "sys.stdin.read() if not sys.stdin.isatty() else None\nwhile True: time.sleep(3600)"
)

MODEL = "claude-sonnet-5-5"
SYSTEM = "You are a patient tutor. Explain with one worked example. " * 40
MESSAGES = [
    {"role": "user", "content": "What is a Fourier transform? " * 20},
    {"role": "assistant", "content": "It decomposes a signal into frequencies. " * 20},
    {"role": "user", "content": "Show me the discrete version on 8 samples."},
]


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="calls per variant")
    ap.add_argument(
        "--large-kb",
        type=int,
        default=0,
        help="also a request whose last message is this many KB of text (the body is parsed per call)",
    )
    args = ap.parse_args()

    # the stand-in runs in its own process, as the API would: in this one it would share the GIL with the meter
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE],
        cwd=str(ROOT / "tests"),
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    assert server.stdout is not None
    key, url = server.stdout.readline().split()
    os.environ["ANTHROPIC_API_KEY"] = key
    os.environ["ANTHROPIC_BASE_URL"] = url
    os.environ["JUPYTER_TOKEN_COUNT_DATA_DIR"] = tempfile.mkdtemp(prefix="jtc-bench-")
    import anthropic

    import jupyter_token_count as jtc
    from jupyter_token_count.api import configure

    configure(rpm=1_000_000)  # the limiter is not what is measured
    client = anthropic.Anthropic(max_retries=0)
    messages = MESSAGES
    if args.large_kb:
        filler = "Row 17: revenue 1,234.50 EUR, region north, channel online. "
        messages = [*MESSAGES[:-1], {"role": "user", "content": filler * (args.large_kb * 1024 // len(filler))}]
    kwargs: dict[str, Any] = {"model": MODEL, "max_tokens": 6, "system": SYSTEM, "messages": messages}

    def call(stream: bool) -> float:
        t0 = time.perf_counter()
        if stream:
            for _ in client.messages.create(**kwargs, stream=True):
                pass
        else:
            client.messages.create(**kwargs)
        return (time.perf_counter() - t0) * 1000

    def settle() -> None:
        log = jtc.call_log()
        while log and log[-1].predicting:
            time.sleep(0.0005)

    # the meter's own time in the calling thread, per call: its hooks, timed from inside (network noise excluded)
    from jupyter_token_count.meter import core, hooks

    own: list[float] = [0.0]

    def timed(owner: Any, name: str) -> None:
        inner = getattr(owner, name)

        def wrapper(*a: Any, **kw: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return inner(*a, **kw)
            finally:
                own[0] += time.perf_counter() - t0

        setattr(owner, name, wrapper)

    timed(core.Meter, "before_send")
    timed(hooks, "_after")
    timed(hooks._Tap, "chunk")
    timed(hooks._Tap, "end")
    devnull = open(os.devnull, "w")  # noqa: SIM115 - the text lines of the meter go here
    variants = {
        "off": lambda: jtc.stop_metering(),
        "on": lambda: jtc.meter_calls(),
        "on+budget": lambda: jtc.meter_calls(budget_tokens=10**12),
    }
    times: dict[tuple[str, bool], list[float]] = {(v, s): [] for v in variants for s in (False, True)}
    inside: dict[tuple[str, bool], list[float]] = {(v, s): [] for v in variants for s in (False, True)}
    with contextlib.redirect_stderr(devnull):
        # warm up: SDK import paths, connections, and the count cache (the figures are for a cached count)
        for setup in variants.values():
            setup()
            for stream in (False, True):
                call(stream)
                settle()
        for _ in range(args.n):
            for name, setup in variants.items():
                for stream in (False, True):
                    setup()
                    own[0] = 0.0
                    times[(name, stream)].append(call(stream))
                    inside[(name, stream)].append(own[0] * 1000)
                    settle()
    jtc.stop_metering()
    server.terminate()
    server.wait()

    records = jtc.call_log()
    cached = sum(1 for r in records if r.count_source == "cache")
    size = len(json.dumps(kwargs).encode())
    print(
        f"call meter latency, {args.n} calls per variant, stand-in on 127.0.0.1, same request each time "
        f"({size / 1024:,.1f} KB body)"
    )
    print(f"counts answered from the cache: {cached} of {len(records)} metered calls")
    print(f"{'variant':<22}{'p50 ms':>9}{'p95 ms':>9}{'added p50':>11}{'ratio':>8}{'meter p50':>11}{'meter p95':>11}")
    for stream in (False, True):
        base = statistics.median(times[("off", stream)])
        for name in variants:
            xs = times[(name, stream)]
            med = statistics.median(xs)
            label = name + (" stream" if stream else "")
            added = "" if name == "off" else f"{med - base:+.2f}"
            ins = inside[(name, stream)]
            print(
                f"{label:<22}{med:>9.2f}{pct(xs, 0.95):>9.2f}{added:>11}{med / base:>8.2f}"
                f"{statistics.median(ins):>11.3f}{pct(ins, 0.95):>11.3f}"
            )
    print(
        "added p50: end-to-end p50 minus the meter-off p50 (same run); meter p50/p95: time spent in the meter's "
        "hooks in the calling thread per call (ms)"
    )


if __name__ == "__main__":
    main()
