"""Latency the call meter adds to a Claude call, with a cached count.

Starts the local stand-in (``tests/standin.py``: a real HTTP server speaking the Messages and count_tokens
protocols) and sends the same ``messages.create`` through the real ``anthropic`` SDK, interleaving three
variants call by call so that drift hits them alike:

* ``off``: the meter switched off (the baseline, measured in the same run);
* ``on``: the meter on, no budget: the count runs beside the call, the line is printed (text mode, to /dev/null);
* ``on+budget``: a token budget, so the (cached) count is awaited in the calling thread before sending.

Also one streamed variant of each (``stream=True``, the SSE events followed through the tee). Between calls the
background prediction is let finish, so it never competes with the next measurement. Prints p50/p95 per
variant and the added p50 (on − off); never asserts. Target: added p50 ≤ 5 ms.

    python bench/call_meter.py [--n 200]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from standin import StandIn  # noqa: E402

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
    args = ap.parse_args()

    server = StandIn().start()
    os.environ["ANTHROPIC_API_KEY"] = server.api_key
    os.environ["ANTHROPIC_BASE_URL"] = server.url
    os.environ["JUPYTER_TOKEN_COUNT_DATA_DIR"] = tempfile.mkdtemp(prefix="jtc-bench-")
    import anthropic

    import jupyter_token_count as jtc
    from jupyter_token_count.api import configure

    configure(rpm=1_000_000)  # the limiter is not what is measured
    client = anthropic.Anthropic(max_retries=0)
    kwargs: dict[str, Any] = {"model": MODEL, "max_tokens": 6, "system": SYSTEM, "messages": MESSAGES}

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

    devnull = open(os.devnull, "w")  # noqa: SIM115 - the text lines of the meter go here
    variants = {
        "off": lambda: jtc.stop_metering(),
        "on": lambda: jtc.meter_calls(),
        "on+budget": lambda: jtc.meter_calls(budget_tokens=10**12),
    }
    times: dict[tuple[str, bool], list[float]] = {(v, s): [] for v in variants for s in (False, True)}
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
                    times[(name, stream)].append(call(stream))
                    settle()
    jtc.stop_metering()
    server.stop()

    records = jtc.call_log()
    cached = sum(1 for r in records if r.count_source == "cache")
    print(f"call meter latency, {args.n} calls per variant, stand-in on 127.0.0.1, same request each time")
    print(f"counts answered from the cache: {cached} of {len(records)} metered calls")
    print(f"{'variant':<22}{'p50 ms':>9}{'p95 ms':>9}{'added p50':>11}{'ratio':>8}")
    for stream in (False, True):
        base = statistics.median(times[("off", stream)])
        for name in variants:
            xs = times[(name, stream)]
            med = statistics.median(xs)
            label = name + (" stream" if stream else "")
            added = "" if name == "off" else f"{med - base:+.2f}"
            print(f"{label:<22}{med:>9.2f}{pct(xs, 0.95):>9.2f}{added:>11}{med / base:>8.2f}")


if __name__ == "__main__":
    main()
