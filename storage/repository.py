"""Queries and changes on videos and clips.

Every function takes ``*, session`` and never commits: the transaction belongs to the caller,
so a video and all of its clips are committed together or not at all. Every function that
changes videos or clips bumps the library generation once, inside that transaction, and stamps
new clips and tombstones with it; that is what lets a FAISS index catch up incrementally.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np
from sqlalchemy import ColumnElement, bindparam, delete, func, insert, or_, select, text, update
from sqlalchemy.orm import Session

from storage import feature_codec
from storage.codec import decode_embedding, encode_embedding
from storage.errors import StorageError
from storage.models import (
    LIBRARY_ROW_ID,
    STATUS_FAILED,
    STATUS_INDEXED,
    Clip,
    ClipFeaturesRow,
    ClipTombstone,
    LibraryRow,
    TranscriptLineRow,
    Video,
    utcnow,
)
from storage.search_reads import (
    ClipHit,
    VideoFilter,
    clips_at_statements,
    folder_prefixes,
    id_chunks,
)


@dataclass
class VideoRecord:
    """What probing a readable file found; ``path`` is absolute."""

    path: str
    size_bytes: int
    mtime_ns: int
    fingerprint: str | None
    duration_s: float | None
    fps: float | None
    width: int | None
    height: int | None
    codec: str | None
    rotation: int = 0


@dataclass
class ClipRecord:
    """One clip to store: its time range, video embedding (dim,) and features (tokens, dim)."""

    start_s: float
    end_s: float
    embedding: np.ndarray
    features: np.ndarray


def bump_generation(session: Session) -> int:
    """Increment the library generation in the caller's transaction and return the new value.

    The UPDATE takes the write lock (SQLite) or the row lock (PostgreSQL) first thing, so
    concurrent writers are serialised and generations commit in order.
    """
    result = session.execute(
        update(LibraryRow)
        .where(LibraryRow.id == LIBRARY_ROW_ID)
        .values(generation=LibraryRow.generation + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise StorageError("the library is not bound to a model yet: call Library.bind first")
    return int(session.scalar(select(LibraryRow.generation).where(LibraryRow.id == LIBRARY_ROW_ID)))


def _stored_shape(session: Session) -> tuple[int, int]:
    """(embed_dim, feature_tokens) of the bound library."""
    dim, tokens, _ = _stored_layout(session)
    return dim, tokens


def _stored_layout(session: Session) -> tuple[int, int, str]:
    """(embed_dim, feature_tokens, feature_encoding) of the bound library."""
    row = session.execute(
        select(LibraryRow.embed_dim, LibraryRow.feature_tokens, LibraryRow.feature_encoding).where(
            LibraryRow.id == LIBRARY_ROW_ID
        )
    ).first()
    if row is None:
        raise StorageError("the library is not bound to a model yet: call Library.bind first")
    return int(row[0]), int(row[1]), str(row[2])


def _by_path(videos: Iterable[Video]) -> list[Video]:
    """Videos in code-point order of their paths, whatever the database's collation.

    ORDER BY follows the collation: byte order in SQLite, but usually a language rule on a
    PostgreSQL server (en-US puts ``/A/b`` between ``/a/b`` and ``/a/b/x``), so the order is
    fixed here instead, the same on every backend.
    """
    return sorted(videos, key=lambda video: video.path)


def _remove_clips(video_id: int, generation: int, session: Session) -> None:
    """Tombstone and delete the clips of one video."""
    clip_ids = session.scalars(select(Clip.id).where(Clip.video_id == video_id)).all()
    if not clip_ids:
        return
    session.execute(
        insert(ClipTombstone), [{"clip_id": i, "generation": generation} for i in clip_ids]
    )
    # Their features go with them: clip_features.clip_id is ON DELETE CASCADE.
    session.execute(delete(Clip).where(Clip.video_id == video_id))


def _forget_content(video_id: int, generation: int, session: Session) -> None:
    """Remove what a row's old content gave it, before the row describes new content: its
    clips (tombstoned) and its transcript lines (the caller stores the new file's, if any)."""
    _remove_clips(video_id, generation, session)
    session.execute(delete(TranscriptLineRow).where(TranscriptLineRow.video_id == video_id))


def _drop_video(video: Video, generation: int, session: Session) -> None:
    """Tombstone a video's clips and delete its row, flushed so its path is free at once."""
    _remove_clips(video.id, generation, session)
    session.delete(video)
    session.flush()


def _normalised(embedding: np.ndarray, dim: int) -> np.ndarray:
    vector = np.asarray(embedding, dtype=np.float32).reshape(-1)
    if vector.shape != (dim,):
        raise ValueError(f"embedding has shape {np.shape(embedding)}, the library stores ({dim},)")
    norm = float(np.linalg.norm(vector))
    if not np.isfinite(norm) or norm == 0.0:
        raise ValueError("embedding must be finite and non-zero to be L2-normalised")
    return vector / norm


def _clip_rows(
    video_id: int, clips: list[ClipRecord], generation: int, layout: tuple[int, int, str]
) -> tuple[list[dict], list[bytes]]:
    """The clips' rows for ``clips`` and, in the same order, their encoded features."""
    dim, tokens, encoding = layout
    rows, features = [], []
    for clip in clips:
        if np.shape(clip.features) != (tokens, dim):
            raise ValueError(
                f"features have shape {np.shape(clip.features)}, "
                f"the library stores ({tokens}, {dim})"
            )
        if not clip.end_s >= clip.start_s >= 0:
            raise ValueError(f"invalid clip range {clip.start_s}..{clip.end_s}")
        rows.append(
            {
                "video_id": video_id,
                "start_s": float(clip.start_s),
                "end_s": float(clip.end_s),
                "generation": generation,
                "embedding": encode_embedding(_normalised(clip.embedding, dim)),
            }
        )
        features.append(feature_codec.encode(clip.features, encoding))
    return rows, features


def _insert_clips(rows: list[dict], features: list[bytes], session: Session) -> None:
    """Insert clips and their features rows, in the caller's transaction."""
    if not rows:
        return
    # sort_by_parameter_order: the ids come back in the order of ``rows`` (one multi-row
    # INSERT ... RETURNING on SQLite and PostgreSQL), so each features row meets its clip.
    ids = session.scalars(insert(Clip).returning(Clip.id, sort_by_parameter_order=True), rows).all()
    session.execute(
        insert(ClipFeaturesRow),
        [{"clip_id": clip_id, "data": data} for clip_id, data in zip(ids, features, strict=True)],
    )


def get_video_by_path(path: str, *, session: Session) -> Video | None:
    """The row for an exact path, indexed or failed."""
    return session.scalar(select(Video).where(Video.path == path))


def videos_by_fingerprint(fingerprint: str, *, session: Session) -> list[Video]:
    """Indexed videos with this content fingerprint: a moved or copied file."""
    return list(
        session.scalars(
            select(Video)
            .where(Video.fingerprint == fingerprint, Video.status == STATUS_INDEXED)
            .order_by(Video.id)
        )
    )


def save_indexed_video(
    record: VideoRecord,
    clips: list[ClipRecord],
    *,
    session: Session,
    partial: str | None = None,
) -> Video:
    """Store a video and all of its clips, replacing whatever was stored at that path.

    An existing row keeps its id; its old clips are tombstoned and its transcript lines
    deleted (the caller stores the new content's, ``storage.transcripts``). Embeddings are L2-normalised
    here so the index's inner product is a cosine whatever the caller passed. ``partial``:
    why only part of the file could be indexed (kept in ``error``; the status stays indexed).
    """
    layout = _stored_layout(session)
    generation = bump_generation(session)
    video = get_video_by_path(record.path, session=session)
    if video is None:
        video = Video(path=record.path)
        session.add(video)
    else:
        _forget_content(video.id, generation, session)
    for field in ("size_bytes", "mtime_ns", "fingerprint", "duration_s", "fps", "width"):
        setattr(video, field, getattr(record, field))
    video.height, video.codec, video.rotation = record.height, record.codec, record.rotation
    video.status, video.error, video.indexed_at = STATUS_INDEXED, partial, utcnow()
    session.flush()
    _insert_clips(*_clip_rows(video.id, clips, generation, layout), session)
    return video


def save_failed_video(
    path: str,
    size_bytes: int,
    mtime_ns: int,
    error: str,
    fingerprint: str | None,
    *,
    session: Session,
) -> Video:
    """Record that a file could not be indexed, replacing (and tombstoning) what was there.

    Size and mtime are kept so discovery does not retry an unchanged broken file every run;
    the clips and transcript lines of what was there are removed.
    """
    generation = bump_generation(session)
    video = get_video_by_path(path, session=session)
    if video is None:
        video = Video(path=path)
        session.add(video)
    else:
        _forget_content(video.id, generation, session)
    video.size_bytes, video.mtime_ns, video.fingerprint = size_bytes, mtime_ns, fingerprint
    video.duration_s = video.fps = None
    video.width = video.height = None
    video.codec, video.rotation = None, 0
    video.status, video.error, video.indexed_at = STATUS_FAILED, error, utcnow()
    session.flush()
    return video


def move_video(
    video: Video, new_path: str, size_bytes: int, mtime_ns: int, *, session: Session
) -> None:
    """Point a stored video at its new path, keeping its clips (and clip ids) as they are.

    Whatever row already occupies ``new_path`` (the file that was overwritten) is deleted first.
    """
    generation = bump_generation(session)
    if new_path != video.path:
        occupant = get_video_by_path(new_path, session=session)
        if occupant is not None:
            _drop_video(occupant, generation, session)
    video.path, video.size_bytes, video.mtime_ns = new_path, size_bytes, mtime_ns
    session.flush()


def delete_video(video: Video, *, session: Session) -> None:
    """Delete a video and its clips, tombstoning the clip ids."""
    _drop_video(video, bump_generation(session), session)


def videos_under(roots: list[str], *, session: Session) -> list[Video]:
    """Rows whose path is one of ``roots`` or inside one of them, ordered by path.

    ``/a/b`` matches ``/a/b`` and ``/a/b/x.mp4`` but not ``/a/bc``. Prefixes are compared with
    ``substr`` equality rather than LIKE: SQLite's LIKE ignores ASCII case and PostgreSQL's
    ordering follows the collation, and either could prune files outside the roots.
    """
    conditions = _under(roots)
    if not conditions:
        return []
    return _by_path(session.scalars(select(Video).where(or_(*conditions))))


def count_videos_under(roots: list[str], *, session: Session) -> int:
    """How many rows ``videos_under`` would return, without loading them."""
    conditions = _under(roots)
    if not conditions:
        return 0
    query = select(func.count()).select_from(Video).where(or_(*conditions))
    return int(session.scalar(query) or 0)


def _under(roots: Iterable[str]) -> list[ColumnElement[bool]]:
    """SQL conditions, any of which puts a video at or under one of ``roots`` (see videos_under)."""
    conditions = []
    for trimmed, prefix in folder_prefixes(roots):
        conditions.append(Video.path == trimmed)
        conditions.append(func.substr(Video.path, 1, len(prefix)) == prefix)
    return conditions


def clip_ids_matching(wanted: VideoFilter, *, session: Session) -> np.ndarray:
    """Ids (int64, ascending) of the clips of indexed videos that pass ``wanted``.

    Search restricts its vector search to these ids, so a filter never costs hits: the top k
    are found among the matching clips, not cut from an unfiltered top k.
    """
    query = select(Clip.id).join(Video, Video.id == Clip.video_id)
    query = query.where(Video.status == STATUS_INDEXED, *video_conditions(wanted))
    return np.fromiter(session.scalars(query.order_by(Clip.id)), dtype=np.int64)


def video_conditions(wanted: VideoFilter) -> list[ColumnElement[bool]]:
    """SQL conditions on ``Video`` that together say a video passes ``wanted`` (none: all do)."""
    conditions = []
    if wanted.folders:
        conditions.append(or_(*_under(wanted.folders)))
    if wanted.after_ns is not None:
        conditions.append(Video.mtime_ns >= wanted.after_ns)
    if wanted.before_ns is not None:
        conditions.append(Video.mtime_ns < wanted.before_ns)
    if wanted.min_duration_s is not None:
        conditions.append(Video.duration_s >= wanted.min_duration_s)
    if wanted.max_duration_s is not None:
        conditions.append(Video.duration_s <= wanted.max_duration_s)
    return conditions


def clips_of_video(video_id: int, *, session: Session) -> list[Clip]:
    """The clips of one video in time order."""
    return list(
        session.scalars(
            select(Clip).where(Clip.video_id == video_id).order_by(Clip.start_s, Clip.id)
        )
    )


def clips_at(places: list[tuple[int, float]], *, session: Session) -> list[int | None]:
    """For each (video id, time) the id of the clip playing then (the video's last clip
    starting at or before it, else its first), or None for a video without clips; in one
    statement (per ``PLACES_PER_STATEMENT``), not one per place."""
    found: list[int | None] = []
    for sql, params in clips_at_statements(places):
        found += session.execute(text(sql), params).one()
    return found


# A search's reads of its candidates, built once with the ids as one expanding parameter: a
# statement built per call with ``in_(ids)`` coerces every id into a literal bind, which took
# 1.9 ms for 100 ids against 0.6 ms for the whole read of a prebuilt one (SQLite, page cache).
_IDS = bindparam("ids", expanding=True)
_CLIP_HITS = (
    select(Clip.id, Clip.video_id, Video.path, Clip.start_s, Clip.end_s)
    .join(Video, Video.id == Clip.video_id)
    .where(Clip.id.in_(_IDS))
)
_CLIP_FEATURES = select(ClipFeaturesRow.clip_id, ClipFeaturesRow.data).where(
    ClipFeaturesRow.clip_id.in_(_IDS)
)
_CLIP_FEATURES_AND_EMBEDDINGS = (
    select(ClipFeaturesRow.clip_id, ClipFeaturesRow.data, Clip.embedding)
    .join(Clip, Clip.id == ClipFeaturesRow.clip_id)
    .where(ClipFeaturesRow.clip_id.in_(_IDS))
)


def clip_hits(clip_ids: list[int], *, session: Session) -> dict[int, ClipHit]:
    """Path and time range of each clip id that still exists (vanished ids are left out)."""
    hits: dict[int, ClipHit] = {}
    for chunk in id_chunks(clip_ids):
        rows = session.execute(_CLIP_HITS, {"ids": chunk})
        for row in rows:
            hits[row[0]] = ClipHit(row[0], row[1], row[2], row[3], row[4])
    return hits


def clip_rerank_inputs(
    clip_ids: list[int],
    *,
    session: Session,
    embeddings: Mapping[int, np.ndarray] | None = None,
    shape: tuple[int, int] | None = None,
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """(re-rank features (tokens, dim), read-only: float16 as stored without copying, or int8
    decoded to float32 (``feature_codec.view``); unit embedding (dim,) float32) of each clip id
    that still exists, in one query per chunk.

    ``embeddings`` are unit embeddings the caller already holds, by clip id: the vector index's
    (``VectorIndex.embeddings``), bit-identical to the stored ones, since a clip's embedding
    never changes and clip ids are never reused (``models.Clip``). For those ids only the
    features are read; the others (an index not caught up) join their embedding from ``clips``,
    as every id did before. At 100k clips cold, that join cost 8 of the 37 ms of fetching a
    query's 100 candidates, and 41 of 67 ms for 100 random clips (docs/speed.md, issue 16).
    Whether a clip still exists is the database's answer either way. ``shape`` is the bound
    library's (embed_dim, feature_tokens) when the caller holds it (they never change once
    bound): else it is read, a query as long as the features' own for a search's 100 clips."""
    dim, tokens = shape if shape is not None else _stored_shape(session)
    known = embeddings or {}
    found: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    held = [i for i in clip_ids if i in known]
    for chunk in id_chunks(held):
        for clip_id, data in session.execute(_CLIP_FEATURES, {"ids": chunk}):
            found[clip_id] = (feature_codec.view(data, tokens, dim), known[clip_id])
    for chunk in id_chunks([i for i in clip_ids if i not in known]):
        for clip_id, data, embedding in session.execute(
            _CLIP_FEATURES_AND_EMBEDDINGS, {"ids": chunk}
        ):
            found[clip_id] = (
                feature_codec.view(data, tokens, dim),
                decode_embedding(embedding, dim),
            )
    return found


def clip_features(clip_ids: list[int], *, session: Session) -> dict[int, np.ndarray]:
    """Re-rank features, (tokens, dim) float32, of each clip id that still exists."""
    dim, tokens = _stored_shape(session)
    found: dict[int, np.ndarray] = {}
    for chunk in id_chunks(clip_ids):
        rows = session.execute(
            select(ClipFeaturesRow.clip_id, ClipFeaturesRow.data).where(
                ClipFeaturesRow.clip_id.in_(chunk)
            )
        ).all()
        decoded = feature_codec.decode_many([row[1] for row in rows], tokens, dim)
        found.update(zip((row[0] for row in rows), decoded, strict=True))
    return found


def clip_embeddings(clip_ids: list[int], *, session: Session) -> dict[int, np.ndarray]:
    """Unit video embeddings, (dim,) float32, of each clip id that still exists."""
    dim, _ = _stored_shape(session)
    embeddings: dict[int, np.ndarray] = {}
    for chunk in id_chunks(clip_ids):
        for clip_id, data in session.execute(
            select(Clip.id, Clip.embedding).where(Clip.id.in_(chunk))
        ):
            embeddings[clip_id] = decode_embedding(data, dim)
    return embeddings


def counts(*, session: Session) -> tuple[int, int, int]:
    """(indexed videos, clips, failed videos)."""
    by_status: dict[str, int] = {
        status: int(n)
        for status, n in session.execute(select(Video.status, func.count()).group_by(Video.status))
    }
    clips = session.scalar(select(func.count()).select_from(Clip)) or 0
    return by_status.get(STATUS_INDEXED, 0), int(clips), by_status.get(STATUS_FAILED, 0)


def count_audio_only(*, session: Session) -> int:
    """Indexed files without pictures (``Video.audio_only``)."""
    found = session.scalar(
        select(func.count())
        .select_from(Video)
        .where(Video.status == STATUS_INDEXED, Video.width.is_(None))
    )
    return int(found or 0)


def failed_videos(*, session: Session) -> list[Video]:
    """Videos that could not be indexed, with their error text, ordered by path."""
    return _by_path(session.scalars(select(Video).where(Video.status == STATUS_FAILED)))


def partial_videos(*, session: Session) -> list[Video]:
    """Videos indexed only as far as they could be read, with the reason, ordered by path."""
    return _by_path(
        session.scalars(
            select(Video).where(Video.status == STATUS_INDEXED, Video.error.is_not(None))
        )
    )


def clip_vectors_between(
    after: int, upto: int, *, session: Session, batch: int = 4096
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Clips added in generations (after, upto], as (ids int64, unit vectors float32) batches.

    The upper bound makes the result consistent with a generation read earlier, even without
    a snapshot: a clip committed later is left for the next catch-up.
    """
    dim, _ = _stored_shape(session)
    rows = session.execute(
        select(Clip.id, Clip.embedding)
        .where(Clip.generation > after, Clip.generation <= upto)
        .order_by(Clip.id)
        .execution_options(yield_per=batch)
    )
    for part in rows.partitions():
        ids = np.fromiter((r[0] for r in part), dtype=np.int64, count=len(part))
        vectors = np.frombuffer(b"".join(r[1] for r in part), dtype="<f4")
        yield ids, vectors.astype(np.float32).reshape(len(part), dim)


def tombstones_between(after: int, upto: int, *, session: Session) -> np.ndarray:
    """Clip ids removed in generations (after, upto], int64."""
    ids = session.scalars(
        select(ClipTombstone.clip_id).where(
            ClipTombstone.generation > after, ClipTombstone.generation <= upto
        )
    ).all()
    return np.asarray(ids, dtype=np.int64)
