"""Job estimates on a real Dask cluster (``distributed.LocalCluster`` with two worker processes): each partition is
estimated on the workers by the same code as a local job, and the numbers are the same as a local job's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from jobdata import batch_rows
from standin import StandIn

from jupyter_token_count import estimate_job

dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

#: what may differ between a Dask and a local run of the same job
RUN_ONLY = ("source", "workers", "elapsed_s")


def test_without_a_client_dasks_own_scheduler_runs_it():
    # first in this module: the cluster below does not exist yet, so there is no current client
    import dask.bag as db

    rows = batch_rows(300, seed=30)
    est = estimate_job(db.from_sequence(rows, npartitions=3), mode="offline", seed=1)
    assert est.workers.startswith("Dask (no distributed.Client")
    same_job(est, estimate_job(rows, mode="offline", seed=1))


@pytest.fixture(scope="module")
def client() -> Iterator[distributed.Client]:
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
    )
    with cluster, distributed.Client(cluster) as c:
        yield c


def same_job(a, b) -> None:
    da, db = a.to_dict(), b.to_dict()
    for key in RUN_ONLY:
        da.pop(key), db.pop(key)
    assert da == db


def test_a_bag_is_estimated_on_the_workers_with_the_same_numbers(client: distributed.Client):
    import dask.bag as db

    rows = batch_rows(900, seed=31)
    with distributed.get_task_stream(client) as stream:
        est = estimate_job(db.from_sequence(rows, npartitions=6), mode="offline", seed=4)
    scans = [t for t in stream.data if "scan_partition" in t["key"] or "scan_partition" in str(t.get("key"))]
    assert len(scans) == 6 and len({t["worker"] for t in scans}) == 2  # every partition, on both workers
    assert est.workers == "Dask: 2 workers" and est.requests == 900
    same_job(est, estimate_job(rows, mode="offline", seed=4, jobs=1))


def test_a_dataframe_column_with_a_key_gives_the_local_job(client: distributed.Client, api_env: StandIn):
    import dask.dataframe as dd
    import pandas as pd

    rows = batch_rows(600, seed=32)
    series = pd.Series([r["params"] for r in rows], index=[r["custom_id"] for r in rows], name="request")
    with dask.config.set({"dataframe.convert-string": False}):
        # sort=False: rows in the Series' order ("req-10" would otherwise come before "req-2"); the sample
        # depends on row order, so only the same order gives the same sample
        column = dd.from_pandas(series.to_frame(), npartitions=4, sort=False)["request"]
    est = estimate_job(column, sample=60, seed=8)
    sent = len(api_env.count_requests())
    assert est.method == "calibrated" and est.exact_sample == sent > 60
    local = estimate_job(series, sample=60, seed=8, jobs=1)
    assert len(api_env.count_requests()) == sent  # the same sample: every count came from the cache
    same_job(est, local)
    assert est.heaviest[0]["id"].startswith("req-")  # rows are named by their index labels


def test_a_batch_frame_of_custom_ids_and_params(client: distributed.Client):
    import dask.dataframe as dd
    import pandas as pd

    rows = batch_rows(200, seed=33)
    frame = pd.DataFrame({"custom_id": [r["custom_id"] for r in rows], "params": [r["params"] for r in rows]})
    with dask.config.set({"dataframe.convert-string": False}):
        ddf = dd.from_pandas(frame, npartitions=3, sort=False)
    est = estimate_job(ddf, mode="offline", seed=1)
    same_job(est, estimate_job(rows, mode="offline", seed=1))


def test_dicts_turned_into_text_by_dask_are_explained(client: distributed.Client):
    import dask.dataframe as dd
    import pandas as pd

    rows = batch_rows(20, seed=34)
    with dask.config.set({"dataframe.convert-string": True}):
        column = dd.from_pandas(pd.Series([r["params"] for r in rows], name="request").to_frame(), npartitions=2)
    est = estimate_job(column["request"], mode="offline")
    assert est.requests == 0 and est.bad_rows == 20
    assert "dataframe.convert-string" in est.errors[0]
