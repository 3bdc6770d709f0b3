"""Job estimates: what a dataset's or a Message Batches file's requests will cost before they run.

    >>> from jupyter_token_count import estimate_job
    >>> est = estimate_job("requests.jsonl")            # or a list, a pandas Series, a Dask bag / column
    >>> est.input_tokens, est.input_tokens_low, est.input_tokens_high, est.cost_usd, est.batch_cost_usd

Modules: ``source`` (reading rows in chunks), ``scan`` (one partition → a mergeable summary, the same code in
this process, in worker processes and on Dask workers), ``calibrate`` (exact counts → total and interval),
``estimate`` (the whole run), ``result`` / ``card`` / ``chart`` (the answer and how it shows).
"""

from __future__ import annotations

from .estimate import estimate_job
from .result import JobEstimate

__all__ = ["JobEstimate", "estimate_job"]
