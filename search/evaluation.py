"""Running a benchmark's captions through text search, with and without re-rank.

Every number comes from the search code ``clipdex search`` runs (``search/text.py``):

- A caption's video rank: ``rank_clips`` with ``k`` = every clip in the library, so every clip
  is a candidate (and, with re-rank, re-ranked); each video scores its best clip's score, and
  ``search.metrics.video_rank`` counts the videos scoring strictly higher.
- A moment caption's spans: ``search_text`` with ``k`` = 1 and ``k`` = 5, i.e. exactly the spans
  ``clipdex search -k 1`` and ``-k 5`` print (adjacent hits of a video merged).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from search.metrics import MOMENT_TOP, best_by_video, best_iou, video_rank
from search.text import SearchOptions, TextEncoder, rank_clips, search_text
from storage import repository as repo
from storage.library import Library

MODES = {"rerank": True, "no_rerank": False}


@dataclass(frozen=True)
class Query:
    """A caption to run: ``path`` is the right video as the library stores it (absolute),
    ``span`` the annotated moment (seconds) or None."""

    path: str
    text: str
    span: tuple[float, float] | None = None


@dataclass(frozen=True)
class Outcome:
    """How one query fared in one mode: the right video's rank, and for a moment query the
    best IoU of a right-video span among the top n spans for each n of MOMENT_TOP."""

    rank: int
    best_iou: dict[int, float]


def evaluate(
    library: Library,
    encoder: TextEncoder,
    queries: Sequence[Query],
    *,
    on_query: Callable[[], None] | None = None,
) -> dict[str, list[Outcome]]:
    """Each query's outcome in each mode of MODES (``{"rerank": [...], "no_rerank": [...]}``),
    in the order of ``queries``; ``on_query`` is called after each query."""
    everything = len(library.vectors())
    remembered = _RememberedText(encoder)
    paths: dict[int, str] = {}  # clip id -> its video's path, read once for all queries
    outcomes: dict[str, list[Outcome]] = {mode: [] for mode in MODES}
    for query in queries:
        for mode, rerank in MODES.items():
            outcome = _outcome(library, remembered, query, rerank, everything, paths)
            outcomes[mode].append(outcome)
        if on_query is not None:
            on_query()
    return outcomes


def _outcome(
    library: Library,
    encoder: TextEncoder,
    query: Query,
    rerank: bool,
    everything: int,
    paths: dict[int, str],
) -> Outcome:
    ranked = rank_clips(library, encoder, query.text, SearchOptions(everything, rerank))
    unknown = [i for i, _ in ranked if i not in paths]
    if unknown:
        with library.session() as session:
            paths.update((i, h.path) for i, h in repo.clip_hits(unknown, session=session).items())
    best = best_by_video((paths[i], score) for i, score in ranked if i in paths)
    ious: dict[int, float] = {}
    if query.span is not None:
        for n in MOMENT_TOP:
            spans = search_text(library, encoder, query.text, SearchOptions(n, rerank))
            right = [(h.start_s, h.end_s) for h in spans if h.path == query.path]
            ious[n] = best_iou(query.span, right)
    return Outcome(video_rank(query.path, best), ious)


class _RememberedText:
    """The encoder, with the last text embedding kept: one caption is searched several times
    (two modes, several depths) and the text tower would give the same vector each time."""

    def __init__(self, encoder: TextEncoder) -> None:
        self._encoder = encoder
        self._text: str | None = None
        self._embedding: np.ndarray | None = None

    def encode_text(self, text: str) -> np.ndarray:
        if text != self._text or self._embedding is None:
            self._text, self._embedding = text, self._encoder.encode_text(text)
        return self._embedding

    def rerank(
        self, text_embedding: np.ndarray, features: np.ndarray, video_embeddings: np.ndarray
    ) -> np.ndarray:
        return self._encoder.rerank(text_embedding, features, video_embeddings)
