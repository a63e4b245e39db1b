"""Merging overlapping and adjacent hits of one video into spans."""

from __future__ import annotations

from search.hits import Hit, merge_top


def hit(clip, video, start, end, score):
    return Hit(clip, video, f"/v{video}.mp4", start, end, score)


def test_adjacent_hits_of_one_video_merge_with_best_score():
    hits = [hit(1, 1, 0, 10, 0.30), hit(2, 1, 10, 20, 0.25), hit(3, 2, 0, 10, 0.28)]
    merged = merge_top(hits, k=5)
    assert [(h.video_id, h.start_s, h.end_s, h.score, h.clip_id) for h in merged] == [
        (1, 0, 20, 0.30, 1),
        (2, 0, 10, 0.28, 3),
    ]


def test_separate_spans_of_one_video_stay_apart():
    merged = merge_top([hit(1, 1, 0, 10, 0.3), hit(5, 1, 40, 50, 0.2)], k=5)
    assert len(merged) == 2


def test_a_hit_bridging_two_spans_joins_them():
    hits = [hit(1, 1, 0, 10, 0.3), hit(3, 1, 20, 30, 0.29), hit(2, 1, 10, 20, 0.1)]
    (span,) = merge_top(hits, k=5)
    assert (span.start_s, span.end_s, span.clip_id) == (0, 30, 1)


def test_k_limits_spans_not_clips():
    hits = [hit(i, i, 0, 5, 1.0 - i / 100) for i in range(10)]
    assert [h.clip_id for h in merge_top(hits, k=3)] == [0, 1, 2]


def test_json_shape():
    assert hit(7, 3, 1.23456, 4.5, 0.5).to_json() == {
        "path": "/v3.mp4",
        "start": 1.235,
        "end": 4.5,
        "score": 0.5,
        "clip_id": 7,
        "video_id": 3,
    }
