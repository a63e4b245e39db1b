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

import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from indexer.cpus import default_threads

if TYPE_CHECKING:  # a search that never splits does not import the thread pool
    from concurrent.futures import ThreadPoolExecutor

# Fewer rows than this per share cost more to hand over than a second core saves (a matrix
# product of a few rows no longer runs at full speed either).
MIN_ROWS = 32
# Shares per thread. More, smaller shares would let the threads on free cores take more of them
# while another job holds a core, but each share repeats the per-call work (the text's own
# projections) and runs its matrix products on fewer rows: for 100 full-size candidates on 2
# cores, 4 shares took 38 ms idle and 49-68 ms beside a spinning process, against 30 and 47-58
# ms for 2 shares and 50 and 42-50 ms for one thread (measured with benchmarks.rerank's encoder).
SHARES_PER_THREAD = 1


class RowShares:
    """Run ``fn(*arrays)`` on contiguous shares of the arrays' rows, on up to ``workers``
    threads (``workers`` None: ``default_threads()``), and concatenate the results in order.
    The worker threads start on the first call that splits and live as long as this object."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, default_threads() if workers is None else workers)
        self._pool: ThreadPoolExecutor | None = None

    def shares(self, rows: int) -> int:
        """How many shares ``rows`` rows are split into (1: run whole on the caller's thread)."""
        if self.workers == 1:
            return 1
        return max(1, min(self.workers * SHARES_PER_THREAD, rows // MIN_ROWS))

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
        results: list[np.ndarray | None] = [None] * count
        # Threads take the next share as they finish one (next() on a count is atomic under the
        # GIL): should a worker be slow to start, the caller goes on to its share itself.
        taken = itertools.count()

        def take() -> None:
            while (i := next(taken)) < count:
                results[i] = fn(*parts[i])

        helpers = min(self.workers, count) - 1
        futures = [self._pool.submit(take) for _ in range(helpers)]
        try:
            take()
        finally:
            wait(futures)  # every share is finished before this returns or raises
        for future in futures:
            future.result()  # a share's error
        return np.concatenate(results)
