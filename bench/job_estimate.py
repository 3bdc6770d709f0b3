"""Job estimates: offline throughput against raw ctok on the same texts, worker processes, and Dask workers.

    python bench/job_estimate.py [--requests 3000] [--repeat 5] [--model claude-sonnet-5-5]

The job is ``--requests`` Message Batches requests whose user messages are distinct pieces of English prose from
the standard library (about 1.5 KB each) under one short system prompt, written to a JSONL file. Figures, each
the median of ``--repeat`` runs, with the runs of what is compared interleaved so that the machine's load hits
both alike:

- ctok alone: ``ctok.token_count`` of every request's user text and system prompt (the baseline: the same texts);
- ours, one process: ``estimate_job(file, mode="offline", jobs=1)``: reading and parsing the file, building and
  validating each request, estimating it (frame, system prompt, message), sampling, binning and pricing. Cold:
  every count cache of ours is emptied before each run (the vocabularies stay loaded, for ours and ctok alike).
  Goal: at most 2x ctok's time;
- ours, one process, every text cached: what the job costs besides tokenizing;
- ours, 2 processes (``jobs=2``) against 1: the speed-up of worker processes on this machine (cold each run);
- Dask: a ``distributed.LocalCluster`` of 1 worker process, then of 2 (one thread each), the job's rows as a bag
  of 8 partitions in the workers' memory (``db.from_sequence``, spread over the workers); a fresh cluster for
  each run, every worker warmed on a different job (vocabularies loaded), so its count caches are cold. The
  speed-up of 2 workers over 1.

The machine's load average is printed before and after: on a shared machine the figures move with it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jupyter_token_count import estimate_job, registry  # noqa: E402
from jupyter_token_count.backends.offline import text as offline_text  # noqa: E402

SYSTEM = "You are a technical writer. Summarise the passage below in three sentences for a new Python programmer."


def prose_pieces(n: int, size: int = 1500) -> list[str]:
    """``n`` distinct pieces of English prose of about ``size`` characters (Python's documentation topics and the
    standard library's docstrings, which every Python install carries)."""
    import ast
    import sysconfig
    from pydoc_data.topics import topics

    parts = [topics[k] for k in sorted(topics)]
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py")):
        if sum(len(p) for p in parts) > n * size * 1.2:
            break
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc and len(doc) > 200:
                    parts.append(doc)
    text = "\n\n".join(parts)
    pieces = []
    for i in range(n):
        start = (i * size) % max(1, len(text) - size)
        pieces.append(text[start : start + size].strip() or f"piece {i}")
    if len(set(pieces)) < n:
        sys.exit(f"not enough distinct prose for {n} requests")
    return pieces


def write_job(path: Path, pieces: list[str], model: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for i, piece in enumerate(pieces):
            params = {
                "model": model,
                "max_tokens": 400,
                "system": SYSTEM,
                "messages": [{"role": "user", "content": piece}],
            }
            f.write(json.dumps({"custom_id": f"r{i}", "params": params}, ensure_ascii=False) + "\n")


def interleaved(runs: dict[str, Callable[[], object]], repeat: int, before: Callable[[], None]) -> dict[str, float]:
    """Median seconds of each callable, run in turn ``repeat`` times; ``before`` runs (untimed) before each one."""
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(repeat):
        for name, fn in runs.items():
            before()
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def _warm_worker(rows: list[dict]) -> None:
    """Run on a Dask worker: vocabularies and code loaded there, on texts other than the job's."""
    estimate_job(rows, mode="offline", jobs=1)


def dask_runs(path: Path, warm_path: Path, repeat: int) -> dict[int, float]:
    import dask.bag as db
    import distributed

    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    warm = [json.loads(line) for line in warm_path.read_text(encoding="utf-8").splitlines()]
    out: dict[int, float] = {}
    for workers in (1, 2):
        runs = []
        for _ in range(repeat):
            # a fresh cluster each run, so that every worker's count caches are cold (client.restart() can wait
            # minutes for its workers on a loaded machine)
            with (
                distributed.LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
                ) as cluster,
                distributed.Client(cluster) as client,
            ):
                client.run(_warm_worker, warm)  # on every worker, whichever partitions it will hold
                # independent partitions, which the scheduler spreads over the workers (one file's partitions
                # would all stay where the file was read)
                bag = db.from_sequence(rows, npartitions=8).persist()
                distributed.wait(bag)  # the data in the workers' memory: the estimate is timed, not the reading
                t = time.perf_counter()
                estimate_job(bag, mode="offline")
                runs.append(time.perf_counter() - t)
        out[workers] = statistics.median(runs)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=3000, help="requests in the job (default 3000)")
    ap.add_argument("--repeat", type=int, default=5, help="runs of each figure; the median is printed (default 5)")
    ap.add_argument("--model", default="claude-sonnet-5-5", help="the requests' model (its tokenizer family)")
    ap.add_argument("--no-dask", action="store_true", help="skip the Dask figures")
    args = ap.parse_args()
    if not offline_text.using_ctok():
        sys.exit("ctok is not importable: this benchmark compares with ctok (install ctok)")
    import ctok

    load = os.getloadavg()
    info = registry.resolve(args.model)
    version = info.ctok_version
    pieces = prose_pieces(args.requests + 200)
    job, warm = pieces[: args.requests], pieces[args.requests :]
    folder = Path(tempfile.mkdtemp(prefix="job-bench-"))
    path, warm_path = folder / "job.jsonl", folder / "warm.jsonl"
    write_job(path, job, args.model)
    write_job(warm_path, warm, args.model)
    size_mb = path.stat().st_size / 2**20
    ctok.token_count("warm up", version)
    estimate_job(warm_path, mode="offline", jobs=1)  # our vocabularies and code loaded, on other texts
    print(
        f"{args.requests:,} requests ({size_mb:.1f} MB of JSONL, {sum(map(len, job)) / 2**20:.1f} MB of prose), "
        f"{args.model}; {offline_text.backend_name()}; {os.cpu_count()} CPUs; median of {args.repeat} runs; "
        f"load average before {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )

    def ctok_alone() -> None:
        for piece in job:
            ctok.token_count(piece, version)
            ctok.token_count(SYSTEM, version)

    est = {"n": 0}

    def ours(jobs: int) -> Callable[[], None]:
        def run() -> None:
            est["n"] = estimate_job(path, mode="offline", jobs=jobs).input_tokens

        return run

    t = interleaved(
        {"ctok": ctok_alone, "ours1": ours(1), "ours2": ours(2)}, args.repeat, before=offline_text.clear_cache
    )
    ours(1)()  # every text now cached: what is left is reading, building, validating, sampling and pricing
    warm = interleaved({"warm": ours(1)}, args.repeat, before=lambda: None)["warm"]
    print(f"  ctok alone on the same texts:     {t['ctok']:7.3f} s  ({args.requests / t['ctok']:8,.0f} requests/s)")
    print(
        f"  estimate_job, 1 process (cold):   {t['ours1']:7.3f} s  ({args.requests / t['ours1']:8,.0f} requests/s, "
        f"{size_mb / t['ours1']:.1f} MB/s): ours/ctok time {t['ours1'] / t['ctok']:.2f} (goal <= 2)"
    )
    print(
        f"  estimate_job, 1 process, texts cached: {warm:7.3f} s  (the work besides tokenizing: "
        f"{warm / t['ours1']:.0%} of the cold run)"
    )
    print(
        f"  estimate_job, 2 processes (cold): {t['ours2']:7.3f} s  ({args.requests / t['ours2']:8,.0f} requests/s): "
        f"{t['ours1'] / t['ours2']:.2f}x the speed of 1 process"
    )
    if not args.no_dask:
        d = dask_runs(path, warm_path, args.repeat)
        print(
            f"  Dask, 1 worker:  {d[1]:7.3f} s;  2 workers: {d[2]:7.3f} s: {d[1] / d[2]:.2f}x the speed of 1 worker "
            "(a bag of 8 partitions in the workers' memory, caches cold)"
        )
    load = os.getloadavg()
    print(f"  load average after {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; ≈{est['n']:,} input tokens")


if __name__ == "__main__":
    main()
