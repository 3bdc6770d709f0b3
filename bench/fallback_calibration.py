"""Fit (and measure) the fallback heuristic's per-family rates against ctok.

The fallback estimates text tokens from character-class counts (``heuristic.features``) when ctok is
not installed. This script cuts varied local text into chunks, counts each with ctok for every
tokenizer family, fits non-negative rates that minimise the squared *relative* error, and prints the
error per kind of text together with the ``fallback`` JSON objects for ``models.json``.

The corpus is whatever the machine already has, read in place and never stored: Python source
(the standard library), English prose (Python's pydoc topics, Vim's help files), JSON (stdlib test
data and generated documents) translated UI messages in 20+ languages (Vim's gettext catalogs,
when present: Cyrillic, CJK, Hangul, Vietnamese, ...) and, when ``../shared/calibration`` exists, the
text of the real chat requests there.

    python bench/fallback_calibration.py [--max-chunks N] [--check]   # --check: measure current rates only
"""

from __future__ import annotations

import argparse
import gettext
import glob
import json
import os
import random
import statistics
import sys
import sysconfig
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from jupyter_token_count.backends.offline import heuristic  # noqa: E402

FAMILIES = {"v3": "3.0", "v4.7": "4.7", "v4.8": "4.8"}


def _chunks(kind: str, text: str, rng: random.Random, n: int) -> list[tuple[str, str]]:
    out = []
    for _ in range(n):
        if len(text) < 200:
            break
        size = rng.choice((150, 400, 1000, 2500))
        start = rng.randrange(0, max(1, len(text) - size))
        out.append((kind, text[start : start + size]))
    return out


