"""Helpers for watcher tests: wait on a condition, and read a library the way another process
would (its own connections), so the tests see only what the watcher committed."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from sqlalchemy import select

from storage import repository as repo
from storage.library import Library
from storage.models import Clip, ClipFeaturesRow

T = TypeVar("T")
# Generous: the machine is shared and has two cores; the conditions are normally met in well
# under a second, and a wait only lasts as long as it has to.
TIMEOUT_S = 90.0


def wait_until(condition: Callable[[], T], what: str, timeout_s: float = TIMEOUT_S) -> T:
    """Poll ``condition`` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g}s waiting for {what}")
        time.sleep(0.1)


@dataclass(frozen=True)
class StoredVideo:
    video_id: int
    status: str
    size_bytes: int
    clip_ids: tuple[int, ...]


def snapshot(library: Library, root: Path) -> dict[str, StoredVideo]:
    """Every row under ``root``: path -> id, status, size and clip ids."""
    with library.session() as session:
        return {
            video.path: StoredVideo(
                video.id,
                video.status,
                video.size_bytes,
                tuple(c.id for c in repo.clips_of_video(video.id, session=session)),
            )
            for video in repo.videos_under([str(root)], session=session)
        }


def consistent(library: Library) -> tuple[int, int]:
    """Check that the vector index agrees with the database and that every clip has its re-rank
    features (readable); returns (videos, clips)."""
    with library.session() as session:
        videos, clips, _failed = repo.counts(session=session)
        clip_ids = set(session.scalars(select(Clip.id)))
        assert set(session.scalars(select(ClipFeaturesRow.clip_id))) == clip_ids
        assert set(repo.clip_rerank_inputs(list(clip_ids), session=session)) == clip_ids
    index = library.vectors()
    assert {int(i) for i in index.ids()} == clip_ids, "FAISS ids differ from the clip rows"
    assert len(clip_ids) == clips
    return videos, clips
