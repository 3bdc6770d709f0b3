"""Batch counting speed of the CLI on a folder of real notebooks: ``--jobs 1`` against ``--jobs 2``.

    python bench/batch_throughput.py [--files 210] [--repeat 3] [--include-outputs]

The fixture notebooks (``tests/fixtures/notebooks``, seven real public notebooks) are copied into a
temporary folder until it holds at least ``--files`` notebooks; every copy gets one markdown cell of its own, so
no two files are the same and no cache can answer one from another. Each run is the real command, offline, in
a fresh process (start-up included, as a user or CI sees it):
``python -m jupyter_token_count.cli FOLDER --offline --format json --jobs N``. Runs alternate between the two
settings; figures are medians over ``--repeat`` runs. The two outputs are checked to be identical.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def notebooks() -> list[Path]:
    found = sorted((ROOT / "tests" / "fixtures" / "notebooks").glob("*.ipynb"))
    return found or sys.exit("no fixture notebooks found")


def make_folder(dest: Path, n: int) -> int:
    """At least ``n`` distinct notebooks in ``dest``; returns their total size in bytes."""
    sources = [(p.stem, json.loads(p.read_text(encoding="utf-8"))) for p in notebooks()]
    total = 0
    i = 0
    while i < n:
        for stem, nb in sources:
            copy = dict(nb)
            copy["cells"] = [*nb["cells"], {"cell_type": "markdown", "metadata": {}, "source": f"Copy {i} of {stem}."}]
            path = dest / f"{i:04d}_{stem}.ipynb"
            path.write_text(json.dumps(copy), encoding="utf-8")
            total += path.stat().st_size
            i += 1
    return total


def run(folder: Path, jobs: int, extra: list[str], env: dict[str, str]) -> tuple[float, str]:
    t = time.perf_counter()
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyter_token_count.cli",
            str(folder),
            "--offline",
            "--format",
            "json",
            "--jobs",
            str(jobs),
            *extra,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    elapsed = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"--jobs {jobs} failed ({p.returncode}): {p.stderr[-2000:]}")
    return elapsed, p.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=210, help="at least this many notebooks (default 210)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--include-outputs", action="store_true", help="count outputs (and attachments) too")
    args = ap.parse_args()
    extra = ["--include-outputs"] if args.include_outputs else []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "notebooks"
        folder.mkdir()
        size = make_folder(folder, args.files)
        count = len(list(folder.glob("*.ipynb")))
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "JUPYTER_TOKEN_COUNT_DATA_DIR": str(Path(tmp) / "data"),
        }
        env.pop("ANTHROPIC_API_KEY", None)
        times: dict[int, list[float]] = {1: [], 2: []}
        outputs: dict[int, str] = {}
        for _ in range(args.repeat):
            for jobs in (1, 2):
                elapsed, out = run(folder, jobs, extra, env)
                times[jobs].append(elapsed)
                outputs[jobs] = out
        assert json.loads(outputs[1]) == json.loads(outputs[2]), "--jobs 2 gave different rows from --jobs 1"
    print(
        f"{count} notebooks, {size / 2**20:.1f} MB, offline{' with outputs' if extra else ''}, "
        f"{os.cpu_count()} CPUs, median of {args.repeat} runs (start-up included)"
    )
    med = {jobs: statistics.median(t) for jobs, t in times.items()}
    for jobs in (1, 2):
        print(
            f"  --jobs {jobs}: {med[jobs]:6.2f} s   {count / med[jobs]:6.1f} notebooks/s   "
            f"{size / 2**20 / med[jobs]:5.2f} MB/s   (runs: {', '.join(f'{t:.2f}' for t in times[jobs])})"
        )
    print(f"  speed-up of --jobs 2 over --jobs 1: {med[1] / med[2]:.2f}x; rows identical: yes")


if __name__ == "__main__":
    main()
