"""Decide when a file that is being written has finished: its size and mtime stop changing.

File-system events say *that* a file changed, never that its writer is done (a camera offload,
a browser download or an editor's export all write in bursts with pauses). A file is therefore
"settled" once ``settle_s`` seconds have passed with its (size, mtime) unchanged, however many
events it produced meanwhile. The settler re-reads the stat itself on every check, so a writer
that keeps appending delays the file even if no event reached us.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

Clock = Callable[[], float]
Signature = tuple[int, int]

DEFAULT_SETTLE_S = 3.0


@dataclass
class _Pending:
    signature: Signature
    since: float  # when the signature was last seen to change
    deferrals: int = 0  # settled but not yet readable; reset when the file changes again


def _signature(path: Path) -> Signature | None:
    """Size and mtime of a regular file; None for anything else (gone, a FIFO, a device...),
    which drops it: only regular files are ever handed out to be opened."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(status.st_mode):
        return None
    return status.st_size, status.st_mtime_ns


class Settler:
    """Files waiting for their writes to stop; ``due()`` hands out the settled ones, once each."""

    def __init__(self, settle_s: float, clock: Clock = time.monotonic) -> None:
        if settle_s < 0:
            raise ValueError(f"settle time must not be negative, got {settle_s:g}")
        self.settle_s = settle_s
        self._clock = clock
        self._pending: dict[Path, _Pending] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def __contains__(self, path: Path) -> bool:
        return path in self._pending

    def touch(self, path: Path) -> None:
        """``path`` changed (or may have): restart its quiet period."""
        signature = _signature(path)
        if signature is None:
            self._pending.pop(path, None)
            return
        entry = self._pending.get(path)
        if entry is None:
            self._pending[path] = _Pending(signature, self._clock())
        elif entry.signature != signature:
            entry.signature, entry.since, entry.deferrals = signature, self._clock(), 0
        else:
            entry.since = self._clock()

    def defer(self, path: Path, deferrals: int) -> None:
        """A settled file is not readable yet: give it another quiet period.

        ``deferrals`` is how often it was deferred before (as ``due()`` reported it).
        """
        signature = _signature(path)
        if signature is not None:
            self._pending[path] = _Pending(signature, self._clock(), deferrals + 1)

    def forget(self, path: Path) -> None:
        self._pending.pop(path, None)

    def forget_under(self, folder: Path) -> None:
        """Drop every pending file inside ``folder`` (it moved away or went offline)."""
        for path in [p for p in self._pending if p.is_relative_to(folder)]:
            del self._pending[path]

    def due(self) -> list[tuple[Path, int]]:
        """Remove and return the files unchanged for ``settle_s``, in path order, each with how
        often it was deferred. Files that vanished are dropped (pruning is not our business)."""
        now = self._clock()
        ready = []
        for path, entry in list(self._pending.items()):
            signature = _signature(path)
            if signature is None:
                del self._pending[path]
            elif signature != entry.signature:
                entry.signature, entry.since, entry.deferrals = signature, now, 0
            elif now - entry.since >= self.settle_s:
                ready.append((path, entry.deferrals))
        for path, _ in ready:
            del self._pending[path]
        return sorted(ready)

    def next_due_in(self) -> float | None:
        """Seconds until the earliest pending file could settle, or None when nothing waits."""
        if not self._pending:
            return None
        earliest = min(entry.since for entry in self._pending.values())
        return max(0.0, earliest + self.settle_s - self._clock())
