"""Real mounts for tests of unmounted shares: ``mount -t tmpfs`` and ``mount --bind``.

Mounting needs root (CI runs as root); elsewhere the tests that use these are skipped, saying why.
Every mount is undone in a ``finally``, also when the test fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

requires_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="mounting a tmpfs or a bind mount needs root (CI runs as root)"
)


def mount(*args: str | Path) -> None:
    result = subprocess.run(
        ["mount", *map(str, args)], capture_output=True, text=True, check=False, timeout=30
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount here (mount {' '.join(map(str, args))}): {result.stderr}")


def umount(path: Path) -> None:
    """Unmount ``path``, as an administrator would (no ``-l``): the test fails, naming who holds
    it, if the kernel still finds it busy after a few seconds."""
    deadline = time.monotonic() + 5
    while (
        result := subprocess.run(["umount", str(path)], capture_output=True, text=True)
    ).returncode:
        if time.monotonic() > deadline:
            users = ""
            if shutil.which("fuser"):
                found = subprocess.run(["fuser", "-vm", str(path)], capture_output=True, text=True)
                users = found.stdout + found.stderr
            raise AssertionError(f"umount {path}: {result.stderr}{users}")
        time.sleep(0.2)


def is_mounted(path: Path) -> bool:
    return any(
        line.split(" ")[4] == str(path)
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
    )


@contextmanager
def mounts_undone(*points: Path) -> Iterator[None]:
    """Unmount whatever is still mounted on ``points`` (innermost first) when the block ends."""
    try:
        yield
    finally:
        for point in points:
            while is_mounted(point):
                subprocess.run(["umount", "-l", str(point)], capture_output=True, check=False)
