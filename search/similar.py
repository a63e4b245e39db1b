"""Clips similar to a stored clip: nearest neighbours of its video embedding.

Minimal version for the web page's "similar clips"; no model is needed because the clip's
embedding is already stored.
"""

from __future__ import annotations

import numpy as np

from search.hits import Hit
from storage import repository as repo
from storage.library import Library


class ClipNotFoundError(LookupError):
    """The clip id is not in the library (never was, or its video was re-indexed or removed)."""

    def __init__(self, clip_id: int) -> None:
        self.clip_id = clip_id
        super().__init__(f"clip {clip_id} is not in the library")


def similar_to_clip(
    library: Library, clip_id: int, k: int = 10, *, exclude_same_video: bool = False
) -> list[Hit]:
    """The ``k`` clips nearest to ``clip_id`` by cosine, best first, without the clip itself.

    Scores are cosines of unit video embeddings (the same scale as ``search --no-rerank``).
    """
    with library.session() as session:
        embedding = repo.clip_embeddings([clip_id], session=session).get(clip_id)
        origin = repo.clip_hits([clip_id], session=session).get(clip_id)
    if embedding is None or origin is None:
        raise ClipNotFoundError(clip_id)
    vectors = library.vectors()
    depth = min(len(vectors), k + 1)
    while True:
        scores, ids = vectors.search(np.asarray(embedding, dtype=np.float32)[None, :], depth)
        found = [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0 and i != clip_id]
        with library.session() as session:
            rows = repo.clip_hits([i for i, _ in found], session=session)
        hits = [
            Hit(i, rows[i].video_id, rows[i].path, rows[i].start_s, rows[i].end_s, score)
            for i, score in found
            if i in rows and not (exclude_same_video and rows[i].video_id == origin.video_id)
        ]
        if len(hits) >= k or depth >= len(vectors):
            return hits[:k]
        depth = min(len(vectors), depth * 2)
