"""Segmentation: the streaming rules, and cuts found on real encoded videos."""

from __future__ import annotations

import pytest

from indexer.probe import probe
from indexer.sampling import SamplingPlan, iter_clips
from indexer.segment import Segmenter, SegmentRules, plan_segments, sample_times
from tests.support.videos import known_cuts, variable_frame_rate

RULES = SegmentRules(min_clip_s=2.0, max_clip_s=10.0)


def _covers(spans, end_s):
    assert spans[0][0] == 0.0
    assert spans[-1][1] == pytest.approx(end_s, abs=0.05)  # within a frame
    for (_, a_end), (b_start, _) in zip(spans, spans[1:]):
        assert a_end == pytest.approx(b_start)


@pytest.mark.parametrize(
    ("cuts", "end", "expected"),
    [
        ([], 7.0, [(0, 7)]),
        ([3.0, 6.0], 9.0, [(0, 3), (3, 6), (6, 9)]),
        ([], 25.0, [(0, 10), (10, 20), (20, 25)]),
        ([], 21.0, [(0, 10), (10, 15.5), (15.5, 21)]),  # remainder 11 s split in two, not 10 + 1
        ([3.0, 3.5], 9.0, [(0, 3), (3, 9)]),  # a 0.5 s fragment runs on into the next shot
        ([4.0], 5.0, [(0, 5)]),  # a short last fragment merges back into the previous clip
        ([9.0], 10.5, [(0, 5.25), (5.25, 10.5)]),  # ...and a merge past the maximum is halved
        ([], 1.2, [(0, 1.2)]),  # a video shorter than the minimum is one clip
        # float frame times can put a 60 s file's end a hair past 60 s: still 6 clips of 10 s
        ([], 60.0 + 1e-9, [(0, 10), (10, 20), (20, 30), (30, 40), (40, 50), (50, 60)]),
        ([50.0], 60.0 + 1e-9, [(0, 10), (10, 20), (20, 30), (30, 40), (40, 50), (50, 60)]),
    ],
)
def test_plan_segments(cuts, end, expected):
    spans = plan_segments(cuts, end, RULES)
    assert spans == [pytest.approx(span) for span in expected]
    _covers(spans, end)
    assert all(e - s <= RULES.max_clip_s + 1e-9 for s, e in spans)


def test_segmenter_closes_clips_while_streaming():
    """Long shots are released before the video ends: memory does not grow with length."""
    segmenter = Segmenter(RULES)
    released = []
    t = 0.0
    while t < 100.0:
        released += segmenter.frame(t)
        t += 0.04
    assert len(released) >= 8
    assert segmenter.keep_from_s >= 80.0


def test_rules_reject_max_below_twice_min():
    with pytest.raises(ValueError):
        SegmentRules(min_clip_s=3.0, max_clip_s=5.0)


def test_sample_times_are_midpoints_of_equal_parts():
    assert sample_times((2.0, 10.0), 8) == pytest.approx([2.5 + i for i in range(8)])


def _spans_of(path, rules=RULES):
    info = probe(path)
    plan = SamplingPlan(rules=rules, frames_per_clip=8, shortest_edge=224, crop_size=224)
    return [(c.start_s, c.end_s) for c in iter_clips(path, plan, info.fps)], info


def test_cuts_found_on_synthetic_video(known_videos):
    video = known_videos["cuts.mp4"]
    spans, _ = _spans_of(video.path)
    starts = [s for s, _ in spans[1:]]
    assert len(starts) == len(video.cuts_s)
    for found, true in zip(starts, video.cuts_s):
        assert found == pytest.approx(true, abs=0.2)
    _covers(spans, video.duration_s)


def test_many_cuts_found(tmp_path):
    colours = [(220, 40, 40), (40, 80, 220), (40, 200, 70), (240, 220, 40), (170, 50, 200)]
    durations = [2.5, 3.0, 2.2, 4.0, 2.8]
    path = known_cuts(tmp_path / "five.mp4", list(zip(durations, colours)), fps=25)
    spans, _ = _spans_of(path)
    cuts = [sum(durations[: i + 1]) for i in range(len(durations) - 1)]
    assert [s for s, _ in spans[1:]] == [pytest.approx(c, abs=0.2) for c in cuts]
    _covers(spans, sum(durations))


def test_no_cut_splits_by_maximum(known_videos):
    video = known_videos["still.mp4"]
    spans, _ = _spans_of(video.path)
    assert len(spans) == 3  # 25 s of one shot, at most 10 s per clip
    assert all(e - s <= RULES.max_clip_s + 1e-6 for s, e in spans)
    _covers(spans, video.duration_s)


def test_variable_frame_rate_cut_time(tmp_path):
    """Times come from frame timestamps, not from counting frames at the average rate."""
    path = variable_frame_rate(tmp_path / "vfr.mp4", cut_s=2.0, seconds=4.0)
    spans, _ = _spans_of(path)
    assert [s for s, _ in spans[1:]] == [pytest.approx(2.0, abs=0.2)]
    assert spans[-1][1] == pytest.approx(4.0, abs=0.11)
