"""Input side of the flow: anything a user holds → one validated count request (the exact JSON body of
``POST /v1/messages/count_tokens``). Adapters here never count."""

from __future__ import annotations

from .body import (
    COUNT_FIELDS,
    DROPPED_FIELDS,
    EMPTY_PROBE,
    EMPTY_PROBE_TOKENS,
    HEADER_FIELDS,
    CountRequest,
    canonical_json,
)
from .build import build_request, notebook_request
from .guard import MAX_DEPTH, check_tree
from .inputs import REQUEST_EXTRAS
from .notebook import Cell, cell_blocks, cells_from_json, load_notebook, notebook_blocks

__all__ = [
    "COUNT_FIELDS",
    "DROPPED_FIELDS",
    "EMPTY_PROBE",
    "EMPTY_PROBE_TOKENS",
    "HEADER_FIELDS",
    "MAX_DEPTH",
    "REQUEST_EXTRAS",
    "Cell",
    "CountRequest",
    "build_request",
    "canonical_json",
    "cell_blocks",
    "cells_from_json",
    "check_tree",
    "load_notebook",
    "notebook_blocks",
    "notebook_request",
]
