"""Temporary index files: a killed save's is removed on the next open, a live writer's is kept."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from storage.atomic_file import replace_atomically
from storage.library import Library

REPO_ROOT = Path(__file__).resolve().parents[2]
# A real save that stops half-way: the first chunk is written, then it waits to be killed.
_WRITER = """
import sys, time
from pathlib import Path
from storage.atomic_file import replace_atomically

def chunks():
    yield b"x" * 65536
    print("writing", flush=True)
    time.sleep(300)
    yield b"never"

replace_atomically(Path(sys.argv[1]) / "index.faiss", chunks())
"""


def _temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_a_killed_save_is_swept_on_open_but_not_while_its_writer_lives(
    tmp_path: Path, open_library: Callable[..., Library]
) -> None:
    folder = tmp_path / "lib"
    open_library(folder).close()
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(folder)],
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout.readline().strip() == "writing"
        (live,) = _temporaries(folder)
        assert live.startswith(".index.faiss.")
        open_library(folder).close()
        assert _temporaries(folder) == [live]  # its writer is alive: kept
    finally:
        writer.kill()  # SIGKILL: no cleanup runs in the writer
        writer.wait(timeout=30)
    assert _temporaries(folder) == [live]
    assert not (folder / "index.faiss").exists()

    other_db = folder / ".index-0123456789abcdef.faiss.k3y.tmp"  # a --db-url index's leftover
    other_db.write_bytes(b"y" * 100)
    unrelated = folder / ".thumb-abc.tmp"
    unrelated.write_bytes(b"z")
    open_library(folder).close()
    assert _temporaries(folder) == [unrelated.name]


def test_an_interrupted_save_removes_its_own_temporary(tmp_path: Path) -> None:
    def failing():
        yield b"header"
        raise RuntimeError("disk full")

    target = tmp_path / "index.faiss"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="disk full"):
        replace_atomically(target, failing())
    assert target.read_bytes() == b"old" and _temporaries(tmp_path) == []
    replace_atomically(target, (b"new", b"er"))
    assert target.read_bytes() == b"newer" and _temporaries(tmp_path) == []
