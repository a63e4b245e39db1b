"""``clipdex index --rehash``: recompute the frame hashes of videos hashed by an older clipdex.

Hashes come from the pictures alone, so a new kind of hash (version 2: regions and mirror-ready
sign bits) needs the files decoded again, but not the model: clips, embeddings and the FAISS
index are left exactly as they are. Each video's new hashes replace the old in one transaction;
a file that cannot be read keeps its old hashes and is reported, and the run goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from indexer.errors import VideoOpenError
from indexer.framehash import FrameHasher
from indexer.frames import decode_frames
from storage import frame_hashes as hash_repo
from storage.library import Library

logger = logging.getLogger(__name__)
# Frames are decoded at this shortest edge; only their grey picture (uncropped) is hashed.
_SHORTEST_EDGE = 224


@dataclass
class RehashReport:
    rehashed: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)


def _under(path: str, roots: Sequence[Path]) -> bool:
    return any(Path(path) == root or root in Path(path).parents for root in roots)


def rehash_videos(
    library: Library,
    roots: Sequence[Path],
    on_video: Callable[[str], None] | None = None,
) -> RehashReport:
    """Give every indexed video under ``roots`` whose hashes are stale (or missing) today's
    hashes; ``on_video(path)`` is called after each one."""
    absolute = [Path(r).absolute() for r in roots]
    with library.session() as session:
        stale = [(v, p) for v, p in hash_repo.videos_needing_rehash(session=session)]
    report = RehashReport()
    for video_id, path in stale:
        if not _under(path, absolute):
            continue
        try:
            hashes = _hashes_of(Path(path))
        except VideoOpenError as exc:
            logger.warning("%s: not rehashed: %s", path, exc.reason)
            report.failed.append((path, exc.reason))
            continue
        with library.session() as session, session.begin():
            hash_repo.save_frame_hashes(video_id, *hashes.arrays(), session=session)
        report.rehashed += 1
        if on_video is not None:
            on_video(path)
    return report


def _hashes_of(path: Path):
    hasher = FrameHasher()
    try:
        for frame in decode_frames(path, _SHORTEST_EDGE):
            if hasher.wants(frame.time_s):
                hasher(frame.time_s, frame.gray, frame.small_upright)
    except OSError as exc:
        raise VideoOpenError(str(path), exc.strerror or str(exc)) from None
    return hasher.result
