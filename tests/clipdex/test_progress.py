"""The index progress bar reports clip throughput and the real-time factor (fake clock)."""

from __future__ import annotations

from pathlib import Path

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
