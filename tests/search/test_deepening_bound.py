"""The re-rank's bound with the real X-CLIP re-rank (the tiny checkpoint's random weights, whose
prompts swamp the text so that the stopping estimate is never met), on a real library."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.query import build_db
from clipdex.encoder import XClipEncoder
from search.hits import hits_for, merge_top
from search.text import MAX_ROUNDS, SearchOptions, max_depth, search_text
from storage import repository as repo

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
        assert sum(counting.rounds) == max_depth(10) == 400 < CLIPS


def test_a_library_within_the_bound_gets_the_exhaustive_rerank(library) -> None:
    library, encoder = library
    k = 20  # max_depth(20) = 800: every clip of the 600 is re-ranked
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
