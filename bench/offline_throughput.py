"""Offline counting speed on real notebooks, against ctok alone on the same text as the baseline.

    python bench/offline_throughput.py [--repeat 5] [--model claude-sonnet-5-5 ...]

For every fixture notebook (``../shared/fixtures/notebooks`` when present, else ``tests/fixtures``):
- whole notebook, cold: ``count_tokens(path, mode="offline")`` with the estimator's caches cleared first
  (reading, rendering, validating and estimating), and ``ctok.token_count`` on the same rendered text;
- whole notebook, warm: the same count again (what an unchanged notebook costs);
- per cell, cold: each non-empty cell counted alone as the UI's badges do (an edited cell), p50/p95.
Figures are medians over ``--repeat`` runs; ratios are ours / ctok measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jupyter_token_count import count_tokens, registry  # noqa: E402
from jupyter_token_count.backends.offline import text as offline_text  # noqa: E402
from jupyter_token_count.cells import cell_request  # noqa: E402
from jupyter_token_count.request import build_request, load_notebook  # noqa: E402


def notebooks() -> list[Path]:
    for folder in (ROOT.parent / "shared" / "fixtures" / "notebooks", ROOT / "tests" / "fixtures" / "notebooks"):
        found = sorted(folder.glob("*.ipynb"))
        if found:
            return found
    sys.exit("no fixture notebooks found")


def rendered_text(body: dict) -> str:
    return "\n\n".join(b["text"] for m in body["messages"] for b in (m["content"] if isinstance(m["content"], list) else [{"type": "text", "text": m["content"]}]) if b.get("type") == "text")


def timed(fn, repeat: int, before=None) -> float:
    runs = []
    for _ in range(repeat):
        if before:
            before()
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--model", action="append", default=None)
    args = ap.parse_args()
    models = args.model or ["claude-sonnet-5-5", "claude-sonnet-4-6"]
    if not offline_text.using_ctok():
        sys.exit("ctok is not importable: this benchmark measures ctok-backed estimates (install ctok)")
    import ctok

    paths = notebooks()
    print(f"{len(paths)} notebooks from {paths[0].parent}; estimator {offline_text.backend_name()}; median of {args.repeat} runs\n")
    for model in models:
        info = registry.resolve(model)
        version = info.ctok_version
        ctok.token_count("warm up", version)  # load the vocabulary outside the timings
        total_bytes = 0
        ours_cold = ours_warm = base = 0.0
        cell_ours: list[float] = []
        cell_base: list[float] = []
        print(f"{model} (tokenizer {info.tokenizer})")
        print(f"  {'notebook':44} {'KB':>7} {'cold ms':>9} {'ctok ms':>9} {'ratio':>6} {'warm ms':>8}")
        for path in paths:
            body = build_request(path, model=model).body
            text = rendered_text(body)
            size = len(text.encode())
            cold = timed(lambda p=path, m=model: count_tokens(p, model=m, mode="offline"), args.repeat, offline_text.clear_cache)
            warm = timed(lambda p=path, m=model: count_tokens(p, model=m, mode="offline"), args.repeat)
            ref = timed(lambda t=text, v=version: ctok.token_count(t, v), args.repeat)
            total_bytes += size
            ours_cold += cold
            ours_warm += warm
            base += ref
            print(f"  {path.name[:44]:44} {size / 1024:7.1f} {cold * 1e3:9.1f} {ref * 1e3:9.1f} {cold / ref:6.2f} {warm * 1e3:8.2f}")
            for cell in load_notebook(path.read_text(encoding="utf-8")):
                req = cell_request(cell, model, include_outputs=False)
                if req is None:
                    continue
                cell_text = rendered_text(req.body)
                cell_ours.append(timed(lambda r=req: count_tokens(r.body, mode="offline"), 3, offline_text.clear_cache))
                cell_base.append(timed(lambda t=cell_text, v=version: ctok.token_count(t, v), 3))
        mb = total_bytes / 2**20
        print(f"  whole notebooks, cold: {mb / ours_cold:6.2f} MB/s, {len(paths) / ours_cold:6.1f} notebooks/s "
              f"(ctok alone {mb / base:6.2f} MB/s; ours/ctok time {ours_cold / base:.2f})")
        print(f"  whole notebooks, warm: {mb / ours_warm:6.1f} MB/s, {len(paths) / ours_warm:6.0f} notebooks/s")
        print(f"  per cell ({len(cell_ours)} cells), cold: p50 {pct(cell_ours, .5) * 1e3:.2f} ms, p95 {pct(cell_ours, .95) * 1e3:.2f} ms "
              f"(ctok alone p50 {pct(cell_base, .5) * 1e3:.2f} ms, p95 {pct(cell_base, .95) * 1e3:.2f} ms)\n")


if __name__ == "__main__":
    main()
