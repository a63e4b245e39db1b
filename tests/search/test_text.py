"""Text search's adaptive re-rank depth, on a real library (SQLite + FAISS) with a stand-in model
whose re-rank shifts are known."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from search.hits import hits_for, merge_top
from search.text import MAX_ROUNDS, SearchOptions, max_depth, search_text
from storage import repository as repo
from storage.library import Library
from storage.repository import ClipRecord
from tests.storage.records import small_settings, video_record

DIM = 16
DAY_NS = 86_400 * 10**9


class ShiftingEncoder:
    """Re-ranked score = recall cosine + a fixed per-clip shift of up to +-0.05."""

    def __init__(self, query: np.ndarray) -> None:
        self.query = query
        self.calls: list[int] = []

    def encode_text(self, text: str) -> np.ndarray:
        return self.query

    def rerank(self, text, features, video_embeddings) -> np.ndarray:
        self.calls.append(len(features))
        return video_embeddings @ self.query + _shift(video_embeddings)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x)).astype(np.float32)


def _shift(embeddings: np.ndarray) -> np.ndarray:
    return 0.05 * np.sin(1000 * embeddings[:, 0])  # deterministic per clip


def test_deeper_rounds_rerank_only_new_clips_and_match_an_exhaustive_rerank(tmp_path) -> None:
    settings = small_settings()
    assert settings.embed_dim == DIM
    rng = np.random.default_rng(7)
    with Library.open(tmp_path / "lib") as library:
        library.bind(settings)
        query = _unit(rng.standard_normal(DIM))
        # Every clip close to the query: recall scores packed within a few hundredths.
        with library.session() as session, session.begin():
            for v in range(20):
                clips = [
                    ClipRecord(
                        2.0 * c,
                        2.0 * c + 2.0,
                        _unit(query + 0.05 * rng.standard_normal(DIM)),
                        rng.standard_normal((4, DIM)).astype(np.float32),
                    )
                    for c in range(10)
                ]
                repo.save_indexed_video(video_record(f"/m/{v:02}.mp4"), clips, session=session)
        encoder = ShiftingEncoder(query)
        hits = search_text(library, encoder, "anything", SearchOptions(k=10))

        # The shifts (0.05) are wide next to the gaps between 200 recall scores, so search
        # doubles its depth until it has seen every clip; each round scores only new clips.
        assert encoder.calls == [100, 100]
        with library.session() as session:
            stored = repo.clip_embeddings(library.vectors().ids().tolist(), session=session)
        ids = list(stored)
        embeddings = np.stack([stored[i] for i in ids])
        scores = (embeddings @ query + _shift(embeddings)).tolist()
        exhaustive = sorted(zip(ids, scores), key=lambda pair: -pair[1])
        expected = merge_top(hits_for(library, exhaustive), 10)
    assert [(h.path, h.start_s, h.end_s) for h in hits] == [
        (h.path, h.start_s, h.end_s) for h in expected
    ]
    assert [h.score for h in hits] == [h.score for h in expected]


class SwampingEncoder(ShiftingEncoder):
    """Re-ranked score = recall cosine + a per-clip shift ten times the recall scores' spread:
    the stopping estimate is never met (as with random X-CLIP weights), so only the bound
    stops the deepening."""

    def rerank(self, text, features, video_embeddings) -> np.ndarray:
        self.calls.append(len(features))
        return video_embeddings @ self.query + 10 * _shift(video_embeddings)


def test_the_deepening_stops_at_its_bound_whatever_the_rerank_does(tmp_path) -> None:
    rng = np.random.default_rng(3)
    query = _unit(rng.standard_normal(DIM))
    with Library.open(tmp_path / "lib") as library:
        library.bind(small_settings())
        with library.session() as session, session.begin():
            for v in range(50):
                clips = [
                    ClipRecord(
                        3.0 * c,
                        3.0 * c + 2.0,
                        _unit(query + 0.05 * rng.standard_normal(DIM)),
                        rng.standard_normal((4, DIM)).astype(np.float32),
                    )
                    for c in range(20)
                ]
                repo.save_indexed_video(video_record(f"/m/{v:02}.mp4"), clips, session=session)
        assert len(library.vectors()) == 1000
        for k, rounds in ((10, MAX_ROUNDS), (10, 4), (5, 2), (10, 1)):
            encoder = SwampingEncoder(query)
            hits = search_text(library, encoder, "q", SearchOptions(k=k, max_rounds=rounds))
            assert len(hits) == k
            # Each round doubles the depth and scores only the clips new to it, up to the bound.
            first = max(50, 10 * k)
            assert encoder.calls == [first] + [first * 2**r for r in range(rounds - 1)]
            assert sum(encoder.calls) == max_depth(k, rounds) < 1000
    assert max_depth(10) == 200 and MAX_ROUNDS == 2


class ArithmeticEncoder:
    """Fixed text vectors; re-ranked score = cosine + a small per-(text, clip) shift, so the
    re-rank of a negative text differs from its recall score and from the positive's."""

    def __init__(self, texts: dict[str, np.ndarray]) -> None:
        self.texts = texts

    def encode_text(self, text: str) -> np.ndarray:
        return 3.0 * self.texts[text]  # not unit: search must normalise

    def rerank(self, text, features, video_embeddings) -> np.ndarray:
        unit = _unit(text)
        return video_embeddings @ unit + 0.002 * np.sin(1000 * video_embeddings @ unit)


