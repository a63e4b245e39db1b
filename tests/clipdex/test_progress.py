"""The index progress bar reports clip throughput and the real-time factor (fake clock)."""

from __future__ import annotations

from pathlib import Path

import pytest

from clipdex import progress


def test_bar_shows_clips_per_second_and_realtime_factor(monkeypatch) -> None:
    now = [100.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])
    observer = progress.BarObserver()
    observer.start(2)
    observer.file_started(Path("a.mp4"), 120.0)
    now[0] = 110.0
    observer.clips_encoded(8, 80.0)  # a batch: 8 clips covering 80 s of video in 10 s
    observer.clips_encoded(12, 120.0)
    postfix = observer._bar.postfix
    observer.file_done(Path("a.mp4"), "indexed")
    assert "clips=20" in postfix and "clips_per_s=2.00" in postfix and "realtime=20.0x" in postfix
    assert observer._bar.n == 1
    observer.close()


@pytest.mark.slow
def test_a_failure_line_is_printed_through_the_bar(tmp_path, known_videos) -> None:
    """On a real pseudo-terminal, a file's failure line starts on a clean line, never on the
    half-drawn bar, and the bar is drawn again below it."""
    import shutil

    from tests.support import videos
    from tests.support.cli import terminal_run

    shutil.copy(known_videos["red.mp4"].path, tmp_path / "b_good.mp4")
    videos.random_bytes(tmp_path / "a_broken.mp4")
    status, screen = terminal_run("index", tmp_path)
    assert status == 1
    # What stays visible of each terminal line: the text after its last carriage return.
    visible = [line.rstrip("\r").rsplit("\r", 1)[-1] for line in screen.split("\n")]
    failures = [line for line in visible if "a_broken.mp4" in line and "failed" in line]
    assert failures and all(line.startswith("clipdex: failed ") for line in failures), screen
    assert "2/2" in screen and "indexed 1" in screen
