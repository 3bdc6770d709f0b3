"""Every real request in the calibration set (about 1,800, recorded from public test suites) must become a
valid count request and get an offline estimate without an error. Skips where the data is absent."""

from __future__ import annotations

import json

import pytest
from conftest import CALIBRATION, needs_calibration
from media import materialize_images

from jupyter_token_count import registry
from jupyter_token_count.backends.offline import estimate
from jupyter_token_count.request import build_request

FILES = [
    "real_counts.jsonl",
    "real_counts_images.jsonl",
    "unlabelled_requests.jsonl",
    "unlabelled_requests_images.jsonl",
]


@needs_calibration
@pytest.mark.parametrize("name", FILES)
def test_every_real_request_counts_without_error(name: str):
    path = CALIBRATION / name
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert records
    failures = []
    for rec in records:
        try:
            req = build_request(materialize_images(rec["request"]), model=rec["model"])
            est = estimate(req.body, registry.resolve(req.model))
            assert est.input_tokens > 0
        except Exception as exc:  # collect them all: one line each in the report
            failures.append(f"{rec.get('id')}: {type(exc).__name__}: {exc}")
    assert not failures, f"{len(failures)} of {len(records)} failed:\n" + "\n".join(failures[:20])
