"""``clipdex watch`` and ``clipdex index`` on folders holding a FIFO named ``x.mp4``: the FIFO is
skipped (like a folder named ``dir.mp4``), the other files are indexed, and SIGINT still stops
the watcher at once with exit status 0."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from tests.support.cli import run_json
from tests.support.processes import watch_process
from tests.support.videos import moving_shapes


@pytest.mark.slow
def test_watch_skips_fifos_indexes_the_rest_and_stops_on_sigint(
    tmp_path: Path, library_dir: Path
) -> None:
    root = tmp_path / "media"
    root.mkdir()
    os.mkfifo(root / "before.mp4")  # there at the start: the reconcile
    watch = watch_process(str(root), "--json")
    try:
        watch.wait_for(lambda: any(e["event"] == "watching" for e in watch.events()), "start")
        os.mkfifo(root / "x.mp4")  # arriving while watched: events and the settler
        video = moving_shapes(tmp_path / "v.mp4", seconds=1.0, size=(64, 48), seed=3)
        time.sleep(1)  # the FIFO settles first, as it would block the watcher before the video
        shutil.move(video, root / "v.mp4")
        watch.wait_for(
            lambda: any(e.get("path") == str(root / "v.mp4") for e in watch.events()),
            "the video next to the FIFO to be indexed",
        )
    finally:
        started = time.monotonic()
        code = watch.stop(signal.SIGINT)
        stopped_s = time.monotonic() - started
    assert code == 0, "\n".join(watch.stderr)
    assert stopped_s < 15
    events = watch.events()
    assert {"event": "indexed", "path": str(root / "v.mp4"), "clips": 1} in events
    assert not any("x.mp4" in e.get("path", "") or "before" in e.get("path", "") for e in events)


def test_index_skips_a_fifo(tmp_path: Path, library_dir: Path) -> None:
    root = tmp_path / "media"
    root.mkdir()
    os.mkfifo(root / "x.mp4")
    moving_shapes(root / "v.mp4", seconds=1.0, size=(64, 48), seed=4)
    report = run_json("index", root)
    assert (report["indexed"], report["failed"]) == (1, [])
