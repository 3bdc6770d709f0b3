"""How far the offline estimator is from real counts.

Reads ``../shared/calibration/`` relative to the project root (real ``input_tokens`` recorded from the
API, see that folder's README) when it is present, estimates every labelled request with the real
estimator, and prints the absolute error in percent (median, p90), the share exact to ±1 token and the
share within 2%, sliced by feature group, tokenizer family and tag, once with ctok and once with the
fallback heuristic. It also estimates every unlabelled request and reports any that raise.

Calibration images carry only their size (``_image``); a synthetic image of that size and type stands
in for the bytes. Prints figures, not pass/fail.

    python bench/calibration_error.py [--calibration DIR] [--estimator ctok|fallback|both] [--worst N]
"""

from __future__ import annotations

import argparse
import base64
import copy
import io
import json
import math
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = ROOT.parent / "shared" / "calibration"
LABELLED = ("real_counts.jsonl", "real_counts_images.jsonl")
UNLABELLED = ("unlabelled_requests.jsonl", "unlabelled_requests_images.jsonl")
ENV = "JUPYTER_TOKEN_COUNT_ESTIMATOR"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# ---- records ------------------------------------------------------------------------------------------


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


@cache
def synthetic_image(width: int, height: int, media_type: str) -> str:
    """Base64 of a plain image of the given size: only the dimensions matter to the count."""
    from PIL import Image

    fmt = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/webp": "WEBP"}.get(
        media_type, "PNG"
    )
    buf = io.BytesIO()
    Image.new("RGB", (max(1, width), max(1, height)), (128, 128, 128)).save(buf, format=fmt)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def with_images(body: Any) -> Any:
    """A copy of ``body`` where every block with ``_image`` carries a synthetic image of that size."""
    if isinstance(body, list):
        return [with_images(x) for x in body]
    if not isinstance(body, dict):
        return body
    out = {k: with_images(v) for k, v in body.items() if k != "_image"}
    meta = body.get("_image")
    if isinstance(meta, dict) and isinstance(out.get("source"), dict):
        media = out["source"].get("media_type") or meta.get("media_type_declared") or "image/png"
        out["source"] = {
            **out["source"],
            "data": synthetic_image(int(meta["width"]), int(meta["height"]), media),
        }
    return out


def request_body(rec: dict[str, Any]) -> dict[str, Any]:
    body = with_images(copy.deepcopy(rec["request"]))
    body["model"] = rec["model"]
    return body


def group(rec: dict[str, Any]) -> str:
    tags = set(rec.get("tags", ()))
    if "image" in tags:
        return "with images"
    req = rec["request"]
    if req.get("tools") or "history_tool_use" in tags or "history_tool_result" in tags:
        return "with tools"
    return "text-only"


def source(rec: dict[str, Any]) -> str:
    """The project a record was mined from (its id's prefix), for slicing: figures calibrated mostly on
    one source should hold on the others."""
    rid = str(rec.get("id", "")).removeprefix("img-")
    return rid.rsplit("-", 1)[0] if "-" in rid else rid


