"""How far the offline estimator is from real counts, and the fit that produces its shipped figures.

Reads ``../shared/calibration/`` relative to the project root (real ``input_tokens`` recorded from the API, see
that folder's README) when it is present, and says it skipped otherwise (a fresh clone has no such folder; the
counts' prompts never enter the repository, only figures derived from them).

* The report (default): the estimator against every labelled record, absolute error in percent (median, p90),
  the share exact to ±1 token and within 2%, sliced by group, tokenizer family, source and tag, once with
  ctok and once with the fallback heuristic; leave-one-source-out (each source estimated with figures fitted
  on the others); the range's coverage (how often ``low``–``high`` holds the real count, each source's range
  fitted without it) per slice; and every unlabelled request estimated without an error.
* ``--check``: exits 1 when a shipped figure in ``models.json`` (the fitted figures, the ``few_counts`` marks,
  the range's coefficients) or the README's generated accuracy tables differ from what the fit produces.
* ``--write``: writes them (models.json keeps its layout: only those values change).

Calibration images carry only their size (``_image``); a synthetic image of that size and type stands in for
the bytes.

    python bench/calibration_error.py [--calibration DIR] [--estimator ctok|fallback|both] [--worst N]
                                      [--no-loso] [--check | --write]
"""

from __future__ import annotations

