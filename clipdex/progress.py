"""The terminal progress bar for ``index``: files, clips, clips/s, real-time factor and ETA.

Drawn only on an interactive stderr and never with ``--json``; the indexer itself only calls
the observer methods. While the bar is drawn, log lines (``clipdex: failed PATH: reason``) go
through it: the bar is cleared, the line printed, the bar redrawn below, so a line never lands
on a half-drawn bar.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from tqdm import tqdm

from indexer.run_report import IndexObserver


class BarObserver(IndexObserver):
    """Draws one tqdm bar over files, with clip throughput in the postfix."""

    def __init__(self) -> None:
        self._bar: tqdm | None = None
        self._handlers: list[logging.Handler] = []
        self._clips = 0
        self._video_s = 0.0
        self._started = time.monotonic()

    def start(self, total_files: int) -> None:
        self._started = time.monotonic()
        self._bar = tqdm(total=total_files, unit="file", file=sys.stderr, dynamic_ncols=True)
        root = logging.getLogger()
        self._handlers = root.handlers[:]
        root.handlers[:] = [ThroughBar(self._bar, handler) for handler in self._handlers]

    def file_started(self, path: Path, duration_s: float) -> None:
        if self._bar is not None:
            self._bar.set_description(_short(path.name), refresh=True)

    def clips_encoded(self, count: int, video_s: float) -> None:
        self._clips += count
        self._video_s += video_s
        elapsed = max(time.monotonic() - self._started, 1e-6)
        if self._bar is not None:
            self._bar.set_postfix(
                clips=self._clips,
                clips_per_s=f"{self._clips / elapsed:.2f}",
                realtime=f"{self._video_s / elapsed:.1f}x",
                refresh=True,
            )

    def file_done(self, path: Path, outcome: str, detail: str = "") -> None:
        if self._bar is not None and outcome != "removed":
            self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            logging.getLogger().handlers[:] = self._handlers
            self._bar.close()
            self._bar = None


class ThroughBar(logging.Handler):
    """Writes what ``handler`` would write, through the bar (tqdm clears it, then redraws)."""

    def __init__(self, bar: tqdm, handler: logging.Handler) -> None:
        super().__init__(handler.level)
        self.bar = bar
        self.handler = handler

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.bar.write(self.handler.format(record), file=sys.stderr)
        except Exception:  # noqa: BLE001 - logging must never break indexing
            self.handleError(record)


def _short(name: str, width: int = 28) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"
