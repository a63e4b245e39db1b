"""Replacing a file atomically, and sweeping the temporary files that killed writers left.

A writer creates ``.NAME.<random>.tmp`` beside the target, holds an exclusive ``flock`` on it
while it writes, fsyncs it, renames it over the target and fsyncs the folder: readers see the old
file or the new one, whole. A ``kill -9`` before the rename leaves the temporary file behind,
and for the FAISS index it is as large as the index. ``remove_stale`` deletes the ones whose lock
it can take: a live writer holds its lock until its rename, and the kernel drops a dead
process's locks, so (unlike a pid written into the name) a reused pid cannot pass for the writer.
"""

from __future__ import annotations

import fcntl
import logging
import os
import stat
from collections.abc import Iterable
from pathlib import Path

logger = logging.getLogger(__name__)


def temporary_glob(name: str) -> str:
    """The glob pattern matching the temporary files ``replace_atomically`` makes for ``name``
    (``name`` may itself hold glob characters, to match the temporaries of several targets)."""
    return f".{name}.*.tmp"


def replace_atomically(path: Path, chunks: Iterable[bytes]) -> None:
    """Write ``chunks`` to ``path`` through a locked temporary file and one ``os.replace``.

    The new file keeps the old one's permissions (mkstemp would make it private).
    """
    path = Path(path)
    fd, tmp_name = _locked_temporary(path)
    try:
        os.fchmod(fd, stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o644)
        for chunk in chunks:
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
        os.fsync(fd)
        # Renamed while still locked: a sweeper never sees this name unlocked while we live.
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)
    _fsync_folder(path.parent)


def _locked_temporary(path: Path) -> tuple[int, str]:
    """A new temporary file beside ``path``, open and exclusively locked by this process."""
    import tempfile  # here: a cold search imports this module (the FAISS cache) but never writes

    while True:
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        fcntl.flock(fd, fcntl.LOCK_EX)
        if os.fstat(fd).st_nlink > 0:
            return fd, tmp_name
        # A sweeper found it unlocked in the instant between mkstemp and flock, and removed it.
        os.close(fd)


def remove_stale(folder: Path, pattern: str) -> list[Path]:
    """Remove the temporary files matching ``pattern`` in ``folder`` that no live process is
    writing (their lock is free); return the paths removed. Files that cannot be opened or
    removed (a read-only folder) are left, silently: they are only wasted space."""
    removed = []
    for candidate in Path(folder).glob(pattern):
        try:
            fd = os.open(candidate, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live writer holds it
            # Still the same file under that name (not replaced since we opened it)?
            if os.stat(candidate, follow_symlinks=False).st_ino != os.fstat(fd).st_ino:
                continue
            candidate.unlink()
            removed.append(candidate)
        except OSError as exc:
            logger.debug("could not remove the temporary file %s: %s", candidate, exc)
        finally:
            os.close(fd)
    return removed


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
