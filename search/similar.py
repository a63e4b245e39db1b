"""Similar clips: the nearest clips to a stored clip, or to any embedding, by cosine.

Both entry points rank clips by the cosine of X-CLIP video embeddings (FAISS inner product on
unit vectors). Unlike text search, hits are single clips, not merged spans: "where else does
this shot appear" wants the matching shot's own time span in each video, and a clip's
neighbours in time are other shots. The query clip itself is never a result.
"""

from __future__ import annotations

import numpy as np

from search.hits import Hit, hits_for
from storage import repository as repo
from storage.library import Library


class UnknownClipError(LookupError):
    """The clip id is not in the library (never was, or its video was re-indexed or removed)."""

    def __init__(self, clip_id: int) -> None:
        super().__init__(f"no clip with id {clip_id} in the library (see clipdex clips FILE)")
        self.clip_id = clip_id


def similar_to_clip(
    library: Library, clip_id: int, k: int = 10, *, exclude_same_video: bool = False
) -> list[Hit]:
    """The ``k`` clips most similar to stored clip ``clip_id``, best first."""
    with library.session() as session:
        embedding = repo.clip_embeddings([clip_id], session=session).get(clip_id)
        where = repo.clip_hits([clip_id], session=session).get(clip_id)
    if embedding is None or where is None:
        raise UnknownClipError(clip_id)
    return _nearest(
        library,
        embedding,
        k,
        exclude_clip=clip_id,
        exclude_video_id=where.video_id if exclude_same_video else None,
    )


def similar_to_embedding(
    library: Library, embedding: np.ndarray, k: int, *, exclude_video_id: int | None = None
) -> list[Hit]:
    """The ``k`` clips most similar to a video embedding (e.g. a file segment embedded on the
    fly with the library's model), best first."""
    return _nearest(library, embedding, k, exclude_clip=None, exclude_video_id=exclude_video_id)


def _nearest(
    library: Library,
    embedding: np.ndarray,
    k: int,
    *,
    exclude_clip: int | None,
    exclude_video_id: int | None,
) -> list[Hit]:
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    vector = np.asarray(embedding, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(vector))
    if not np.isfinite(norm) or norm == 0.0:
        raise ValueError("the query embedding must be finite and non-zero")
    vector = vector / norm
    index = library.vectors()
    total = len(index)
    if total == 0:
        return []
    # Excluded clips consume candidates: widen until k clips are found.
    depth = min(total, max(50, 10 * k))
    while True:
        scores, ids = index.search(vector[None, :], depth)
        found = [
            (int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0 and i != exclude_clip
        ]
        hits = [h for h in hits_for(library, found) if h.video_id != exclude_video_id]
        if len(hits) >= k or depth >= total:
            return hits[:k]
        depth = min(total, depth * 4)
