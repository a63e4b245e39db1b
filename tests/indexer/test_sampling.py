"""Sampling: each clip's frames sit near the midpoints of its eight slots, from a thinned window."""

from __future__ import annotations

import pytest

from indexer.sampling import SamplingPlan, iter_clips
from indexer.segment import SegmentRules, sample_times
from tests.support.videos import known_cuts

PLAN = SamplingPlan(SegmentRules(2.0, 10.0), frames_per_clip=8, shortest_edge=224, crop_size=224)


def _assert_near_midpoints(clips, fps: float) -> None:
    for clip in clips:
        slot = (clip.end_s - clip.start_s) / PLAN.frames_per_clip
        wanted = sample_times((clip.start_s, clip.end_s), PLAN.frames_per_clip)
        for got, want in zip(clip.frame_times, wanted, strict=True):
            # within 1/8 slot (the window's density), plus one frame for the frame grid
            assert abs(got - want) <= slot / 8 + 1.0 / fps + 1e-6, (clip.start_s, got, want)


@pytest.mark.parametrize("name", ["still.mp4", "cuts.mp4"])
def test_samples_are_near_slot_midpoints(known_videos, name) -> None:
    video = known_videos[name]
    clips = list(iter_clips(video.path, PLAN, video.fps))
    assert clips
    _assert_near_midpoints(clips, video.fps)


def test_samples_are_near_midpoints_in_halved_and_split_clips(tmp_path) -> None:
    """An 11 s shot is halved (5.5 + 5.5 s), a 24 s one split at 10 s: clips start where the
    window was kept sparse for a longer clip, and must still be sampled precisely."""
    shots = [(11.0, (200, 40, 40)), (24.0, (40, 40, 200))]
    path = known_cuts(tmp_path / "long.mp4", shots, fps=25)
    clips = list(iter_clips(path, PLAN, 25.0))
    spans = [(round(c.start_s, 2), round(c.end_s, 2)) for c in clips]
    assert spans == [(0.0, 5.5), (5.5, 11.0), (11.0, 21.0), (21.0, 31.0), (31.0, 35.0)]
    _assert_near_midpoints(clips, 25.0)


def test_keep_interval_widens_with_the_clip_and_never_exceeds_a_quarter_slot() -> None:
    intervals = [PLAN.keep_interval(t / 10) for t in range(0, 200)]
    assert intervals[0] == PLAN.keep_interval_s == pytest.approx(2.0 / 8 / 4)
    assert max(intervals) == pytest.approx(10.0 / 2 / 8 / 4)  # the second half of a halved clip
    assert PLAN.keep_interval(10.5) == PLAN.keep_interval_s  # a clip may start at 10 s


def test_converting_early_under_a_small_memory_budget_gives_the_same_clips(
    known_videos, monkeypatch
) -> None:
    """Past the window's memory budget the oldest pictures are converted early: same frames."""
    import numpy as np

    from indexer import sampling

    video = known_videos["cuts.mp4"]
    lazy = list(iter_clips(video.path, PLAN, video.fps))
    monkeypatch.setattr(sampling, "WINDOW_BYTES", 300_000)  # about two 320x240 pictures
    early = list(iter_clips(video.path, PLAN, video.fps))
    assert [(c.start_s, c.end_s, c.frame_times) for c in early] == [
        (c.start_s, c.end_s, c.frame_times) for c in lazy
    ]
    for a, b in zip(lazy, early, strict=True):
        np.testing.assert_array_equal(a.frames, b.frames)
