"""Search results and the merging of overlapping or adjacent hits of one video."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from search.catalog import Catalog

ADJACENT_S = 0.05  # clips closer than this are one continuous span


@dataclass(frozen=True)
class Hit:
    """A ranked, timestamped result. ``clip_id`` is the best clip inside the span."""

    clip_id: int
    video_id: int
    path: str
    start_s: float
    end_s: float
    score: float

    def to_json(self) -> dict:
        return span_json(self)


def span_json(hit: Hit) -> dict:
    """The keys every search hit has in JSON (``search.fusion.FusedHit`` adds its own)."""
    return {
        "path": hit.path,
        "start": round(hit.start_s, 3),
        "end": round(hit.end_s, 3),
        "score": round(float(hit.score), 6),
        "clip_id": hit.clip_id,
        "video_id": hit.video_id,
    }


def _touches(a: Hit, b: Hit) -> bool:
    return (
        a.video_id == b.video_id
        and a.start_s <= b.end_s + ADJACENT_S
        and b.start_s <= a.end_s + ADJACENT_S
    )


def _join(a: Hit, b: Hit) -> Hit:
    best = a if a.score >= b.score else b
    return Hit(
        clip_id=best.clip_id,
        video_id=a.video_id,
        path=a.path,
        start_s=min(a.start_s, b.start_s),
        end_s=max(a.end_s, b.end_s),
        score=best.score,
    )


def merge_top(hits: Iterable[Hit], k: int) -> list[Hit]:
    """Walk hits best first, joining each to any span of the same video it overlaps or touches,
    until ``k`` spans exist. A span's score is its best clip's score."""
    return _merge_walk(sorted(hits, key=lambda h: -h.score), k)


def top_spans(library: Catalog, scored: list[tuple[int, float]], k: int) -> list[Hit]:
    """``merge_top(hits_for(library, scored), k)``, reading where the clips are only as far as
    the walk goes: ``2 * k`` clips at a time, best first. The walk usually stops after about
    ``k`` of a search's 100 or more candidates, and on a library larger than the page cache
    each clip read is a random read of the disk (issue 16)."""
    ordered = sorted(scored, key=lambda pair: -pair[1])
    chunk = max(1, 2 * k)

    def hits() -> Iterator[Hit]:
        for start in range(0, len(ordered), chunk):
            yield from hits_for(library, ordered[start : start + chunk])

    return _merge_walk(hits(), k)


def _merge_walk(hits: Iterable[Hit], k: int) -> list[Hit]:
    """``merge_top`` of hits already best first; stops reading them once ``k`` spans exist and
    the next hit touches none."""
    spans: list[Hit] = []
    for hit in hits:
        touching = [s for s in spans if _touches(s, hit)]
        if not touching and len(spans) >= k:
            break
        for span in touching:
            spans.remove(span)
            hit = _join(span, hit)
        spans.append(hit)
    return sorted(spans, key=lambda h: -h.score)[:k]


def hits_for(library: Catalog, scored: list[tuple[int, float]]) -> list[Hit]:
    """Hits for scored clip ids, in the given order; ids no longer stored are dropped."""
    rows = library.clip_hits([i for i, _ in scored])
    return [
        Hit(i, rows[i].video_id, rows[i].path, rows[i].start_s, rows[i].end_s, score)
        for i, score in scored
        if i in rows
    ]
