"""Offline counting speed on real notebooks and on a 1 MB prose document, against ctok alone on the same
text as the baseline, measured in the same run.

    python bench/offline_throughput.py [--repeat 5] [--prose-repeat 3] [--model claude-sonnet-5-5 ...]

"Cold" means every count cache of ours is emptied before the timed call (whole texts, and the tiler's
words and stream pieces: ``text.clear_cache()``); the tokenizer vocabularies stay loaded, for us and for
ctok alike (both are loaded before any timing). Ours and ctok's runs are interleaved (ours, ctok, ours,
ctok, …) so that the machine's load hits both alike; every figure is a median over the runs.

For every fixture notebook (``tests/fixtures/notebooks``):
- the texts its offline estimate tokenizes (cells, extracted PDF text, …), cold: our count of each
  against ``ctok.token_count`` of each (the tokenizers compared on the same texts);
- whole notebook, cold: ``count_tokens(path, mode="offline")`` (reading, rendering, validating, images,
  estimating) against that same ctok time;
- whole notebook, warm: the same count again (what an unchanged notebook costs);
- per cell, cold: each non-empty cell counted alone as the UI's badges do (an edited cell), p50/p95 of
  the per-cell medians, through ``count_tokens`` and by our text count alone.
Prose: English prose from the standard library (Python's pydoc topics, then module and function
docstrings) cut to 1 MB, counted as one text; our count must equal ctok's.
"""

from __future__ import annotations

import argparse
import ast
import statistics
import sys
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jupyter_token_count import count_tokens, registry  # noqa: E402
from jupyter_token_count.backends.offline import text as offline_text  # noqa: E402
from jupyter_token_count.cells import cell_request  # noqa: E402
from jupyter_token_count.request import load_notebook  # noqa: E402


def notebooks() -> list[Path]:
    found = sorted((ROOT / "tests" / "fixtures" / "notebooks").glob("*.ipynb"))
    return found or sys.exit("no fixture notebooks found")


def rendered_text(body: dict) -> str:
    return "\n\n".join(
        b["text"]
        for m in body["messages"]
        for b in (m["content"] if isinstance(m["content"], list) else [{"type": "text", "text": m["content"]}])
        if b.get("type") == "text"
    )


def prose(size: int) -> str:
    """About ``size`` bytes of English prose that every Python install carries."""
    from pydoc_data.topics import topics

    parts = [topics[k].strip() for k in sorted(topics)]
    total = sum(len(p.encode()) for p in parts)
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
        if total >= size:
            break
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc and len(doc) > 300:
                    parts.append(doc)
                    total += len(doc.encode())
    text = "\n\n".join(parts).encode()[:size].decode(errors="ignore")
    return text[: text.rfind("\n\n")] if "\n\n" in text else text


def counted_texts(path: Path, model: str) -> list[tuple[str, bool]]:
    """Every text the offline estimate of a notebook tokenizes (cells, PDF pages, tool JSON, …), with
    whether it follows a word boundary: what ctok alone would have to tokenize for the same count."""
    seen: list[tuple[str, bool]] = []
    real = offline_text._ctok_content

    def record(text: str, version: str, bow: bool) -> int:
        seen.append((text, bow))
        return real(text, version, bow)

    offline_text.clear_cache()
    offline_text._ctok_content = record  # type: ignore[assignment]
    try:
        count_tokens(path, model=model, mode="offline")
    finally:
        offline_text._ctok_content = real  # type: ignore[assignment]
    return seen


