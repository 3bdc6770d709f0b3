"""How long one pathological text keeps a process busy, and how long it keeps every other thread waiting: our
bounded normalisation (``backends/offline/normal.py``) against ctok's own, which the estimator used before (the
baseline, measured in the same run), and the whole offline estimate with the longest pause of a heartbeat
thread (what a Jupyter server's event loop would feel).

    python bench/stalls.py [--repeat 3] [--sizes 10000 40000 160000] [--baseline-max 40000]

Every figure is a median over ``--repeat`` runs. The baseline is quadratic on the first families, so it runs
only up to ``--baseline-max`` characters. Ordinary prose is the control: it must cost the same either way.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from stall import measure  # noqa: E402

from jupyter_token_count import registry  # noqa: E402
from jupyter_token_count.backends import offline  # noqa: E402
from jupyter_token_count.backends.offline import normal  # noqa: E402
from jupyter_token_count.backends.offline import text as offline_text  # noqa: E402


def cycle(chars: str, n: int) -> str:
    return (chars * (n // len(chars) + 1))[:n]


FAMILIES: dict[str, Callable[[int], str]] = {
    "marks, mixed classes": lambda n: "a" + cycle("\u0301\u0308\u0327", n),
    "Tibetan U+0F73": lambda n: "\u0f40" + "\u0f73" * n,
    "Arabic harakat": lambda n: "\u0628" + cycle("\u064b\u0650", n),
    "newlines": lambda n: "x" + "\n" * n + "x",
    "prose (control)": lambda n: cycle("The quick brown fox jumps over the lazy dog. ", n),
}


def median_time(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 40_000, 160_000])
    ap.add_argument("--baseline-max", type=int, default=40_000)
    ap.add_argument("--model", default="claude-sonnet-4-5")
    args = ap.parse_args()
    info = registry.resolve(args.model)
    offline.estimate({"model": args.model, "messages": [{"role": "user", "content": "warm"}]}, info)
    import ctok.normalize  # noqa: F401 -- loaded by the estimate; the attribute is the function, the module is here

    ctok_nfc = sys.modules["ctok.normalize"].nfc

    print(f"medians of {args.repeat} runs; model {args.model} ({info.tokenizer})")
    print(
        f"{'family':22} {'chars':>8} {'ctok nfc s':>11} {'ours s':>8} {'ratio':>7} "
        f"{'estimate s':>11} {'longest pause s':>16}"
    )
    for name, make in FAMILIES.items():
        for n in args.sizes:
            text = make(n)
            base = None
            if n <= args.baseline_max:
                base = median_time(lambda t=text: ctok_nfc(t, fold_quotes=True), args.repeat)
            ours = median_time(lambda t=text: normal.nfc(t, fold_quotes=True), args.repeat)
            runs = []
            for _ in range(args.repeat):
                offline_text.clear_cache()
                body = {"model": args.model, "messages": [{"role": "user", "content": text}]}
                runs.append(measure(lambda b=body: offline.estimate(b, info, deadline=math.inf)))
            est = statistics.median(r.wall for r in runs)
            pause = statistics.median(r.longest_pause for r in runs)
            ratio = f"{base / ours:7.1f}" if base is not None and ours > 0 else f"{'—':>7}"
            base_s = f"{base:11.3f}" if base is not None else f"{'(skipped)':>11}"
            print(f"{name:22} {len(text):8,} {base_s} {ours:8.3f} {ratio} {est:11.3f} {pause:16.3f}", flush=True)


if __name__ == "__main__":
    main()
