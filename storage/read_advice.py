"""Tell the kernel that a library database is read at random, so it does not read ahead.

A search reads a hundred candidates' features scattered over a file of tens of gigabytes, and
the kernel's read-ahead, fooled by neighbouring clips lying next to each other, read 29.8 MB
for them at 1M clips (a query's 100 candidates, 20 videos of 5 neighbouring clips, page cache
dropped, plain sqlite3): 92 ms p50. Advised random (``POSIX_FADV_RANDOM``), the same reads took
31.7 ms and 8.3 MB. The advice belongs to an open file, and sqlite3 does not hand out its file
descriptors, so this finds them among the process's own (Linux's ``/proc/self/fd``); elsewhere,
or without ``posix_fadvise``, it does nothing.

Only libraries with pages of ``MIN_PAGE_SIZE`` or more are advised: a page is then one read of
a useful size, and a clip's features one page (revision 0007). A library of 4 KB pages keeps
the kernel's read-ahead, which a full scan of it (the vector index rebuilt from the database)
needs.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

MIN_PAGE_SIZE = 65536
_FDS = Path("/proc/self/fd")


def advise_random(path: str | os.PathLike[str]) -> int:
    """Advise every file descriptor of this process open on ``path`` as read at random;
    returns how many were advised (0 where the platform cannot say or advise)."""
    if not hasattr(os, "posix_fadvise") or not _FDS.is_dir():
        return 0
    target = os.path.realpath(path)
    advised = 0
    for name in os.listdir(_FDS):
        try:
            if os.readlink(_FDS / name) != target:
                continue
            os.posix_fadvise(int(name), 0, 0, os.POSIX_FADV_RANDOM)
        except (OSError, ValueError):
            continue  # closed meanwhile, or not a file that takes advice
        advised += 1
    return advised


def advise_database(connection: sqlite3.Connection | sqlite3.Cursor) -> int:
    """Advise the file of ``connection``'s main database as read at random when its pages are
    of ``MIN_PAGE_SIZE`` or more (the module docstring says why only then); returns how many
    descriptors were advised (0 for a database in memory or of smaller pages)."""
    (page_size,) = connection.execute("PRAGMA page_size").fetchone()
    if int(page_size) < MIN_PAGE_SIZE:
        return 0
    files = [row[2] for row in connection.execute("PRAGMA database_list") if row[1] == "main"]
    if not files or not files[0]:  # "" for a database in memory
        return 0
    return advise_random(files[0])
