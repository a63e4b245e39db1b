"""Queries and changes on the perceptual frame hashes, and what duplicate detection reads.

Like ``storage.repository``, every function takes ``*, session`` and never commits: the indexer
saves a video's hashes in the same transaction as its clips, so both are stored or neither.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from storage.models import STATUS_INDEXED, Clip, FrameHashRow, Video

_TIMES = np.dtype("<f4")
_HASHES = np.dtype("<u8")
# How the indexer makes hashes today (see FrameHashRow.version); older rows want a rehash.
CURRENT_HASH_VERSION = 3
# Version 2 stores one hash per region per time, in this order (``indexer.framehash.REGIONS``
# says what each covers); version 3 adds ``value``, the whole frame's hash taken on the
# brightest of its red, green and blue (HSV's V) instead of its luma, and the four corner
# cells of a 3 x 3 grid (``c0``-``c3``). A mirrored frame's whole-frame hash is the hash XOR ``FLIP_MASK``
# (the sign bits of the odd horizontal DCT frequencies, bit 63 - (row * 8 + column)).
REGION_NAMES = (
    "full",
    "centre80",
    "strip916",
    "q0",
    "q1",
    "q2",
    "q3",
    "tl80",
    "tr80",
    "bl80",
    "br80",
    "inset",
    "value",
    "c0",
    "c1",
    "c2",
    "c3",
)
FLIP_MASK = sum(1 << (63 - (row * 8 + col)) for row in range(8) for col in range(1, 8, 2))


@dataclass(frozen=True)
class VideoHashes:
    """One indexed video's frame hashes: times (s), 64-bit hashes and informative flags, one
    column per region (version 1: the whole frame only)."""

    video_id: int
    path: str
    duration_s: float
    times_s: np.ndarray  # (n,) float32
    hashes: np.ndarray  # (n, regions) uint64
    informative: np.ndarray  # (n, regions) bool
    version: int = CURRENT_HASH_VERSION


@dataclass(frozen=True)
class ClipSpan:
    clip_id: int
    video_id: int
    start_s: float
    end_s: float


def save_frame_hashes(
    video_id: int,
    times_s: np.ndarray,
    hashes: np.ndarray,
    informative: np.ndarray,
    *,
    session: Session,
    version: int = CURRENT_HASH_VERSION,
) -> None:
    """Store (replacing) a video's frame hashes: ``hashes`` and ``informative`` are (n,) or
    (n, regions), one row per time."""
    times = np.asarray(times_s, dtype=_TIMES)
    values = np.asarray(hashes, dtype=_HASHES)
    flags = np.asarray(informative, dtype=bool)
    if not len(times) == len(values) == len(flags) or values.shape != flags.shape:
        raise ValueError(f"{len(times)} times, {values.shape} hashes, {flags.shape} flags")
    delete_frame_hashes(video_id, session=session)
    session.add(
        FrameHashRow(
            video_id=video_id,
            times=times.tobytes(),
            hashes=values.tobytes(),
            informative=flags.astype(np.uint8).tobytes(),
            version=version,
        )
    )
    session.flush()


def delete_frame_hashes(video_id: int, *, session: Session) -> None:
    """Forget a video's hashes (a re-indexed file that now fails keeps no stale ones)."""
    session.execute(delete(FrameHashRow).where(FrameHashRow.video_id == video_id))


def copy_frame_hashes(source_id: int, target_id: int, *, session: Session) -> bool:
    """Give ``target_id`` the hashes of ``source_id`` (an exact copy); False if it has none."""
    row = session.get(FrameHashRow, source_id)
    if row is None:
        return False
    delete_frame_hashes(target_id, session=session)
    session.add(
        FrameHashRow(
            video_id=target_id,
            times=row.times,
            hashes=row.hashes,
            informative=row.informative,
            version=row.version,
        )
    )
    session.flush()
    return True


def indexed_video_hashes(*, session: Session) -> list[VideoHashes]:
    """The hashes of every indexed video that has them, by video id."""
    rows = session.execute(
        select(
            Video.id,
            Video.path,
            Video.duration_s,
            FrameHashRow.times,
            FrameHashRow.hashes,
            FrameHashRow.informative,
            FrameHashRow.version,
        )
        .join(FrameHashRow, FrameHashRow.video_id == Video.id)
        .where(Video.status == STATUS_INDEXED)
        .order_by(Video.id)
    )
    return [
        _video_hashes(int(vid), path, float(duration or 0.0), times, hashes, flags, int(version))
        for vid, path, duration, times, hashes, flags, version in rows
    ]


def _video_hashes(
    vid: int, path: str, duration_s: float, times: bytes, hashes: bytes, flags: bytes, version: int
) -> VideoHashes:
    times_s = np.frombuffer(times, dtype=_TIMES).astype(np.float32)
    count = max(1, len(times_s))
    values = np.frombuffer(hashes, dtype=_HASHES).astype(np.uint64).reshape(count, -1)
    informative = np.frombuffer(flags, dtype=np.uint8).astype(bool).reshape(count, -1)
    values, informative = values[: len(times_s)], informative[: len(times_s)]
    if values.shape[1] == 1:  # one hash per time (version 1, or saved as such): keep it 1-D
        values, informative = values[:, 0], informative[:, 0]
    return VideoHashes(vid, path, duration_s, times_s, values, informative, version)


def videos_needing_rehash(*, session: Session) -> list[tuple[int, str]]:
    """(id, path) of indexed videos whose hashes are older than the indexer makes today (or
    missing): ``clipdex index --rehash`` recomputes them from the files."""
    current = select(FrameHashRow.video_id).where(FrameHashRow.version >= CURRENT_HASH_VERSION)
    rows = session.execute(
        select(Video.id, Video.path)
        .where(Video.status == STATUS_INDEXED, Video.id.not_in(current))
        .order_by(Video.id)
    )
    return [(int(vid), path) for vid, path in rows]


def videos_without_hashes(*, session: Session) -> int:
    """How many indexed videos have no hashes (indexed before hashes existed)."""
    hashed = select(FrameHashRow.video_id)
    return int(
        session.scalar(
            select(func.count())
            .select_from(Video)
            .where(Video.status == STATUS_INDEXED, Video.id.not_in(hashed))
        )
        or 0
    )


def fingerprint_groups(*, session: Session) -> list[list[tuple[int, str]]]:
    """Indexed videos sharing a content fingerprint (exact copies), each group by video id."""
    groups: dict[str, list[tuple[int, str]]] = defaultdict(list)
    rows = session.execute(
        select(Video.fingerprint, Video.id, Video.path)
        .where(Video.status == STATUS_INDEXED, Video.fingerprint.is_not(None))
        .order_by(Video.id)
    )
    for digest, vid, path in rows:
        groups[digest].append((int(vid), path))
    return [members for members in groups.values() if len(members) > 1]


def clip_spans(*, session: Session) -> list[ClipSpan]:
    """Every clip of an indexed video, ordered by video and time."""
    rows = session.execute(
        select(Clip.id, Clip.video_id, Clip.start_s, Clip.end_s)
        .join(Video, Video.id == Clip.video_id)
        .where(Video.status == STATUS_INDEXED)
        .order_by(Clip.video_id, Clip.start_s)
    )
    return [ClipSpan(int(c), int(v), float(s), float(e)) for c, v, s, e in rows]
