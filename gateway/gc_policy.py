"""The garbage collector's settings for a long-running gateway process.

CPython's default (a young collection every 700 net allocations, the full one every 100 young
ones) is made for short programs. Measured on the peers benchmark (200,000 subscribers, 500 MO/s,
``make bench-peers``): 115 full collections in a two-minute run took 16.5 s, each stopping every
thread for 140 ms on average and 220 ms at worst — the reactor, the links and the database
thread alike — and the young ones 7 s more. That was the largest part of the MO replies' tail.

So, once the service tree is built (modules, mappers, templates, compiled statements: objects
that live as long as the process), they are frozen out of the collector's scans, and the young
generation is collected every 50,000 net allocations. Cyclic garbage is still collected, in
far fewer, larger passes; almost all of the gateway's garbage is freed by reference counting.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000
"""Net allocations of container objects between two young-generation collections."""
OLDER_THRESHOLDS = (10, 10)
"""Young collections per middle one, middle ones per full one (CPython's own ratios)."""


def tune_for_long_run() -> None:
    """Freeze what exists now (the built service tree) and collect less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *OLDER_THRESHOLDS)