def interleaved(ours: Callable[[], object], base: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median seconds of ``ours`` (each run cold: caches cleared first, outside the timing) and of ``base``,
    run alternately."""
    a, b = [], []
    for _ in range(repeat):
        offline_text.clear_cache()
        t = time.perf_counter()
        ours()
        a.append(time.perf_counter() - t)
        t = time.perf_counter()
        base()
        b.append(time.perf_counter() - t)
    return statistics.median(a), statistics.median(b)


def warm(fn: Callable[[], object], repeat: int) -> float:
    fn()
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def bench_model(model: str, paths: list[Path], doc: str, args: argparse.Namespace) -> None:
    import ctok

    info = registry.resolve(model)
    version, family = info.ctok_version, info.tokenizer
    ctok.token_count("warm up", version)  # load the vocabulary outside the timings
    offline_text.content_tokens("warm up", version, family)
    nb_bytes = 0
    ours_cold = ours_text = base = ours_warm = 0.0
    cell_ours: list[float] = []
    cell_base: list[float] = []
    cell_text_ours: list[float] = []
    print(f"{model} (tokenizer {family})")
    print(
        f"  {'notebook':44} {'KB':>6} {'texts':>5} {'ours ms':>8} {'ctok ms':>8} {'speed':>6} "
        f"{'e2e ms':>7} {'speed':>6} {'warm ms':>8}"
    )
    for path in paths:
        texts = counted_texts(path, model)
        size = sum(len(t.encode()) for t, _ in texts)
        only, ref = interleaved(
            lambda ts=texts: [offline_text.content_tokens(t, version, family, bow=b) for t, b in ts],
            lambda ts=texts: [ctok.token_count(t, version) for t, _ in ts],
            args.repeat,
        )
        cold, _ = interleaved(lambda p=path: count_tokens(p, model=model, mode="offline"), lambda: None, args.repeat)
        hot = warm(lambda p=path: count_tokens(p, model=model, mode="offline"), args.repeat)
        nb_bytes += size
        ours_cold += cold
        ours_text += only
        base += ref
        ours_warm += hot
        print(
            f"  {path.name[:44]:44} {size / 1024:6.1f} {len(texts):5} {only * 1e3:8.1f} {ref * 1e3:8.1f} "
            f"{ref / only:5.1f}x {cold * 1e3:7.1f} {ref / cold:5.1f}x {hot * 1e3:8.2f}"
        )
        for cell in load_notebook(path.read_text(encoding="utf-8")):
            req = cell_request(cell, model, include_outputs=False)
            if req is None:
                continue
            cell_text = rendered_text(req.body)
            a, b = interleaved(
                lambda r=req: count_tokens(r.body, mode="offline"),
                lambda t=cell_text: ctok.token_count(t, version),
                args.repeat,
            )
            c, _ = interleaved(
                lambda t=cell_text: offline_text.content_tokens(t, version, family), lambda: None, args.repeat
            )
            cell_ours.append(a)
            cell_base.append(b)
            cell_text_ours.append(c)
    mb, doc_mb = nb_bytes / 2**20, len(doc.encode()) / 2**20
    print(
        f"  notebooks, cold, the texts counted:  ours {mb / ours_text:5.2f} MB/s, ctok alone {mb / base:5.2f} MB/s: "
        f"{base / ours_text:4.1f}x faster (ours/ctok time {ours_text / base:.3f})"
    )
    print(
        f"  notebooks, cold, whole count_tokens: {mb / ours_cold:5.2f} MB/s (reading, rendering, validating, images "
        f"and PDFs included): {base / ours_cold:4.1f}x faster than ctok alone on its texts"
    )
    print(f"  notebooks, warm: {mb / ours_warm:6.1f} MB/s, {len(paths) / ours_warm:6.0f} notebooks/s")
    print(
        f"  per cell ({len(cell_ours)} cells), cold, whole count_tokens: p50 {pct(cell_ours, 0.5) * 1e3:.2f} ms, "
        f"p95 {pct(cell_ours, 0.95) * 1e3:.2f} ms (ctok alone on the cell's text p50 "
        f"{pct(cell_base, 0.5) * 1e3:.2f} ms, "
        f"p95 {pct(cell_base, 0.95) * 1e3:.2f} ms)"
    )
    print(
        f"  per cell, cold, our text count alone: p50 {pct(cell_text_ours, 0.5) * 1e3:.2f} ms, "
        f"p95 {pct(cell_text_ours, 0.95) * 1e3:.2f} ms"
    )
    counts: list[tuple[int, int]] = []
    cold, ref = interleaved(
        lambda: counts.append((offline_text.content_tokens(doc, version, family), 0)),
        lambda: counts.append((0, ctok.token_count(doc, version))),
        args.prose_repeat,
    )
    ours_n, ctok_n = counts[0][0], counts[1][1]
    same = ours_n + ctok.token_count(".", version) - 1 == ctok_n  # "." is one content token, the rest frame
    print(
        f"  prose {doc_mb:.2f} MB, cold: {doc_mb / cold:5.2f} MB/s vs ctok alone {doc_mb / ref:5.2f} MB/s: "
        f"{ref / cold:4.1f}x faster (ours/ctok time {cold / ref:.3f}); "
        f"{'same count' if same else 'COUNTS DIFFER'} ({ctok_n} tokens)\n"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--prose-repeat", type=int, default=3)
    ap.add_argument("--prose-mb", type=float, default=1.0)
    ap.add_argument("--model", action="append", default=None)
    args = ap.parse_args()
    models = args.model or ["claude-sonnet-5-5", "claude-sonnet-4-6"]
    if not offline_text.using_ctok():
        sys.exit("ctok is not importable: this benchmark measures ctok-backed estimates (install ctok)")

    paths = notebooks()
    doc = prose(int(args.prose_mb * 2**20))
    print(
        f"{len(paths)} notebooks from {paths[0].parent}; estimator {offline_text.backend_name()}; "
        f"median of {args.repeat} interleaved runs (prose: {args.prose_repeat}); cold = our count caches "
        f"emptied before each run, vocabularies loaded\n"
    )
    for model in models:
        bench_model(model, paths, doc, args)


if __name__ == "__main__":
    main()
