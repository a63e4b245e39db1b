"""Decoding in a worker process: same clips as in-process, and broken decoders contained."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import numpy as np
import pytest

from indexer import decode_process
from indexer.decode_process import clips_in_worker
from indexer.errors import VideoOpenError
from indexer.pipeline import Indexer
from indexer.sampling import SamplingPlan, iter_clips
from indexer.segment import SegmentRules
from storage.library import Library
from tests.support.videos import random_bytes

PLAN = SamplingPlan(SegmentRules(2.0, 10.0), frames_per_clip=8, shortest_edge=224, crop_size=224)


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