KEEP = "/lib/keep/037.mp4"


@pytest.fixture(scope="module")
def large_library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Library, dict]]:
    """4,800 clips of 20 videos; the one video under /lib/keep (50 clips, about 1 %) is recorded
    a day later, lasts longer, and holds the clips least like the query "q". Clips are 2 s
    with 1 s gaps, so hits never merge. Yields the library and the encoder's text vectors."""
    rng = np.random.default_rng(11)
    query = _unit(rng.standard_normal(DIM))
    texts = {
        "q": query,
        "n": _unit(query + 0.7 * rng.standard_normal(DIM)),  # a negative close to the query
        "o": _unit(rng.standard_normal(DIM)),
    }
    with Library.open(tmp_path_factory.mktemp("large") / "lib") as library:
        library.bind(small_settings())
        with library.session() as session, session.begin():
            for v in range(20):
                path = KEEP if v == 19 else f"/lib/other/{v:03}.mp4"
                sign, n = (-1.0, 50) if path == KEEP else (1.0, 250)
                clips = [
                    ClipRecord(
                        3.0 * c,
                        3.0 * c + 2.0,
                        _unit(sign * query + 0.8 * rng.standard_normal(DIM)),
                        rng.standard_normal((4, DIM)).astype(np.float32),
                    )
                    for c in range(n)
                ]
                record = video_record(path)
                if path == KEEP:
                    record.mtime_ns += DAY_NS
                    record.duration_s = 150.0
                repo.save_indexed_video(record, clips, session=session)
        yield library, texts


def _exhaustive(library: Library, score, ids: list[int] | None = None) -> list:
    """Every clip (or the clips ``ids``) scored by ``score(embeddings matrix)``, best first."""
    with library.session() as session:
        stored = repo.clip_embeddings(
            ids if ids is not None else library.vectors().ids().tolist(), session=session
        )
    order = list(stored)
    scores = score(np.stack([stored[i] for i in order]))
    return sorted(zip(order, map(float, scores)), key=lambda pair: -pair[1])[:50]


def _spans(hits) -> list[tuple]:
    return [(h.path, h.start_s, h.end_s, h.clip_id) for h in hits]


def test_filters_keeping_one_percent_still_return_k_hits_equal_to_an_exhaustive_search(
    large_library,
) -> None:
    library, texts = large_library
    query = texts["q"]
    encoder = ArithmeticEncoder(texts)
    unfiltered = search_text(library, encoder, "q", SearchOptions(k=10))
    assert not any(h.path == KEEP for h in unfiltered)
    keep_day = video_record(KEEP).mtime_ns + DAY_NS
    filters = [
        repo.VideoFilter(folders=("/lib/keep",)),
        repo.VideoFilter(after_ns=keep_day),
        repo.VideoFilter(min_duration_s=100.0, before_ns=keep_day + 1),
        repo.VideoFilter(folders=("/lib",), max_duration_s=150.0, min_duration_s=150.0),
    ]
    with library.session() as session:
        kept = repo.clip_ids_matching(filters[0], session=session).tolist()
    assert len(kept) == 50 and len(library.vectors()) == 4800  # about 1 %
    for rerank in (True, False):
        score = (lambda e: encoder.rerank(query, None, e)) if rerank else (lambda e: e @ query)
        expected = merge_top(hits_for(library, _exhaustive(library, score, kept)), 10)
        for only in filters:
            hits = search_text(library, encoder, "q", SearchOptions(10, rerank, only=only))
            assert len(hits) == 10 and all(h.path == KEEP for h in hits)
            assert _spans(hits) == _spans(expected)
            np.testing.assert_allclose(
                [h.score for h in hits], [h.score for h in expected], rtol=1e-5, atol=1e-6
            )
    # --min-score cuts the same ranking at the score asked for (between the 5th and 6th).
    cut = (expected[4].score + expected[5].score) / 2
    options = SearchOptions(k=10, rerank=False, min_score=cut, only=filters[0])
    assert _spans(search_text(library, encoder, "q", options)) == _spans(expected[:5])
    nowhere = repo.VideoFilter(folders=("/lib/nowhere",))
    assert search_text(library, encoder, "q", SearchOptions(only=nowhere)) == []


def test_negative_texts_enter_recall_and_rerank_as_a_difference(large_library) -> None:
    library, texts = large_library
    encoder = ArithmeticEncoder(texts)
    query, negative, other = texts["q"], texts["n"], texts["o"]
    plain = search_text(library, encoder, "q", SearchOptions(k=10, rerank=False))
    terms = [(1.0, query), (-1.0, negative), (-1.0, other)]

    def recall_score(e: np.ndarray) -> np.ndarray:
        return e @ query - e @ negative - e @ other

    def rerank_score(e: np.ndarray) -> np.ndarray:
        return sum(sign * encoder.rerank(t, None, e) for sign, t in terms)

    for rerank, score in ((False, recall_score), (True, rerank_score)):
        expected = merge_top(hits_for(library, _exhaustive(library, score)), 10)
        options = SearchOptions(k=10, rerank=rerank, negatives=("n", "o"))
        hits = search_text(library, encoder, "q", options)
        assert _spans(hits) == _spans(expected)
        np.testing.assert_allclose(
            [h.score for h in hits], [h.score for h in expected], rtol=1e-5, atol=1e-5
        )
    assert _spans(hits) != _spans(plain)
