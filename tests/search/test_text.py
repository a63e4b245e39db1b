"""Text search's adaptive re-rank depth, on a real library (SQLite + FAISS) with a stand-in model
whose re-rank shifts are known."""

from __future__ import annotations

import numpy as np

from search.hits import hits_for, merge_top
from search.text import SearchOptions, search_text
from storage import repository as repo
from storage.library import Library
from storage.repository import ClipRecord
from tests.storage.records import small_settings, video_record

DIM = 16


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
            for v in range(40):
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

        # The shifts (0.05) are wide next to the gaps between 400 recall scores, so search
        # doubles its depth until it has seen every clip; each round scores only new clips.
        assert encoder.calls == [100, 100, 200]
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
