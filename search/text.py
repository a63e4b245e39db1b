"""Text search in two stages: FAISS recall with the plain text embedding, then X-CLIP re-rank.

X-CLIP conditions the text on each video (``text + prompts_generator(text, img_features)``), so
no single query vector can score every clip: stage one ranks all clips by the cosine of the
unconditioned text embedding, stage two re-scores the best candidates exactly as the model does.

Negative texts (``--not``) subtract their score in both stages (see ``recall_direction``); a
filter restricts stage one to the matching clip ids, so it never costs hits; ``min_score`` cuts
the final, merged hits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from search.catalog import Catalog
from search.hits import Hit, top_spans
from storage.search_reads import VideoFilter

logger = logging.getLogger(__name__)

MIN_DEPTH = 50
# The bound on a query's re-rank, whatever the model's weights do: at most MAX_ROUNDS rounds,
# the depth doubling between them, so at most ``max_depth(k)`` = 2 x ``initial_depth(k)``
# candidates are fetched and re-ranked (200 for k = 10). The stopping rule (``_stable``) is an
# estimate that random weights never satisfy (their prompts swamp the text: the re-rank is
# uncorrelated with recall), and before any bound a query doubled its depth up to 2,000
# candidates (1.5 s cold at 400k clips, issue 16). Why 2 rounds and not 3: on 100k clips the
# stand-ins for trained weights (shares 0.1 and 0.3) agreed with an exhaustive re-rank on
# 100 of 100 queries at 2 rounds as at 3 (benchmarks/deepening.py), while a whole search
# that takes every round (random weights) took 147 / 190 ms p50 / p99 cold at 1M clips with
# 3 rounds and 83 / 97 with 2, against issue 16's 150 ms p99 (benchmarks/real_db.py --bounded).
MAX_ROUNDS = 2


class TextEncoder(Protocol):
    """What text search needs from the model."""

    def encode_text(self, text: str) -> np.ndarray: ...

    def rerank(
        self, text_embedding: np.ndarray, features: np.ndarray, video_embeddings: np.ndarray
    ) -> np.ndarray: ...


@dataclass(frozen=True)
class SearchOptions:
    """How to search. ``negatives`` are texts to steer away from (``--not``); ``min_score``
    drops hits scoring below it; ``only`` restricts the search to matching videos;
    ``max_rounds`` bounds the re-rank's deepening (``max_depth``)."""

    k: int = 10
    rerank: bool = True
    min_score: float | None = None
    negatives: tuple[str, ...] = ()
    only: VideoFilter | None = None
    max_rounds: int = MAX_ROUNDS


def initial_depth(k: int) -> int:
    """How many candidates the re-rank starts with: ten per wanted hit (merging adjacent clips
    consumes candidates), at least MIN_DEPTH."""
    return max(MIN_DEPTH, 10 * k)


def max_depth(k: int, rounds: int = MAX_ROUNDS) -> int:
    """The most candidates one query re-ranks over all its ``rounds``: the depth after
    ``rounds - 1`` doublings of ``initial_depth(k)``."""
    return initial_depth(k) * 2 ** (max(1, rounds) - 1)


def recall_direction(texts: list[np.ndarray]) -> tuple[np.ndarray, float]:
    """The stage-one query vector for a positive text and negative texts, and its scale.

    A clip's recall score is ``cos(pos, v) - sum_j cos(neg_j, v)``, rclip's arithmetic on
    unit text embeddings. It equals ``scale * (direction . v)`` for the unit vector
    ``direction = d / |d|`` with ``d = unit(pos) - sum_j unit(neg_j)`` and ``scale = |d|``: one
    inner-product search ranks every clip exactly by the difference.
    """
    units = [(t / (np.linalg.norm(t) or 1.0)).astype(np.float32) for t in texts]
    if len(units) == 1:
        return units[0], 1.0
    combined = units[0] - np.sum(units[1:], axis=0)
    scale = float(np.linalg.norm(combined)) or 1.0
    return (combined / scale).astype(np.float32), scale


def search_text(
    library: Catalog, encoder: TextEncoder, query: str, options: SearchOptions = SearchOptions()
) -> list[Hit]:
    """The top ``k`` spans for ``query``, best first."""
    return _top(library, rank_clips(library, encoder, query, options), options)


def rank_clips(
    library: Catalog, encoder: TextEncoder, query: str, options: SearchOptions = SearchOptions()
) -> list[tuple[int, float]]:
    """(clip id, score) of the candidates for ``query``, best first: what ``search_text``
    merges into its ``k`` spans. With ``k`` at least the number of clips every clip is a
    candidate (and re-ranked), which is how ``clipdex eval`` ranks whole videos."""
    texts = [encoder.encode_text(t) for t in (query, *options.negatives)]
    direction, scale = recall_direction(texts)
    vectors = library.vectors()
    among = _matching_ids(library, options.only)
    total = len(vectors) if among is None else min(len(vectors), len(among))
    if total == 0:
        return []
    depth = min(total, initial_depth(options.k))
    deepest = min(total, max_depth(options.k, options.max_rounds))
    scored: dict[int, float] = {}  # re-ranked so far: a deeper round scores only new clips
    while True:
        scores, ids = vectors.search(direction[None, :], depth, among=among)
        found = [(int(i), float(s) * scale) for i, s in zip(ids[0], scores[0]) if i >= 0]
        if not options.rerank:
            return found
        scored.update(_rerank(library, encoder, texts, [i for i, _ in found if i not in scored]))
        reranked = sorted(
            ((i, scored[i]) for i, _ in found if i in scored), key=lambda pair: -pair[1]
        )
        if depth >= deepest or _stable(found, reranked, options.k):
            return reranked
        depth = min(deepest, depth * 2)


def _matching_ids(library: Catalog, only: VideoFilter | None) -> np.ndarray | None:
    """The clip ids a filter lets through, or None when there is nothing to filter."""
    if not only:
        return None
    return library.clip_ids_matching(only)


def _top(library: Catalog, scored: list[tuple[int, float]], options: SearchOptions) -> list[Hit]:
    """The best ``k`` merged spans, less those scoring below ``min_score``."""
    hits = top_spans(library, scored, options.k)
    if options.min_score is None:
        return hits
    return [hit for hit in hits if hit.score >= options.min_score]


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
    library: Catalog, encoder: TextEncoder, texts: list[np.ndarray], ids: list[int]
) -> dict[int, float]:
    """Re-ranked scores of the clips ``ids`` that still exist: the positive text's X-CLIP score
    less each negative text's, every one conditioned on the clip as the model does."""
    if not ids:
        return {}
    inputs = library.clip_rerank_inputs(ids)
    ids = [i for i in ids if i in inputs]
    if not ids:
        return {}
    features = np.stack([inputs[i][0] for i in ids])
    embeddings = np.stack([inputs[i][1] for i in ids])
    scores = encoder.rerank(texts[0], features, embeddings)
    for negative in texts[1:]:
        scores = scores - encoder.rerank(negative, features, embeddings)
    return dict(zip(ids, map(float, scores)))
