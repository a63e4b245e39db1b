"""``clipdex watch`` as a real process: ``kill -9`` at any moment leaves a library that opens and
agrees with itself, the next start catches up, another process's search sees live commits, and
SIGTERM exits 0 with a consistent library and a saved FAISS cache."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from clipdex.cli import cli
from clipdex.commands import register
from storage.library import Library
from storage.vectors import VectorIndex
from tests.support.processes import watch_process
from tests.support.videos import moving_shapes
from tests.support.watching import consistent, snapshot, wait_until

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "media"
    folder.mkdir()
    return folder


def _video(path: Path, seed: int) -> Path:
    return moving_shapes(path, seconds=1.0, size=(64, 48), seed=seed)


@pytest.mark.slow
def test_kill_9_restart_live_search_and_sigterm(
    root: Path, library_dir: Path, tmp_path: Path
) -> None:
    """One story, to start as few model-loading processes as possible (each costs seconds)."""
    videos = [_video(root / f"v{i}.mp4", seed=10 + i) for i in range(5)]
    first = watch_process(str(root), "--poll", "0.5")  # the polling observer, from the CLI
    try:
        first.wait_for(
            lambda: any(line.startswith("indexed ") for line in first.stderr), "a first file"
        )
    finally:
        first.process.kill()  # SIGKILL, most likely in the middle of the next video
        first.process.wait(timeout=60)
    with Library.open(library_dir) as library:
        indexed_before, _ = consistent(library)
    assert 1 <= indexed_before <= len(videos)

    watch = watch_process(str(root), "--json", "--quantize", "int8")  # as `index` takes it
    try:
        watch.wait_for(lambda: any(e["event"] == "watching" for e in watch.events()), "restart")
        with Library.open(library_dir) as library:
            wait_until(
                lambda: len(snapshot(library, root)) == len(videos), "the rest to be caught up"
            )
        late = shutil.move(_video(tmp_path / "late.mp4", seed=99), root / "late.mp4")
        watch.wait_for(
            lambda: any(e.get("path") == str(late) for e in watch.events()), "the live file"
        )
        # Another process searches while the watcher runs and sees every committed video.
        search = subprocess.run(
            [sys.executable, "-m", "clipdex", "search", "a coloured disc", "-k", "10", "--json"],
            check=False,
            cwd=REPO,
            env={**os.environ, "CLIPDEX_THREADS": "1"},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert search.returncode == 0, search.stderr
        found = {hit["path"] for hit in json.loads(search.stdout)["hits"]}
        assert found == {str(v) for v in videos} | {str(late)}
    finally:
        code = watch.stop(signal.SIGTERM)
    assert code == 0, "\n".join(watch.stderr)
    events = watch.events()
    assert events[-1] == {"event": "stopped"}
    assert {"event": "indexed", "path": str(late), "clips": 1} in events
    assert not any("Traceback" in line for line in watch.stderr)
    with Library.open(library_dir) as library:
        assert consistent(library) == (len(videos) + 1, len(videos) + 1)
        assert {v.status for v in snapshot(library, root).values()} == {"indexed"}
        # The cache was saved on the way out, at the database's generation.
        assert VectorIndex.load(library.index_path).generation == library.generation()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "missing", "no such folder"),
        (lambda tmp: _video(tmp / "file.mp4", seed=0), "watch needs folders, not files"),
    ],
)
def test_bad_roots_are_one_line_usage_errors(tmp_path: Path, make, message: str) -> None:
    register(cli)
    result = CliRunner().invoke(cli, ["watch", str(make(tmp_path))])
    assert result.exit_code == 2
    assert result.output.strip().endswith(message)
    assert result.output.count("\n") == 1
