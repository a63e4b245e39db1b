"""Text search in two stages: FAISS recall with the plain text embedding, then X-CLIP re-rank.

X-CLIP conditions the text on each video (``text + prompts_generator(text, img_features)``), so
no single query vector can score every clip: stage one ranks all clips by the cosine of the
unconditioned text embedding, stage two re-scores the best candidates exactly as the model does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from search.hits import Hit, hits_for, merge_top
from storage import repository as repo
from storage.library import Library

logger = logging.getLogger(__name__)

MIN_DEPTH = 50
MAX_DEPTH = 2000


class TextEncoder(Protocol):
    """What text search needs from the model."""

    def encode_text(self, text: str) -> np.ndarray: ...

    def rerank(
        self, text_embedding: np.ndarray, features: np.ndarray, video_embeddings: np.ndarray
    ) -> np.ndarray: ...


@dataclass(frozen=True)
class SearchOptions:
    k: int = 10
    rerank: bool = True


def initial_depth(k: int) -> int:
    """How many candidates the re-rank starts with: ten per wanted hit (merging adjacent clips
    consumes candidates), at least MIN_DEPTH."""
    return max(MIN_DEPTH, 10 * k)


def search_text(
    library: Library, encoder: TextEncoder, query: str, options: SearchOptions = SearchOptions()
) -> list[Hit]:
    """The top ``k`` spans for ``query``, best first."""
    return merge_top(hits_for(library, rank_clips(library, encoder, query, options)), options.k)


def rank_clips(
    library: Library, encoder: TextEncoder, query: str, options: SearchOptions = SearchOptions()
) -> list[tuple[int, float]]:
    """(clip id, score) of the candidates for ``query``, best first: what ``search_text``
    merges into its ``k`` spans. With ``k`` at least the number of clips every clip is a
    candidate (and re-ranked), which is how ``clipdex eval`` ranks whole videos."""
    text = encoder.encode_text(query)
    unit = (text / (np.linalg.norm(text) or 1.0)).astype(np.float32)
    vectors = library.vectors()
    total = len(vectors)
    if total == 0:
        return []
    depth = min(total, initial_depth(options.k))
    scored: dict[int, float] = {}  # re-ranked so far: a deeper round scores only new clips
    while True:
        scores, ids = vectors.search(unit[None, :], depth)
        found = [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]
        if not options.rerank:
            return found
        scored.update(_rerank(library, encoder, text, [i for i, _ in found if i not in scored]))
        reranked = sorted(
            ((i, scored[i]) for i, _ in found if i in scored), key=lambda pair: -pair[1]
        )
        if depth >= min(total, MAX_DEPTH) or _stable(found, reranked, options.k):
            return reranked
        depth = min(total, MAX_DEPTH, depth * 2)


def _stable(found: list[tuple[int, float]], reranked: list[tuple[int, float]], k: int) -> bool:
    """True when no clip beyond the candidates is likely to enter the top ``k``.

    A clip outside the candidates has a recall score at most that of the last candidate; the
    re-rank moved candidates' scores by at most ``shift``; so if the k-th re-ranked score beats
    ``last + 2 * shift`` the result cannot change by looking deeper (up to that estimate)."""
    if len(reranked) < k:
        return True
    recall = dict(found)
    shift = max(abs(score - recall[i]) for i, score in reranked)
    kth = sorted((s for _, s in reranked), reverse=True)[k - 1]
    return kth >= found[-1][1] + 2 * shift


def _rerank(
    library: Library, encoder: TextEncoder, text: np.ndarray, ids: list[int]
) -> dict[int, float]:
    """Re-ranked scores of the clips ``ids`` that still exist."""
    if not ids:
        return {}
    with library.session() as session:
        inputs = repo.clip_rerank_inputs(ids, session=session)
    ids = [i for i in ids if i in inputs]
    if not ids:
        return {}
    scores = encoder.rerank(
        text, np.stack([inputs[i][0] for i in ids]), np.stack([inputs[i][1] for i in ids])
    )
    return dict(zip(ids, map(float, scores)))
