"""The re-rank's bound with the real X-CLIP re-rank (the tiny checkpoint's random weights, whose
prompts swamp the text so that the stopping estimate is never met), on a real library."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import event

from benchmarks.query import build_db
from clipdex.encoder import XClipEncoder
from search.hits import hits_for, merge_top
from search.text import MAX_ROUNDS, SearchOptions, max_depth, search_text
from storage import repository as repo
from storage import shortlist as shortlists

CLIPS = 600


class Counting:
    """The real encoder, recording how many candidates each re-rank round scores."""

    def __init__(self, encoder: XClipEncoder) -> None:
        self.encoder = encoder
        self.rounds: list[int] = []

    def encode_text(self, text: str) -> np.ndarray:
        return self.encoder.encode_text(text)

    def rerank(self, text, features, video_embeddings) -> np.ndarray:
        self.rounds.append(len(features))
        return self.encoder.rerank(text, features, video_embeddings)


@pytest.fixture(scope="module")
def library(tmp_path_factory, xclip_checkpoint):
    encoder = XClipEncoder(str(xclip_checkpoint))
    library = build_db(tmp_path_factory.mktemp("deepening") / "lib", encoder, CLIPS)
    yield library, encoder
    library.close()


def _exhaustive(library, encoder, text: np.ndarray, k: int) -> list:
    """The top ``k`` spans of a re-rank of every clip in the library."""
    ids = library.vectors().ids().tolist()
    with library.session() as session:
        inputs = repo.clip_rerank_inputs(ids, session=session)
    features = np.stack([inputs[i][0] for i in ids])
    scores = encoder.rerank(text, features, np.stack([inputs[i][1] for i in ids]))
    ranked = sorted(zip(ids, map(float, scores)), key=lambda pair: -pair[1])
    return merge_top(hits_for(library, ranked), k)


def test_random_weights_deepen_only_to_the_bound(library) -> None:
    library, encoder = library
    for query in ("a dog jumping into a lake", "people dancing at night"):
        counting = Counting(encoder)
        hits = search_text(library, counting, query, SearchOptions(k=10))
        assert len(hits) == 10
        # Random weights never satisfy the stopping estimate: the bound is what stops them.
        assert len(counting.rounds) == MAX_ROUNDS
        assert sum(counting.rounds) == max_depth(10) == 200 < CLIPS


def test_a_library_within_the_bound_gets_the_exhaustive_rerank(library) -> None:
    library, encoder = library
    k = 30  # max_depth(30) = 600: every clip of the 600 is re-ranked
    for query in ("a dog jumping into a lake", "red shapes moving"):
        counting = Counting(encoder)
        hits = search_text(library, counting, query, SearchOptions(k=k))
        assert sum(counting.rounds) == CLIPS
        expected = _exhaustive(library, encoder, encoder.encode_text(query), k)
        assert [(h.path, h.start_s, h.end_s) for h in hits] == [
            (h.path, h.start_s, h.end_s) for h in expected
        ]
        np.testing.assert_allclose(
            [h.score for h in hits], [h.score for h in expected], rtol=1e-5, atol=1e-6
        )


class JoinedEmbeddings:
    """The library read as the re-rank read it before issue 16's change: every candidate's
    embedding joined from ``clips`` with its features (``repository.clip_rerank_inputs``
    given no embeddings)."""

    def __init__(self, library) -> None:
        self.library = library

    def __getattr__(self, name: str):
        return getattr(self.library, name)

    def clip_rerank_inputs(self, clip_ids: list[int]) -> dict:
        with self.library.session() as session:
            return repo.clip_rerank_inputs(clip_ids, session=session)


@pytest.mark.parametrize("kind", ["flat", "pq-shortlist"])
def test_scores_with_the_indexs_embeddings_are_bit_identical(library, monkeypatch, kind) -> None:
    """The real X-CLIP re-rank of every clip, and whole searches, score exactly as with every
    embedding read from the database, and no embedding is read from it (the index holds them
    all), with the exact index alone and with a shortlist beside it (its threshold lowered)."""
    library, encoder = library
    if kind == "pq-shortlist":
        monkeypatch.setattr(shortlists, "SHORTLIST_MIN_CLIPS", CLIPS // 2)
        monkeypatch.setattr(shortlists, "SHORTLIST_DROP_CLIPS", CLIPS // 4)
    assert library.vectors().kind == kind
    reads: list[str] = []

    def record(_conn, _cursor, statement: str, *_args) -> None:
        reads.extend([statement] if "clips.embedding" in statement else [])

    event.listen(library.engine, "before_cursor_execute", record)
    try:
        ids = library.vectors().ids().tolist()
        text = encoder.encode_text("a dog jumping into a lake")
        scores = []
        for catalog in (JoinedEmbeddings(library), library):
            inputs = catalog.clip_rerank_inputs(ids)
            features = np.stack([inputs[i][0] for i in ids])
            embeddings = np.stack([inputs[i][1] for i in ids])
            scores.append(encoder.rerank(text, features, embeddings))
        assert len(reads) == 2  # the joined reads, in two chunks of ids
        assert scores[0].tobytes() == scores[1].tobytes()
        options = SearchOptions(k=10, negatives=("a cat",))
        for query in ("a dog jumping into a lake", "red shapes moving"):
            expected = search_text(JoinedEmbeddings(library), encoder, query, options)
            joined = len(reads)
            assert search_text(library, encoder, query, options) == expected
            assert len(reads) == joined
    finally:
        event.remove(library.engine, "before_cursor_execute", record)
