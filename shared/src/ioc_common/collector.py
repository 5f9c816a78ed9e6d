"""Python's cyclic garbage collector, tuned for services that handle thousands of events at once.

A batch of thousands of events allocates hundreds of thousands of short-lived, acyclic objects
(parsed JSON, facts, rows, tuples). With Python's defaults (a young pass every 700 allocations,
a full pass every 100 young ones) the collector ran hundreds of times per batch — a quarter of
the metrics service's CPU — and every few 2,000-event requests ingest paid a full pass over
everything alive (its CPU per event doubled on those requests). Cycles are still collected.

The young threshold counts container allocations *minus* deallocations. A service whose batches
each hold some 100,000 live objects (metrics, 5,000 events) passes ``LARGE_BATCHES``: a young
pass then comes only when a batch's live objects outgrow it (2-3 passes per 60,000 metrics
events, 20-50 ms in all, where 20,000 gave 37 passes and a middle-generation one, ≈ 165 ms or
5 % of the wall time; with the metrics default of 7,500 events a batch, 150,000 measured no
better). Not everywhere: in a service of small batches (alerts at 1,000 events/s)
almost nothing but cyclic garbage adds to that count, and at 100,000 its memory rose 8 MB over
ten minutes before a pass came.
"""

from __future__ import annotations

import gc

#: Allocations between two young-generation collections (Python's default is 700).
YOUNG_THRESHOLD = 20_000
#: The young threshold for batches of thousands of events (see above).
LARGE_BATCHES = 100_000


def tune_for_batches(young_threshold: int = YOUNG_THRESHOLD) -> None:
    """Fewer young passes, rarer full ones, and everything alive now (modules, the catalogue,
    the unit tree) frozen out of them: a full pass no longer walks what never dies.
    Process-wide; call it once start-up is done."""
    gc.freeze()
    gc.set_threshold(young_threshold, 20, 10)
