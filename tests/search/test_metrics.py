"""The retrieval metrics on hand-checkable ranks and spans."""

from __future__ import annotations

import pytest

from search.metrics import (
    best_by_video,
    best_iou,
    iou,
    moment_metrics,
    recall_at,
    video_metrics,
    video_rank,
)


def test_recall_median_and_mean_rank():
    metrics = video_metrics([1, 2, 6, 11])
    assert (metrics.r1, metrics.r5, metrics.r10) == (25.0, 50.0, 75.0)
    assert metrics.median_rank == 4.0  # (2 + 6) / 2
    assert metrics.mean_rank == 5.0  # 20 / 4
    assert metrics.queries == 4
    assert metrics.to_json() == {
        "r1": 25.0,
        "r5": 50.0,
        "r10": 75.0,
        "median_rank": 4.0,
        "mean_rank": 5.0,
    }


def test_odd_count_median_and_boundaries():
    metrics = video_metrics([10, 5, 1, 1, 30])
    assert metrics.median_rank == 5.0
    assert metrics.mean_rank == 9.4
    assert (metrics.r1, metrics.r5, metrics.r10) == (40.0, 60.0, 80.0)  # rank 5 and 10 count
    assert recall_at([3], 2) == 0.0 and recall_at([2], 2) == 100.0


def test_no_ranks_or_rank_zero_is_an_error():
    with pytest.raises(ValueError):
        video_metrics([])
    with pytest.raises(ValueError):
        video_metrics([0, 1])


def test_a_video_ranks_by_its_best_clip_and_ties_count_in_its_favour():
    clips = [("a", 0.2), ("b", 0.5), ("a", 0.9), ("c", 0.5), ("b", 0.1), ("d", 0.3)]
    best = best_by_video(clips)
    assert best == {"a": 0.9, "b": 0.5, "c": 0.5, "d": 0.3}
    assert video_rank("a", best) == 1
    assert video_rank("b", best) == 2 and video_rank("c", best) == 2  # tied: both second
    assert video_rank("d", best) == 4
    assert video_rank("missing", best) == 5  # behind every scored video


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((0.0, 2.0), (0.0, 2.0), 1.0),
        ((0.0, 2.0), (1.0, 3.0), 1 / 3),
        ((0.0, 4.0), (1.0, 2.0), 0.25),  # one inside the other
        ((0.0, 2.0), (2.0, 4.0), 0.0),  # touching is not overlapping
        ((0.0, 2.0), (5.0, 6.0), 0.0),
        ((0.0, 3.0), (0.0, 5.0), 0.6),
        ((1.0, 1.0), (1.0, 1.0), 0.0),  # empty spans
    ],
)
def test_temporal_iou(a, b, expected):
    assert iou(a, b) == pytest.approx(expected)
    assert iou(b, a) == pytest.approx(expected)


def test_best_iou_over_spans():
    assert best_iou((0.0, 2.0), []) == 0.0
    assert best_iou((0.0, 2.0), [(5.0, 6.0), (1.0, 3.0), (0.0, 4.0)]) == pytest.approx(0.5)


def test_moment_recall_at_iou_thresholds():
    queries = [
        {1: 1.0, 5: 1.0},  # exact at the top
        {1: 0.6, 5: 0.6},  # counts at 0.5, not at 0.7
        {1: 0.0, 5: 0.7},  # found only in the top 5, exactly at 0.7
        {1: 0.0, 5: 0.0},  # never found
    ]
    assert moment_metrics(queries) == {
        "r1_iou0.5": 50.0,
        "r1_iou0.7": 25.0,
        "r5_iou0.5": 75.0,
        "r5_iou0.7": 50.0,
    }


def test_an_iou_that_rounds_just_below_the_threshold_still_counts():
    value = iou((0.2, 0.2 + 0.3), (0.2, 0.2 + 0.6))  # half, in decimal
    assert value < 0.5 and value == pytest.approx(0.5)
    assert moment_metrics([{1: value, 5: value}])["r1_iou0.5"] == 100.0
