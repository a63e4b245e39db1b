"""Only regular files are opened: a FIFO named like a video must never block whoever looks at
it (a blocking open of a FIFO waits for a writer, and SIGINT does not interrupt it)."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from indexer.discover import walk
from indexer.errors import VideoOpenError
from indexer.fingerprint import fingerprint
from indexer.probe import probe
from indexer.settle import Settler


def _returns_promptly(call: Callable[[], object], fifo: Path) -> None:
    """Run ``call``; if it is still blocked after 5 s, open the FIFO's other end to free it
    and fail."""
    done = threading.Event()

    def run() -> None:
        with contextlib.suppress(OSError, VideoOpenError):
            call()
        done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    if not done.wait(5):
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # unblocks the reader
        thread.join(5)
        pytest.fail(f"{call} blocked on the FIFO")


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "x.mp4"
    os.mkfifo(path)
    return path


def test_fingerprint_refuses_a_fifo_without_blocking(fifo: Path) -> None:
    _returns_promptly(lambda: fingerprint(fifo), fifo)
    with pytest.raises(OSError, match="not a regular file"):
        fingerprint(fifo)


def test_probe_refuses_a_fifo_without_blocking(fifo: Path) -> None:
    _returns_promptly(lambda: probe(fifo), fifo)
    with pytest.raises(VideoOpenError, match="not a regular file"):
        probe(fifo)


def test_the_settler_and_walk_skip_a_fifo(fifo: Path, tmp_path: Path) -> None:
    settler = Settler(0.0)
    settler.touch(fifo)
    assert fifo not in settler and settler.due() == []
    assert list(walk(tmp_path)) == []
