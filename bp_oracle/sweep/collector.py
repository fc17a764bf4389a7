"""Python's garbage collector, tuned for a sweep, in a process that is ours.

A sweep allocates some sixty small containers per network (the case, the traces, the checks), so
with the default threshold (700) the collector runs a young collection every dozen networks and,
now and then, a full one that traverses everything alive: jax's and NumPy's objects from import
on, and the results so far. Those were 12–16 % of a warm sweep (3,000 networks, measured by
`gc.callbacks`: full collections 0.23–0.31 s of 1.9 s per sweep). Frozen (`gc.freeze`: what was
alive before the sweep is never traversed again) and with a young threshold of 20,000, what is
left is a few collections per thousand networks. docs/benchmarks.md has the side-by-side rates.

Only where the process is ours: `bp-oracle verify` (the command line owns its process) and the
workers `run_sweep(jobs > 1)` starts. `run_sweep` called as a library never touches its host's
collector.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator

YOUNG_THRESHOLD = 20_000  # allocations between young collections (CPython's default is 700)


def tune_for_sweeping(freeze: bool = True) -> None:
    """Freeze what is alive now (unless `freeze` is False) and raise the young threshold, for the
    rest of the process (a worker's: it only ever sweeps)."""
    if freeze:
        gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])


@contextmanager
def collector_tuned_for_sweeping() -> Iterator[None]:
    """`tune_for_sweeping` for the duration of the block, then the collector as it was: its
    thresholds, and what it had frozen (if anything was frozen before, nothing is frozen here,
    since unfreezing would also thaw what another part of the process froze)."""
    threshold, freeze = gc.get_threshold(), gc.get_freeze_count() == 0
    tune_for_sweeping(freeze)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        if freeze:
            gc.unfreeze()
