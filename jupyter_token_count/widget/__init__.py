"""The ipywidgets surfaces: a live token-counter panel (``TokenCounter``) and a small display bound to a
Python object (``watch``).

Both are thin: requests are built by ``request.build_request``, counted by the process-wide ``Counter``
and rendered from its ``TokenCount``. What lives here is the interaction:

* Recounting is debounced: every edit bumps a generation number and pushes a deadline ~300 ms out; a
  worker thread (one per panel, exiting when idle) counts only once the edits stop, so a burst of typing
  costs one upstream request and the kernel's main thread never waits on the network.
* A stale answer is dropped: a result is applied only if no edit happened since its snapshot was taken,
  checked under the same lock edits take.
* Each file is validated on its own when added; a bad one carries its own error and is left out of the
  request, so everything else still counts and nothing is ever sent for it.
* Where widgets cannot render, the ``text/plain`` part of the display is the summary line.

Modules: ``panel`` (``TokenCounter``), ``watch`` (``Watch``, ``watch``), ``debounce`` (the worker),
``plan`` (what a recount sends), ``files`` (attached files), ``parts`` (how a count splits between
parts), ``render`` (the HTML) and ``theme`` (colours and fonts).
"""

from __future__ import annotations

from .panel import TokenCounter
from .watch import Watch, watch

__all__ = ["TokenCounter", "Watch", "watch"]
