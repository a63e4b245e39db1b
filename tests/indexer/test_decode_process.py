"""Decoding in a worker process: same clips as in-process, and broken decoders contained."""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from indexer import decode_process
from indexer.errors import VideoOpenError
from indexer.pipeline import Indexer
from indexer.sampling import ClipFrames, SamplingPlan, iter_clips
from indexer.segment import SegmentRules
from storage.library import Library
from tests.support.videos import random_bytes

PLAN = SamplingPlan(SegmentRules(2.0, 10.0), frames_per_clip=8, shortest_edge=224, crop_size=224)


def clips_in_worker(path: Path, plan: SamplingPlan, fps_hint: float) -> Iterator[ClipFrames]:
    """One file's clips through a DecodeWorker; its error as a VideoOpenError."""
    with decode_process.DecodeWorker(plan) as worker:
        worker.submit(0, path, fps_hint)
        while (event := worker.next()) is not None:
            if event.kind == "clip":
                yield event.payload
            elif event.kind == "error":
                raise VideoOpenError(str(path), event.payload)


def test_worker_yields_exactly_the_in_process_clips(known_videos) -> None:
    video = known_videos["still.mp4"]
    here = list(iter_clips(video.path, PLAN, video.fps))
    there = list(clips_in_worker(video.path, PLAN, video.fps))
    assert len(there) == len(here) == 3
    for a, b in zip(here, there):
        assert (a.start_s, a.end_s, a.frame_times) == (b.start_s, b.end_s, b.frame_times)
        np.testing.assert_array_equal(a.frames, b.frames)


def test_unreadable_file_is_a_video_open_error(tmp_path: Path) -> None:
    path = random_bytes(tmp_path / "noise.mp4")
    with pytest.raises(VideoOpenError) as error:
        list(clips_in_worker(path, PLAN, 25.0))
    assert error.value.path == str(path) and "readable" in error.value.reason


def test_a_worker_that_dies_fails_the_file(known_videos, monkeypatch) -> None:
    """Kill the real worker mid-file: the consumer gets a one-line 'crashed' error."""
    monkeypatch.setattr(decode_process, "PREFETCH_CLIPS", 1)  # the worker cannot finish early
    video = known_videos["still.mp4"]
    clips = clips_in_worker(video.path, PLAN, video.fps)
    next(clips)
    (worker,) = [p for p in mp.active_children() if p.name.startswith(("Process", "Fork"))][-1:]
    worker.kill()
    with pytest.raises(VideoOpenError, match=r"decoder crashed \(worker exit code -9\)"):
        list(clips)


def test_a_stalled_decoder_is_killed_and_the_run_goes_on(
    known_videos, video_dir, xclip_checkpoint, tmp_path
) -> None:
    from clipdex.encoder import XClipEncoder
    from tests.support.library import bind_settings

    encoder = XClipEncoder(str(xclip_checkpoint))
    with Library.open(tmp_path / "lib") as library:
        settings = library.bind(bind_settings(encoder))
        report = Indexer(library, encoder, settings, stall_s=1e-4).run([video_dir])
        assert sorted(Path(p).name for p, _ in report.failed) == sorted(known_videos)
        assert {reason for _, reason in report.failed} == {
            "decoder hung (no progress for 0.0001 s)"
        }
        assert not mp.active_children()  # every stuck worker was reaped


def test_files_after_a_crash_are_decoded_by_a_new_worker(known_videos) -> None:
    """Three files queued: the worker is killed on the first; the other two still come back."""
    video = known_videos["cuts.mp4"]
    with decode_process.DecodeWorker(PLAN) as worker:
        for job in range(3):
            worker.submit(job, video.path, video.fps, video.duration_s)
        first = worker.next()
        assert (first.job, first.kind) == (0, "start")
        worker._process.kill()
        events = []
        while (event := worker.next()) is not None:
            events.append((event.job, event.kind))
    assert events[0] == (0, "error")
    for job in (1, 2):
        mine = [kind for j, kind in events if j == job]
        assert mine[0] == "start" and mine[-1] == "done" and mine.count("clip") == 3
    assert not worker.busy


def test_a_decoder_past_its_time_limit_is_killed(known_videos, monkeypatch) -> None:
    """Clips keep coming (no stall), but the file takes longer than its limit allows: 3 s of
    stall allowance + 0.04 s per second of video = 4 s for the 25 s file, and a slow consumer
    takes 1.5 s per event (the worker prefetches one clip, so it waits for us and never
    stalls; the 3 s allowance leaves room for a busy machine to decode a clip)."""
    monkeypatch.setattr(decode_process, "TIME_LIMIT_PER_VIDEO_S", 0.04)
    monkeypatch.setattr(decode_process, "PREFETCH_CLIPS", 1)
    video = known_videos["still.mp4"]
    with decode_process.DecodeWorker(PLAN, stall_s=3.0) as worker:
        worker.submit(0, video.path, video.fps, video.duration_s)
        kinds = []
        while (event := worker.next()) is not None:
            kinds.append(event.kind)
            if event.kind == "error":
                reason = event.payload
            time.sleep(1.5)
    assert kinds[-1] == "error" and "clip" in kinds and "done" not in kinds
    assert reason == "decoder too slow (over 4 s for a 25 s video)"


def test_paused_worker_makes_no_progress(known_videos) -> None:
    """With ``exclusive``, holding ``paused()`` stops the worker after its current frame."""
    video = known_videos["still.mp4"]
    with decode_process.DecodeWorker(PLAN, exclusive=True) as worker:
        worker.submit(0, video.path, video.fps, video.duration_s)
        assert worker.next().kind == "start"
        with worker.paused():
            time.sleep(1.0)  # unpaused, the whole 25 s file decodes in well under a second
            assert worker._out.empty()
        kinds = [e.kind for e in iter(worker.next, None)]
    assert kinds == ["clip", "clip", "clip", "done"]


def test_a_worker_whose_indexer_was_killed_exits(known_videos, tmp_path) -> None:
    """SIGKILL of the indexing process (no clean-up runs) must not leave its worker behind."""
    import os
    import signal
    import subprocess
    import sys

    video = known_videos["still.mp4"]
    script = f"""
import sys, time
from pathlib import Path
from indexer import decode_process
from indexer.sampling import SamplingPlan
from indexer.segment import SegmentRules
decode_process.PREFETCH_CLIPS = 1  # the worker blocks on a full queue
plan = SamplingPlan(SegmentRules(2.0, 10.0), frames_per_clip=8, shortest_edge=224, crop_size=224)
worker = decode_process.DecodeWorker(plan)
worker.submit(0, Path({str(video.path)!r}), 25.0, 25.0)
worker.submit(1, Path({str(video.path)!r}), 25.0, 25.0)
assert worker.next().kind == "start"
print(worker._process.pid, flush=True)
time.sleep(60)
"""
    repo = Path(__file__).resolve().parents[2]
    indexer = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # its resource tracker warns about the leaked queues
        text=True,
    )
    try:
        pid = int(indexer.stdout.readline())
        indexer.send_signal(signal.SIGKILL)
        indexer.wait(timeout=30)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.2)
        assert not _alive(pid), "the worker outlived its indexer"
    finally:
        indexer.kill()
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"
