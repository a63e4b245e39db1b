"""The plain values a search reads from a library: which videos (``VideoFilter``) and where a
clip is (``ClipHit``), how ids are batched into queries (``id_chunks``), and the SQL that finds
the clip playing at a time (``clips_at_statements``).

Free of SQLAlchemy, so that both readers of a library return them: ``storage.library.Library``
(through ``storage.repository``) and ``storage.sqlite_reader.SqliteReader``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

# Ids per IN (...): well under every backend's limit on bound parameters.
IN_CHUNK = 500
# Places per statement in ``clips_at_statements``: two subqueries each, far below PostgreSQL's
# 1,664 columns and SQLite's 2,000.
PLACES_PER_STATEMENT = 200
# The clip playing at a place (names of storage.models). Written as SQL text: built with
# SQLAlchemy's expressions, a statement of 10 places cost 4-16 ms to build and run against
# 1-2.5 ms for the same SQL as text (a search asks it for every hit found by words alone).
_CLIP_PLAYING = (
    "coalesce((SELECT id FROM clips WHERE video_id = :v{n} AND start_s <= :t{n} "
    "ORDER BY start_s DESC, id LIMIT 1), "
    "(SELECT id FROM clips WHERE video_id = :v{n} ORDER BY start_s LIMIT 1))"
)


@dataclass(frozen=True)
class VideoFilter:
    """Which videos a search may return; a field left at None (or no folders) does not filter.

    ``folders`` are absolute paths (a video at or under any of them passes). Recording time is
    the file's mtime (``after_ns`` inclusive, ``before_ns`` exclusive, nanoseconds since the
    epoch): the schema stores no container creation time. Durations are the probed length in
    seconds, both bounds inclusive.
    """

    folders: tuple[str, ...] = ()
    after_ns: int | None = None
    before_ns: int | None = None
    min_duration_s: float | None = None
    max_duration_s: float | None = None

    def __bool__(self) -> bool:
        """True when the filter excludes anything at all."""
        bounds = (self.after_ns, self.before_ns, self.min_duration_s, self.max_duration_s)
        return bool(self.folders) or any(b is not None for b in bounds)


@dataclass(frozen=True)
class ClipHit:
    """Where a clip is: what a search result needs besides its score."""

    clip_id: int
    video_id: int
    path: str
    start_s: float
    end_s: float


def folder_prefixes(roots: Iterable[str]) -> list[tuple[str, str]]:
    """(the root itself, the prefix of every path inside it) per root: ``/a/b`` is at or under
    ``/a/b`` when it equals ``/a/b`` or starts with ``/a/b/``, never ``/a/bc``."""
    found = []
    for root in roots:
        trimmed = root.rstrip(os.sep) or os.sep
        found.append((trimmed, trimmed if trimmed.endswith(os.sep) else trimmed + os.sep))
    return found


def id_chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    """The distinct ``ids``, ascending, in lists of at most ``IN_CHUNK`` (one query each)."""
    unique = sorted({int(i) for i in ids})
    for start in range(0, len(unique), IN_CHUNK):
        yield unique[start : start + IN_CHUNK]


def clips_at_statements(places: list[tuple[int, float]]) -> Iterator[tuple[str, dict]]:
    """(SQL, named parameters) of statements that each return one row: for each (video id,
    time) of up to ``PLACES_PER_STATEMENT`` places, in order, the id of the clip playing then
    (the video's last clip starting at or before it, else its first), or NULL for a video
    without clips. Both readers run them (sqlite3 and SQLAlchemy's ``text`` take ``:name``)."""
    for start in range(0, len(places), PLACES_PER_STATEMENT):
        chunk = places[start : start + PLACES_PER_STATEMENT]
        sql = "SELECT " + ", ".join(_CLIP_PLAYING.format(n=n) for n in range(len(chunk)))
        params: dict[str, int | float] = {}
        for n, (video_id, time_s) in enumerate(chunk):
            params[f"v{n}"], params[f"t{n}"] = int(video_id), float(time_s)
        yield sql, params
