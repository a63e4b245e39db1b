"""Wall-clock time per stage of one command, printed on stderr when ``CLIPDEX_TIMINGS`` is set.

``clipdex search`` records "import" (the model runtime's modules), "load" (the model) and
"query" (the search itself); benchmarks/cold_search.py reads the line to split a cold search's
time, the rest being Python's own start, clipdex's modules and opening the library.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

TIMINGS_ENV = "CLIPDEX_TIMINGS"
LINE_PREFIX = "clipdex: timings "


class Timings:
    """Seconds spent in named stages; a stage entered twice adds up."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            self.seconds[name] = self.seconds.get(name, 0.0) + elapsed

    def line(self) -> str:
        """``clipdex: timings import=0.412 load=0.231 query=0.052`` (seconds)."""
        stages = " ".join(f"{name}={s:.4f}" for name, s in self.seconds.items())
        return f"{LINE_PREFIX}{stages}"

    def report(self) -> None:
        """Print the line on stderr if ``CLIPDEX_TIMINGS`` is set (to anything but 0)."""
        if os.environ.get(TIMINGS_ENV, "0") not in ("", "0"):
            print(self.line(), file=sys.stderr)


def parse_line(text: str) -> dict[str, float] | None:
    """The stages of the last timings line in ``text`` (a command's stderr), or None."""
    found = None
    for line in text.splitlines():
        if line.startswith(LINE_PREFIX):
            pairs = (item.split("=", 1) for item in line[len(LINE_PREFIX) :].split())
            found = {name: float(value) for name, value in pairs}
    return found
