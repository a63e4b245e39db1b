"""Two libraries on one folder, as two processes would be: a reader sees the writer's commits.

Run on each backend (SQLite, PostgreSQL).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from storage import repository
from storage.library import Library
from tests.storage.records import add_video, clip_records, db_clip_ids, delete_path, video_record

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_reader_sees_commits_without_reopening(
    open_library: Callable[..., Library], library: Library, rng: np.random.Generator
) -> None:
    with open_library() as reader:
        assert len(reader.vectors()) == 0
        _, clip_ids = add_video(library, "/m/a.mp4", 3, rng)
        assert reader.generation() == 1
        assert set(reader.vectors().ids().tolist()) == set(clip_ids)
        delete_path(library, "/m/a.mp4")
        add_video(library, "/m/b.mp4", 2, rng)
        assert reader.generation() == 3
        assert set(reader.vectors().ids().tolist()) == db_clip_ids(reader)


WRITER = """
import sys
import numpy as np
from storage.library import Library
from tests.storage.records import add_video

with Library.open(sys.argv[1], db_url=sys.argv[3] or None) as lib:
    add_video(lib, sys.argv[2], 4, np.random.default_rng(7))
"""


def test_reader_sees_another_process(
    library_dir: Path, db_url: str | None, library: Library, rng: np.random.Generator
) -> None:
    add_video(library, "/m/a.mp4", 2, rng)
    before = set(library.vectors().ids().tolist())
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", WRITER, str(library_dir), "/m/other.mp4", db_url or ""],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert library.generation() == 2
    after = set(library.vectors().ids().tolist())
    assert before < after and after == db_clip_ids(library)
    with library.session() as session:
        assert repository.get_video_by_path("/m/other.mp4", session=session) is not None


def test_a_second_writer_waits_instead_of_failing(
    open_library: Callable[..., Library], library: Library, rng: np.random.Generator
) -> None:
    """A writer waits for another writer's transaction, then succeeds (SQLite: busy_timeout;
    PostgreSQL: the library row's lock, taken by the generation bump)."""
    settings = library.settings
    clips = clip_records(rng, 2, settings.embed_dim, settings.feature_tokens)
    first_is_writing = threading.Event()
    other_has_read = threading.Event()
    errors: list[BaseException] = []

    def slow_writer() -> None:
        try:
            with library.session() as session, session.begin():
                repository.save_indexed_video(video_record("/m/slow.mp4"), clips, session=session)
                first_is_writing.set()
                # Hold the transaction until the other library has read (opening it may take
                # over a second on a loaded machine), then long enough for its write to wait.
                other_has_read.wait(30)
                time.sleep(1.0)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
            first_is_writing.set()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert first_is_writing.wait(30)
    with open_library() as other:
        started = time.monotonic()
        assert other.generation() == 0  # WAL / MVCC: reading does not wait
        assert time.monotonic() - started < 0.5
        other_has_read.set()
        add_video(other, "/m/fast.mp4", 1, rng)
    thread.join()
    assert errors == []
    assert library.generation() == 2
    assert set(library.vectors().ids().tolist()) == db_clip_ids(library)