import argparse
import math
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _p in (str(ROOT), str(HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import range_fit  # noqa: E402
from calibration_data import (  # noqa: E402  (re-exported: the tests load this script)
    DEFAULT_DIR,
    LABELLED,
    UNLABELLED,
    group,
    load,
    request_body,
    source,
)
from figure_fit import Design, design, fit, leave_one_source_out  # noqa: E402,F401
from fit_output import KINDS, SIZE_BANDS, Analysis, apply, differences, plan, with_estimator  # noqa: E402

MODELS_JSON = ROOT / "jupyter_token_count" / "models.json"
README = ROOT / "README.md"
BEGIN = "<!-- accuracy tables: written by bench/calibration_error.py --write -->"
END = "<!-- end of the generated accuracy tables -->"
WROTE = 3  # --write-once's exit status when it changed something


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
        "median_exact_conf": statistics.median(abs(e) for _, _, e in exact_conf) if exact_conf else float("nan"),
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
                f"  {e:+7.2f}%  est {est:>7} real {rec['input_tokens']:>7}  {rec['model']:<28} {rec['id']}  "
                f"{','.join(rec.get('tags', []))}"
            )


# ---- leave-one-source-out and the range -----------------------------------------------------------------


def report_loso(a: Analysis, fitted_rows: list[tuple[dict[str, Any], int, float]]) -> None:
    loso = [(r.rec, r.est, 100.0 * (r.est - r.real) / max(1, r.real)) for r in a.loso_rows("ctok")]
    print(" leave-one-source-out (figures fitted on all sources but one, measured on the one left out):")
    print(f"  {'':<34} {'fitted on all':>34}   {'left out':>34}")
    for label, pick in (
        ("ALL", lambda r: True),
        ("text-only", lambda r: group(r) == "text-only"),
        ("with tools", lambda r: group(r) == "with tools"),
        ("with images", lambda r: group(r) == "with images"),
    ):
        fa = summary([row for row in fitted_rows if pick(row[0])])
        fb = summary([row for row in loso if pick(row[0])])
        print(
            f"  {label:<34} n={int(fa['n']):>4}  exact±1 {fa['exact']:5.1f}%  p90 {fa['p90']:5.2f}%   "
            f"exact±1 {fb['exact']:5.1f}%  p90 {fb['p90']:5.2f}%  median {fb['median']:4.2f}%"
        )
    print("  by source left out (worst first):")
    by_source: dict[str, list] = defaultdict(list)
    for row in loso:
        by_source[source(row[0])].append(row)
    for src in sorted(by_source, key=lambda t: summary(by_source[t])["exact"]):
        s = summary(by_source[src])
        print(f"    {src:<32} n={int(s['n']):>4}  exact±1 {s['exact']:5.1f}%  p90 {s['p90']:6.2f}%")


def range_table(a: Analysis, estimator: str) -> list[tuple[str, range_fit.Coverage]]:
    rows, ranges = with_estimator(estimator, lambda: a.nested(estimator))
    order = ["all", *KINDS, "v3 family", "v4.7 family", "v4.8 family", *(b for _, b in SIZE_BANDS)]
    return range_fit.by_slice(rows, ranges, order)


def report_ranges(a: Analysis, estimator: str, table: list[tuple[str, range_fit.Coverage]]) -> None:
    print(
        f" the range ({estimator}): how often low–high holds the real count, each source's range fitted without it "
        "(figures and range), and its half-width"
    )
    for label, c in table:
        flag = "" if c.held >= 90.0 else "   < 90%"
        print(
            f"  {label:<24} n={c.n:>4}  holds {c.held:5.1f}%  half-width median {c.median_half_width:5.2f}% "
            f"({c.median_half_tokens:g} tokens), p90 {c.p90_half_width:6.2f}%{flag}"
        )


def check_unlabelled(records: list[dict[str, Any]]) -> tuple[int, list[str]]:
    failures = []
    for rec in records:
        try:
            estimate_record(rec)
        except Exception as exc:  # the point is to find these
            failures.append(f"{rec.get('id')}: {type(exc).__name__}: {exc}")
    return len(records), failures


# ---- the README's generated tables ----------------------------------------------------------------------


def readme_tables(a: Analysis) -> str:
    """The accuracy and range tables the README shows, from this run."""
    fitted = [
        (r, e, 100.0 * (e - r["input_tokens"]) / max(1, r["input_tokens"]))
        for r, e in zip(a.records, a.d.base, strict=False)
    ]
    loso = [(r.rec, r.est, 100.0 * (r.est - r.real) / max(1, r.real)) for r in a.loso_rows("ctok")]
    fallback = [
        (r, e, 100.0 * (e - r["input_tokens"]) / max(1, r["input_tokens"]))
        for r, e in zip(a.records, a.base["fallback"], strict=False)
    ]
    lines = [
        f"Accuracy on the real counts (`python bench/calibration_error.py`, {len(a.records)} labelled requests "
        f"from {len(a.sources)} sources).",
        '"Fitted" uses the shipped figures, fitted on all the counts; "left out" is leave-one-source-out: every',
        "source's requests estimated with figures fitted only on the other sources (a figure no other source",
        "measures falls back to its prior: the published tool-prompt size, a related figure, or nothing), the honest",
        "guide to requests like none we have seen:",
        "",
        "| ctok | exact (±1 token), fitted | p90 abs. error, fitted | exact (±1), left out | p90, left out |",
        "|---|---|---|---|---|",
    ]
    for g in ("text-only", "with tools", "with images"):
        fa = summary([row for row in fitted if group(row[0]) == g])
        fb = summary([row for row in loso if group(row[0]) == g])
        name = g.replace("-", " ")
        cells = [f"{fa['exact']:.1f} %", f"{fa['p90']:.2f} %", f"{fb['exact']:.1f} %", f"{fb['p90']:.2f} %"]
        lines.append(f"| {name} ({int(fa['n'])}) | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| fallback (no ctok) | median abs. error | exact (±1 token) | within 2 % |",
        "|---|---|---|---|",
    ]
    for g in ("text-only", "with tools", "with images"):
        s = summary([row for row in fallback if group(row[0]) == g])
        lines.append(f"| {g.replace('-', ' ')} | {s['median']:.2f} % | {s['exact']:.1f} % | {s['within2']:.1f} % |")
    lines += [
        "",
        "The range (`low`–`high`, see below) on the same counts, measured the honest way: each source's requests",
        "estimated with figures and range coefficients fitted on the other sources only. Half-width is",
        "(high − low) / 2 in % of the estimate; slices by kind of request, tokenizer family and size.",
    ]
    for estimator, title in (("ctok", "ctok"), ("fallback", "fallback (no ctok)")):
        lines += [
            "",
            f"| range, {title} | requests | range holds the real count | median half-width | p90 half-width |",
            "|---|---|---|---|---|",
        ]
        for label, c in range_table(a, estimator):
            lines.append(
                f"| {label} | {c.n} | {c.held:.1f} % | {c.median_half_width:.2f} % | {c.p90_half_width:.2f} % |"
            )
    return "\n".join(lines)


def readme_with(text: str, tables: str) -> str:
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[:start] + "\n" + tables + "\n" + text[end:]


# ---- main -----------------------------------------------------------------------------------------------


def fit_outputs(labelled: list[dict[str, Any]]) -> tuple[str, str, list[str]]:
    """(models.json as the fit writes it, the README likewise, the differences from what is shipped)."""
    a = Analysis(labelled)
    values, absent = plan(a)
    shipped = MODELS_JSON.read_text(encoding="utf-8")
    diffs = differences(shipped, values, absent)
    readme = README.read_text(encoding="utf-8")
    new_readme = readme_with(readme, readme_tables(a))
    if new_readme != readme:
        diffs.append("README.md: the generated accuracy tables differ from this run's")
    return apply(shipped, values, absent), new_readme, diffs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--calibration", type=Path, default=DEFAULT_DIR, help=f"folder of jsonl files (default {DEFAULT_DIR})"
    )
    ap.add_argument("--estimator", choices=("ctok", "fallback", "both"), default="both")
    ap.add_argument("--worst", type=int, default=10, help="list the N largest errors (default 10)")
    ap.add_argument("--no-loso", dest="loso", action="store_false", help="skip leave-one-source-out and the ranges")
    what = ap.add_mutually_exclusive_group()
    what.add_argument(
        "--check",
        action="store_true",
        help="exit 1 if models.json's fitted figures, few-count marks or range coefficients, or the README's "
        "accuracy tables, differ from what the fit produces",
    )
    what.add_argument("--write", action="store_true", help="write what the fit produces into models.json and README")
    what.add_argument("--write-once", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    directory: Path = args.calibration
    if not directory.is_dir() or not (directory / LABELLED[0]).exists():
        print(
            f"calibration data not found at {directory}: skipped (the real counts live outside the repository; "
            "nothing to measure or check here)"
        )
        return 0
    labelled = load(directory, LABELLED)
    from jupyter_token_count.backends.offline import text as textmod

    if not with_estimator("ctok", textmod.using_ctok):
        print("ctok is not importable on this Python: the fit needs it (skipped)")
        return 0
    if args.write:
        # the fit starts from the shipped figures (and which figures are a model's own depends on them), so a
        # write can change what the next fit produces: write until the file is what the fit produces
        for _ in range(5):
            round_ = subprocess.run(
                [sys.executable, __file__, "--write-once", "--calibration", str(directory)], check=False
            )
            if round_.returncode == 0:
                return 0
            if round_.returncode != WROTE:
                return round_.returncode
        print("the fit did not settle after 5 writes: check the figures by hand")
        return 1
    if args.check or args.write_once:
        t0 = time.perf_counter()
        models_json, readme, diffs = fit_outputs(labelled)
        dt = time.perf_counter() - t0
        if args.write_once:
            if not diffs:
                print(f"models.json and the README are what the fit on {len(labelled)} real counts produces")
                return 0
            MODELS_JSON.write_text(models_json, encoding="utf-8")
            README.write_text(readme, encoding="utf-8")
            print(f"wrote {len(diffs)} change(s) from the fit on {len(labelled)} real counts ({dt:.0f} s)")
            for d in diffs:
                print(f"  {d}")
            return WROTE
        if diffs:
            print(f"the shipped figures differ from what the fit on {len(labelled)} real counts produces:")
            for d in diffs:
                print(f"  {d}")
            print("run `python bench/calibration_error.py --write` (and review the diff), or fix the estimator")
            return 1
        print(f"the shipped figures are what the fit on {len(labelled)} real counts produces ({dt:.0f} s)")
        return 0

    unlabelled = load(directory, UNLABELLED)
    print(f"calibration data: {directory} ({len(labelled)} labelled, {len(unlabelled)} unlabelled requests)")
    modes = ("ctok", "fallback") if args.estimator == "both" else (args.estimator,)
    a = Analysis(labelled) if args.loso else None
    for mode in modes:
        from jupyter_token_count.backends.offline import estimator_name

        print(f"\n== estimator: {with_estimator(mode, estimator_name)} ==")
        t0 = time.perf_counter()
        rows = with_estimator(mode, lambda: errors(labelled))
        dt = time.perf_counter() - t0
        report(rows, args.worst)
        if a is not None:
            if mode == "ctok":
                report_loso(a, rows)
            report_ranges(a, mode, range_table(a, mode))
        n, failures = with_estimator(mode, lambda: check_unlabelled(unlabelled))
        print(f" unlabelled requests: {n} estimated, {len(failures)} raised  ({dt:.1f} s for the labelled set)")
        for f in failures[:20]:
            print(f"  ! {f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
