"""How far the per-cell total (frame + Σ cells, what ``POST cells`` answers) is from counting the whole
notebook as one request (``POST messages`` then ``POST count``).

Each cell is counted as its own one-message request minus the frame, so the per-cell total misses (or
adds) whatever the tokenizer does across a cell boundary (the blank line between cells, tokens that
merge), and, for media, any per-request effects. For every fixture notebook in
``tests/fixtures/notebooks/``, with and without
outputs, it prints both numbers and their difference, counted:

* offline: the estimator (ctok when installed, else the coarser fallback);
* against the local stand-in: its own deterministic rule (5 + a token per 4 bytes of the request JSON),
  so it shows the per-request JSON overhead the stand-in charges, not the real tokenizer;
* live, with ``--live`` and ``ANTHROPIC_API_KEY`` set: the real count_tokens endpoint (about 2 requests
  per cell; the only exact figure).

Prints figures, not pass/fail.

    python bench/cells_vs_whole.py [--model claude-sonnet-4-5] [--live]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from standin import StandIn  # noqa: E402

from jupyter_token_count import registry  # noqa: E402
from jupyter_token_count.backends import offline  # noqa: E402
from jupyter_token_count.cells import count_cells  # noqa: E402
from jupyter_token_count.config import Settings  # noqa: E402
from jupyter_token_count.counter import Counter  # noqa: E402
from jupyter_token_count.request import Cell, build_request, load_notebook, notebook_blocks  # noqa: E402

DIRS = (ROOT / "tests" / "fixtures" / "notebooks",)


def notebooks() -> list[Path]:
    seen: dict[str, Path] = {}
    for d in DIRS:
        if d.is_dir():
            for p in sorted(d.glob("*.ipynb")):
                seen.setdefault(p.name, p)  # the same notebook in both places counts once
    return list(seen.values())


def compare(counter: Counter, cells: list[Cell], model: str, include_outputs: bool, mode: str) -> tuple[int, int, int]:
    """(whole-notebook count, frame + Σ cells, frame)"""
    per_cell = count_cells(counter, cells, model, include_outputs=include_outputs, mode=mode)
    req = build_request([{"role": "user", "content": notebook_blocks(cells, include_outputs)}], model=model)
    whole = counter.count(req, mode=mode)
    if per_cell.exact != whole.exact:
        raise RuntimeError(
            f"mixed exact and estimated counts ({per_cell.reason or whole.reason}); lower the pace or raise rpm"
        )
    return whole.input_tokens, per_cell.total, per_cell.frame


def run(label: str, counter: Counter, mode: str, model: str) -> None:
    print(f"\n{label}")
    print(
        f"  {'notebook':<46} {'outputs':<8} {'cells':>5} {'whole':>8} {'frame+Σ':>8} {'diff':>6} "
        f"{'diff %':>7} {'per cell':>8}"
    )
    rel: list[float] = []
    for path in notebooks():
        cells = load_notebook(path.read_text(encoding="utf-8"))
        n = sum(1 for c in cells if not c.empty)
        for include_outputs in (False, True):
            whole, total, _frame = compare(counter, cells, model, include_outputs, mode)
            diff = total - whole
            rel.append(100 * diff / whole)
            print(
                f"  {path.stem[:46]:<46} {'yes' if include_outputs else 'no':<8} {n:>5} {whole:>8} {total:>8} "
                f"{diff:>+6} {100 * diff / whole:>+6.2f}% {diff / max(1, n):>+8.2f}"
            )
    if rel:
        print(f"  median difference {statistics.median(rel):+.2f}%, range {min(rel):+.2f}% to {max(rel):+.2f}%")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="claude-sonnet-4-5")
    ap.add_argument("--live", action="store_true", help="also against the real API (needs ANTHROPIC_API_KEY)")
    args = ap.parse_args()
    if not notebooks():
        sys.exit(f"no fixture notebooks in {' or '.join(map(str, DIRS))}")
    info = registry.resolve(args.model)
    print(f"model {args.model} ({info.tokenizer} tokenizer); offline estimator: {offline.estimator_name()}")
    print("diff = (frame + Σ cells) − whole notebook; 'per cell' = diff / non-empty cells")

    run("Offline estimate", Counter(Settings(mode="offline", data_dir=None)), "offline", args.model)

    standin = StandIn()
    standin._server.RequestHandlerClass.disable_nagle_algorithm = True
    standin.start()
    try:
        settings = Settings(base_url=standin.url, data_dir=None, rpm=1_000_000, mode="api").with_api_key(
            standin.api_key
        )
        run(
            "Stand-in (its own rule: 5 + bytes of request JSON / 4; not a tokenizer)",
            Counter(settings),
            "api",
            args.model,
        )
    finally:
        standin.stop()

    if args.live:
        key = os.environ.get("ANTHROPIC_API_KEY")
        if not key:
            sys.exit("--live needs ANTHROPIC_API_KEY")
        settings = Settings(data_dir=None, rpm=40, mode="api").with_api_key(key)
        run("Live count_tokens API (exact)", Counter(settings), "api", args.model)


if __name__ == "__main__":
    main()
