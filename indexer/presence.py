"""Whether a file is really gone, and whether a folder is there to say so.

Pruning deletes a video's clips, and embedding them again costs hours on a large share, so a
missing file is only taken as deleted when the evidence is unambiguous:
- the file's ``stat`` says it does not exist (ENOENT, ENOTDIR): a permission or I/O error says
  nothing about the file (an unreadable folder hides files that are still there);
- the root it was indexed under is there and not empty. An unmounted share leaves its
  mount-point folder behind, empty, or no folder at all; either reads exactly like "every file
  was deleted". The library keeps no record of which folders were mount points (that would need
  a schema change), and "a root that held indexed videos now holds nothing" is what an unmount
  looks like whatever the file system, so that is the test; a user who really emptied the
  folder says so explicitly (``clipdex index --prune-missing``).
A watcher also remembers which roots were mount points while it runs (``is_mount_point``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

MOUNTINFO = Path("/proc/self/mountinfo")
_OCTAL = re.compile(rb"\\([0-7]{3})")


def is_missing(path: Path) -> bool:
    """True only when ``path`` certainly does not exist (following symlinks, as discovery does).

    ``Path.exists`` would raise on a permission error (Python 3.11) or, elsewhere, read one as
    "missing"; neither is right for a file inside a folder we may not enter.
    """
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False
    return False


def is_vacant(folder: Path) -> bool:
    """``folder`` holds nothing: it is missing, or an empty folder. A folder we cannot list is
    not vacant: its files are reported unreadable, never taken for deleted."""
    return is_missing(folder) or (os.path.isdir(folder) and _empty(folder))


def _empty(folder: Path) -> bool:
    try:
        with os.scandir(folder) as entries:
            return next(entries, None) is None
    except FileNotFoundError:
        return True
    except OSError:
        return False


def mount_points() -> frozenset[Path] | None:
    """Every mount point of this process's mount namespace, or None where the kernel does not
    say (no ``/proc``). Bind mounts are included, which ``os.path.ismount`` misses when the
    bound folder is on the same file system as the mount point."""
    try:
        raw = MOUNTINFO.read_bytes()
    except OSError:
        return None
    points = set()
    for line in raw.splitlines():
        fields = line.split(b" ")
        if len(fields) > 4:
            # Space, tab, newline and backslash are octal escapes (proc(5)).
            point = _OCTAL.sub(lambda m: bytes([int(m[1], 8)]), fields[4])
            points.add(Path(os.fsdecode(point)))
    return frozenset(points)


def is_mount_point(folder: Path, points: frozenset[Path] | None = None) -> bool:
    """``folder`` is mounted on (from ``points``, else the kernel's list, else ``ismount``)."""
    if points is None:
        points = mount_points()
    if points is None:
        return os.path.ismount(folder)
    return folder in points
