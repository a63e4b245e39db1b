"""A library that cannot be written: a full disk (a real, small tmpfs filled while ``index``
runs) or a read-only folder or database (real read-only bind mounts, since root ignores
permission bits). Each is one ``clipdex: error:`` line naming the cause and the place, exit 3,
the ``--json`` report of what was done before it, and a library that is still whole."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from clipdex.cli import EXIT_CANNOT_WRITE
from storage.errors import LibraryWriteError
from storage.library import Library
from tests.support.cli import run
from tests.support.videos import moving_shapes
from tests.support.watching import consistent

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root: mounts a tmpfs and read-only bind mounts"
)


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path))
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@contextmanager
def read_only(path: Path) -> Iterator[Path]:
    """``path`` (a folder or a file) bind-mounted read-only onto itself."""
    _mount("--bind", str(path), str(path))
    try:
        _mount("-o", "remount,bind,ro", str(path))
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=False)


def _videos(folder: Path, seeds: range) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [
        moving_shapes(folder / f"v{seed}.mp4", seconds=2.0, fps=10, size=(160, 120), seed=seed)
        for seed in seeds
    ]


def _indexed_paths(library_dir: Path) -> set[str]:
    with Library.open(library_dir) as library:
        consistent(library)  # FAISS ids == clip rows, after catching up
        with library.session() as session:
            from storage.models import Video

            return {v.path for v in session.query(Video).filter_by(status="indexed")}


def _searchable(library_dir: Path) -> set[str]:
    result = run("--library", library_dir, "search", "shapes", "-k", "50", "--json")
    assert result.exit_code == 0, result.output
    return {hit["path"] for hit in json.loads(result.stdout)["hits"]}


def _fill_when_indexed(database: Path, count: int, filler: Path) -> threading.Thread:
    """Fill the disk once ``count`` videos are committed (read the way another process would)."""

    def watch() -> None:
        while True:
            try:
                with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as db:
                    (done,) = db.execute(
                        "SELECT count(*) FROM videos WHERE status = 'indexed'"
                    ).fetchone()
            except sqlite3.OperationalError:
                done = 0
            if done >= count:
                break
            time.sleep(0.02)
        with open(filler, "wb") as out:
            block = b"\0" * 65536
            try:
                while True:
                    out.write(block)
                    out.flush()
            except OSError:
                pass
        try:  # the last pages a partial block can still take
            with open(filler, "ab") as out:
                while True:
                    out.write(b"\0" * 512)
                    out.flush()
        except OSError:
            pass

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_a_full_disk_stops_indexing_with_one_line_exit_3_and_the_report(tmp_path):
    first = _videos(tmp_path / "first", range(1))
    later = _videos(tmp_path / "later", range(1, 7))
    # Room for a library of 64 KB pages (storage.library.PAGE_SIZE) and its 4 MB write-ahead log.
    with tmpfs(tmp_path / "disk", "12m") as disk:
        library_dir = disk / "library"
        assert run("--library", library_dir, "index", tmp_path / "first").exit_code == 0
        filler = disk / "filler"
        filler_thread = _fill_when_indexed(library_dir / "clipdex.db", 2, filler)

        result = run("--library", library_dir, "index", tmp_path / "later", "--json")
        filler_thread.join(timeout=60)

        assert result.exit_code == EXIT_CANNOT_WRITE == 3
        (line,) = result.stderr.splitlines()
        assert line.startswith(f"clipdex: error: the library's disk is full ({library_dir}): ")
        assert "indexing stopped" in line
        report = json.loads(result.stdout)
        assert report["error"] == f"the library's disk is full ({library_dir})"
        assert 1 <= report["indexed"] < len(later), report
        assert f"; {report['indexed']} video" in line

        # Still full: the library reads, and saving its FAISS cache is the same typed error.
        with Library.open(library_dir) as library:
            library.vectors()
            with pytest.raises(LibraryWriteError) as caught:
                library.save_vectors()
            assert (caught.value.reason, caught.value.path) == ("disk_full", library_dir)
        assert not list(library_dir.glob(".index.faiss.*.tmp"))

        filler.unlink()  # room again: the library opens and holds exactly what was reported
        stored = _indexed_paths(library_dir)
        assert stored == {str(first[0])} | {str(p) for p in later[: report["indexed"]]}
        assert _searchable(library_dir) == stored
        # and the run that was cut short is finished by the next one
        again = run("--library", library_dir, "index", tmp_path / "later", "--json")
        assert again.exit_code == 0, again.output
        assert json.loads(again.stdout)["indexed"] == len(later) - report["indexed"]


def test_a_read_only_library_folder_is_one_line_and_exit_3(tmp_path):
    _videos(tmp_path / "first", range(1))
    _videos(tmp_path / "later", range(1, 2))
    library_dir = tmp_path / "library"
    assert run("--library", library_dir, "index", tmp_path / "first").exit_code == 0
    before = _indexed_paths(library_dir)
    with read_only(library_dir):
        result = run("--library", library_dir, "index", tmp_path / "later", "--json")
        assert result.exit_code == 3
        assert result.stderr.splitlines() == [
            f"clipdex: error: the library's folder is read-only ({library_dir}): "
            "indexing stopped; 0 videos indexed before it"
        ]
        report = json.loads(result.stdout)
        assert report["indexed"] == 0
        assert report["error"] == f"the library's folder is read-only ({library_dir})"
        # a new library that would be created inside it: the same cause, its own folder
        inner = library_dir / "new"
        result = run("--library", inner, "index", tmp_path / "later")
        assert result.exit_code == 3
        assert result.stderr.splitlines() == [
            f"clipdex: error: the library's folder is read-only ({inner}): "
            "indexing stopped; 0 videos indexed before it"
        ]
        # SQLite cannot read a WAL database whose folder it cannot write its index (-shm) to:
        # the same line, not an internal error
        result = run("--library", library_dir, "search", "shapes")
        assert (result.exit_code, result.stderr.splitlines()) == (
            3,
            [f"clipdex: error: the library's folder is read-only ({library_dir})"],
        )
    assert _indexed_paths(library_dir) == before


def test_a_read_only_database_file_is_named_as_such(tmp_path):
    _videos(tmp_path / "first", range(1))
    _videos(tmp_path / "later", range(1, 2))
    library_dir = tmp_path / "library"
    assert run("--library", library_dir, "index", tmp_path / "first").exit_code == 0
    before = _indexed_paths(library_dir)
    database = library_dir / "clipdex.db"
    with read_only(database):
        result = run("--library", library_dir, "index", tmp_path / "later", "--json")
    assert result.exit_code == 3
    assert result.stderr.splitlines() == [
        f"clipdex: error: the library's database is read-only ({database}): "
        "indexing stopped; 0 videos indexed before it"
    ]
    assert json.loads(result.stdout)["error"] == (
        f"the library's database is read-only ({database})"
    )
    assert _indexed_paths(library_dir) == before


def test_the_storage_layer_raises_a_typed_error(tmp_path):
    parent = tmp_path / "parent"
    parent.mkdir()
    with read_only(parent), pytest.raises(LibraryWriteError) as caught:
        Library.open(parent / "library")
    assert caught.value.reason == LibraryWriteError.READ_ONLY_FOLDER
    assert caught.value.path == parent / "library"