def corpus(rng: random.Random, per_kind: int) -> list[tuple[str, str]]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    chunks: list[tuple[str, str]] = []
    # code
    py_files = sorted(stdlib.glob("*.py"))
    rng.shuffle(py_files)
    code = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in py_files[:40])
    chunks += _chunks("code", code, rng, per_kind)
    # English prose
    try:
        from pydoc_data.topics import topics

        prose = "\n\n".join(topics.values())
        chunks += _chunks("prose", prose, rng, per_kind)
    except ImportError:
        pass
    vim_docs = sorted(glob.glob("/usr/share/vim/vim*/doc/*.txt"))
    if vim_docs:
        help_text = "\n".join(Path(p).read_text(encoding="utf-8", errors="replace") for p in vim_docs[:20])
        chunks += _chunks("markup", help_text, rng, per_kind // 2)
    # JSON
    docs = []
    for p in sorted(stdlib.glob("test/**/*.json"))[:200]:
        try:
            docs.append(json.dumps(json.loads(p.read_text(encoding="utf-8")), indent=rng.choice((None, 2))))
        except (ValueError, OSError):
            continue
    generated = [
        json.dumps(
            {
                "id": i,
                "name": f"item_{i}",
                "tags": ["alpha", "beta"][: i % 3],
                "score": i * 0.37,
                "ok": i % 2 == 0,
            },
            indent=2 if i % 2 else None,
        )
        for i in range(300)
    ]
    chunks += _chunks("json", "\n".join(docs + generated), rng, per_kind)
    # chat prompts: the text of the real requests in ../shared/calibration, when present (read, not kept)
    cal = ROOT.parent / "shared" / "calibration" / "real_counts.jsonl"
    if cal.exists():
        prompts: list[str] = []
        for line in cal.read_text(encoding="utf-8").splitlines():
            req = json.loads(line)["request"]
            texts = [req["system"]] if isinstance(req.get("system"), str) else []
            for m in req.get("messages", []):
                c = m.get("content")
                texts += [c] if isinstance(c, str) else [b.get("text", "") for b in c if isinstance(b, dict)]
            prompts += [t for t in texts if isinstance(t, str) and len(t) > 20]
        rng.shuffle(prompts)
        chunks += [("prompts", t[:2500]) for t in dict.fromkeys(prompts)][:per_kind]
    # other languages (gettext catalogs)
    for mo in sorted(glob.glob("/usr/share/vim/vim*/lang/*/LC_MESSAGES/vim.mo")):
        lang = mo.split("/lang/")[1].split("/")[0]
        if any(enc in lang for enc in (".cp", ".euc", ".sjis")):
            continue
        try:
            with open(mo, "rb") as fh:
                cat = gettext.GNUTranslations(fh)
            text = "\n".join(v for k, v in cat._catalog.items() if k and isinstance(v, str))  # type: ignore[attr-defined]
        except Exception:
            continue
        chunks += [(f"lang:{lang}", t) for _, t in _chunks(lang, text, rng, max(2, per_kind // 10))]
    return chunks


def _group(kind: str) -> str:
    return "other languages" if kind.startswith("lang:") else kind


def _nnls(rows: list[list[float]], target: list[float], weights: list[float], iters: int = 400) -> list[float]:
    """Weighted non-negative least squares by cyclic coordinate descent (a few features, no numpy)."""
    k = len(rows[0])
    x = [0.0] * k
    resid = [t for t in target]  # target - rows @ x
    for _ in range(iters):
        for j in range(k):
            num = sum(w * r[j] * (res + r[j] * x[j]) for r, res, w in zip(rows, resid, weights, strict=True))
            den = sum(w * r[j] * r[j] for r, w in zip(rows, weights, strict=True))
            if den <= 0:
                continue
            new = max(0.0, num / den)
            delta = new - x[j]
            if delta:
                for i, r in enumerate(rows):
                    resid[i] -= r[j] * delta
                x[j] = new
    return x


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-chunks", type=int, default=120, help="chunks per kind of text (default 120)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--check", action="store_true", help="only measure the rates in models.json")
    args = ap.parse_args(argv)
    try:
        import ctok
    except ImportError:
        print("ctok is not importable here: nothing to fit against (skipped)")
        return 0

    rng = random.Random(args.seed)
    chunks = [(k, t) for k, t in corpus(rng, args.max_chunks) if t.strip()]
    feats = [heuristic.features(t) for _, t in chunks]
    print(f"{len(chunks)} chunks, {sum(len(t) for _, t in chunks) / 1000:.0f} K characters")
    os.environ.pop("JUPYTER_TOKEN_COUNT_ESTIMATOR", None)
    fitted: dict[str, dict[str, float]] = {}
    for family, version in FAMILIES.items():
        truth = [float(ctok.token_count(t, version) - ctok.token_count("", version)) for _, t in chunks]
        rows = [[f[name] for name in heuristic.FEATURES] for f in feats]
        if args.check:
            rates = heuristic._rates(family)
        else:
            # relative error, and every kind of text weighs the same whatever its number of chunks
            per_kind: dict[str, int] = defaultdict(int)
            for kind, _ in chunks:
                per_kind[_group(kind)] += 1
            weights = [1.0 / max(1.0, y) ** 2 / per_kind[_group(k)] for (k, _), y in zip(chunks, truth, strict=True)]
            x = _nnls(rows, truth, weights)
            rates = {name: round(v, 4) for name, v in zip(heuristic.FEATURES, x, strict=True) if v > 0}
        fitted[family] = rates
        errs: dict[str, list[float]] = defaultdict(list)
        for (kind, _), row, y in zip(chunks, rows, truth, strict=True):
            est = sum(rates.get(n, 0.0) * v for n, v in zip(heuristic.FEATURES, row, strict=True))
            group = _group(kind)
            errs[group].append(100.0 * (est - y) / max(1.0, y))
            errs["ALL"].append(100.0 * (est - y) / max(1.0, y))
        print(f"\n{family}: median |error| by kind (signed median in brackets)")
        for group in sorted(errs, key=lambda g: (g != "ALL", g)):
            e = errs[group]
            print(
                f"  {group:<16} n={len(e):>4}  {statistics.median(abs(v) for v in e):5.1f}%  "
                f"({statistics.median(e):+5.1f}%)"
            )
    if not args.check:
        print("\nfallback objects for models.json (tokenizers.<family>.fallback):")
        for family, rates in fitted.items():
            print(f'  "{family}": {json.dumps({"source": "bench/fallback_calibration.py", "rates": rates})}')
    return 0


if __name__ == "__main__":
    sys.exit(main())
