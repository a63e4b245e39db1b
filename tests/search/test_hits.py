"""Merging overlapping and adjacent hits of one video into spans."""

from __future__ import annotations

import numpy as np

from search.hits import Hit, hits_for, merge_top, top_spans
from storage.library import Library
from tests.storage.records import add_video, small_settings


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


class CountingReads:
    """A real library, recording how many clip ids each ``clip_hits`` asks for."""

    def __init__(self, library: Library) -> None:
        self.library = library
        self.asked: list[int] = []

    def clip_hits(self, clip_ids: list[int]) -> dict:
        self.asked.append(len(clip_ids))
        return self.library.clip_hits(clip_ids)


def test_top_spans_reads_only_what_the_walk_needs_and_merges_as_merge_top(tmp_path) -> None:
    """On a real library of adjacent clips (which merge), with tied scores and a vanished id:
    the same spans as ``merge_top`` over every candidate's hit, reading 2k clips at a time."""
    rng = np.random.default_rng(3)
    with Library.open(tmp_path / "lib") as library:
        settings = library.bind(small_settings())
        ids: list[int] = []
        for v in range(30):
            ids += add_video(library, f"/m/{v}.mp4", 5, rng)[1]
        scores = np.round(rng.random(len(ids)), 1)  # many ties: order among them must hold
        scored = [(i, float(s)) for i, s in zip(ids, scores)] + [(10_000, 0.95)]
        assert settings.embed_dim
        for k in (1, 3, 10, 200):
            counting = CountingReads(library)
            got = top_spans(counting, scored, k)
            assert got == merge_top(hits_for(library, scored), k)
            assert all(n <= 2 * k for n in counting.asked)
            if k <= 10:
                assert sum(counting.asked) < len(scored) // 2
