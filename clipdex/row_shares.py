"""A row-wise computation split into contiguous shares, one per CPU, run side by side.

A re-rank scores each candidate clip on its own, so its rows can be scored on several cores
without any step that waits for all of them but the last. Each share runs single-threaded on its
own Python thread (torch and ONNX Runtime release the GIL while they compute); the caller's
thread takes the first share. This is what uses a second core for a query: an OpenMP team
instead joins at every operation, and waits a whole scheduler slice whenever a busy machine has
descheduled one of its threads (``clipdex.encoder._query_threads`` has the figures), while
shares on a busy machine just take turns on the free core.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from indexer.cpus import default_threads

if TYPE_CHECKING:  # a search that never splits does not import the thread pool
    from concurrent.futures import ThreadPoolExecutor

# Fewer rows than this per share cost more to hand over than the second core saves (a matrix
# product of a few rows no longer runs at full speed either).
MIN_ROWS = 32


class RowShares:
    """Run ``fn(*arrays)`` on up to ``workers`` contiguous shares of the arrays' rows and
    concatenate the results in order (``workers`` None: ``default_threads()``). The worker threads
    start on the first call that splits and live as long as this object."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, default_threads() if workers is None else workers)
        self._pool: ThreadPoolExecutor | None = None

    def shares(self, rows: int) -> int:
        """How many shares ``rows`` rows are split into."""
        return max(1, min(self.workers, rows // MIN_ROWS))

    def run(self, fn: Callable[..., np.ndarray], *arrays: np.ndarray) -> np.ndarray:
        rows = len(arrays[0])
        count = self.shares(rows)
        if count == 1:
            return fn(*arrays)
        from concurrent.futures import wait

        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(self.workers - 1, thread_name_prefix="clipdex-rows")
        bounds = np.linspace(0, rows, count + 1).astype(int)
        parts = [tuple(a[lo:hi] for a in arrays) for lo, hi in zip(bounds[:-1], bounds[1:])]
        futures = [self._pool.submit(fn, *part) for part in parts[1:]]
        try:
            first = fn(*parts[0])
        finally:
            wait(futures)  # every share is finished before this returns or raises
        return np.concatenate([first, *(future.result() for future in futures)])