def load(directory: Path, names: Iterable[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name in names:
        path = directory / name
        if path.exists():
            out.extend(read_jsonl(path))
    return out


# ---- measuring ----------------------------------------------------------------------------------------


def estimate_record(rec: dict[str, Any]) -> int:
    from jupyter_token_count.backends import offline
    from jupyter_token_count.registry import resolve

    return offline.estimate(request_body(rec), resolve(rec["model"])).input_tokens


def errors(records: list[dict[str, Any]]) -> list[tuple[dict[str, Any], int, float]]:
    """(record, estimate, signed error in % of the real count) per labelled record."""
    out = []
    for rec in records:
        est = estimate_record(rec)
        real = rec["input_tokens"]
        out.append((rec, est, 100.0 * (est - real) / max(1, real)))
    return out


def summary(rows: list[tuple[dict[str, Any], int, float]]) -> dict[str, float]:
    if not rows:
        return {}
    abs_pct = sorted(abs(e) for _, _, e in rows)
    p90 = abs_pct[min(len(abs_pct) - 1, math.ceil(0.9 * len(abs_pct)) - 1)]
    exact = sum(1 for rec, est, _ in rows if abs(est - rec["input_tokens"]) <= 1)
    within2 = sum(1 for x in abs_pct if x <= 2.0)
    exact_conf = [r for r in rows if r[0].get("confidence") == "exact"]
    return {
        "n": len(rows),
        "median": statistics.median(abs_pct),
        "p90": p90,
        "exact": 100.0 * exact / len(rows),
        "within2": 100.0 * within2 / len(rows),
        "median_exact_conf": statistics.median(abs(e) for _, _, e in exact_conf)
        if exact_conf
        else float("nan"),
        "bias": statistics.median(e for _, _, e in rows),
    }


def _line(label: str, s: dict[str, float]) -> str:
    if not s:
        return f"  {label:<34} (none)"
    return (
        f"  {label:<34} n={int(s['n']):>4}  median {s['median']:5.2f}%  p90 {s['p90']:6.2f}%  "
        f"exact±1 {s['exact']:5.1f}%  within2% {s['within2']:5.1f}%  signed median {s['bias']:+5.2f}%  "
        f"(median on confidence=exact: {s['median_exact_conf']:.2f}%)"
    )


def report(rows: list[tuple[dict[str, Any], int, float]], worst: int) -> None:
    from jupyter_token_count.registry import resolve

    print(_line("ALL", summary(rows)))
    by_group: dict[str, list] = defaultdict(list)
    by_family: dict[str, list] = defaultdict(list)
    by_tag: dict[str, list] = defaultdict(list)
    by_source: dict[str, list] = defaultdict(list)
    for row in rows:
        rec = row[0]
        by_group[group(rec)].append(row)
        by_source[source(rec)].append(row)
        by_family[resolve(rec["model"]).tokenizer].append(row)
        for tag in rec.get("tags", ()):
            by_tag[tag].append(row)
    print(" by group:")
    for g in ("text-only", "with tools", "with images"):
        print(_line(g, summary(by_group.get(g, []))))
    print(" by tokenizer family:")
    for fam in sorted(by_family):
        print(_line(fam, summary(by_family[fam])))
    print(" by source (the test suite or notebook a record was mined from):")
    for src in sorted(by_source, key=lambda t: -len(by_source[t])):
        print(_line(src, summary(by_source[src])))
    print(" by tag:")
    for tag in sorted(by_tag, key=lambda t: -len(by_tag[t])):
        print(_line(tag, summary(by_tag[tag])))
    if worst:
        print(f" {worst} largest errors:")
        for rec, est, e in sorted(rows, key=lambda r: -abs(r[2]))[:worst]:
            print(
                f"  {e:+7.2f}%  est {est:>7} real {rec['input_tokens']:>7}  {rec['model']:<28} {rec['id']}  {','.join(rec.get('tags', []))}"
            )


def check_unlabelled(records: list[dict[str, Any]]) -> tuple[int, list[str]]:
    failures = []
    for rec in records:
        try:
            estimate_record(rec)
        except Exception as exc:  # the point is to find these
            failures.append(f"{rec.get('id')}: {type(exc).__name__}: {exc}")
    return len(records), failures


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--calibration", type=Path, default=DEFAULT_DIR, help=f"folder of jsonl files (default {DEFAULT_DIR})"
    )
    ap.add_argument("--estimator", choices=("ctok", "fallback", "both"), default="both")
    ap.add_argument("--worst", type=int, default=10, help="list the N largest errors (default 10)")
    args = ap.parse_args(argv)

    directory: Path = args.calibration
    if not directory.is_dir() or not (directory / LABELLED[0]).exists():
        print(f"calibration data not found at {directory}: nothing to measure (skipped)")
        return 0
    labelled = load(directory, LABELLED)
    unlabelled = load(directory, UNLABELLED)
    print(f"calibration data: {directory} ({len(labelled)} labelled, {len(unlabelled)} unlabelled requests)")

    from jupyter_token_count.backends.offline import text as textmod

    modes = ("ctok", "fallback") if args.estimator == "both" else (args.estimator,)
    saved = os.environ.get(ENV)
    try:
        for mode in modes:
            if mode == "fallback":
                os.environ[ENV] = "fallback"
            else:
                os.environ.pop(ENV, None)
                if not textmod.using_ctok():
                    print("\n== ctok: not importable here, skipped ==")
                    continue
            from jupyter_token_count.backends.offline import estimator_name

            print(f"\n== estimator: {estimator_name()} ==")
            t0 = time.perf_counter()
            rows = errors(labelled)
            dt = time.perf_counter() - t0
            report(rows, args.worst)
            n, failures = check_unlabelled(unlabelled)
            print(
                f" unlabelled requests: {n} estimated, {len(failures)} raised  ({dt:.1f} s for the labelled set)"
            )
            for f in failures[:20]:
                print(f"  ! {f}")
    finally:
        if saved is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = saved
    return 0


if __name__ == "__main__":
    sys.exit(main())
