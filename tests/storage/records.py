"""Builders for storage tests: random unit embeddings and features, stored through the API."""

from __future__ import annotations

import numpy as np
from sqlalchemy import select

from storage import repository
from storage.library import Library
from storage.models import Clip
from storage.repository import ClipRecord, VideoRecord
from storage.settings import LibrarySettings


def small_settings() -> LibrarySettings:
    """Small dimensions keep the tests fast; the code paths are the same as for 512."""
    return LibrarySettings(
        model_id="tests/tiny-xclip",
        embed_dim=16,
        frames_per_clip=8,
        image_size=224,
        feature_tokens=4,
        min_clip_s=1.0,
        max_clip_s=10.0,
        shot_threshold=0.3,
    )


def unit_vectors(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    """n random float32 unit vectors."""
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def clip_records(
    rng: np.random.Generator, n: int, dim: int, tokens: int, clip_s: float = 2.0
) -> list[ClipRecord]:
    """n consecutive clips of clip_s seconds with random embeddings and features."""
    embeddings = unit_vectors(rng, n, dim)
    return [
        ClipRecord(
            start_s=i * clip_s,
            end_s=(i + 1) * clip_s,
            embedding=embeddings[i],
            features=rng.standard_normal((tokens, dim)).astype(np.float32),
        )
        for i in range(n)
    ]


def video_record(path: str, fingerprint: str | None = None, size_bytes: int = 1000) -> VideoRecord:
    """A plausible probe result for path."""
    return VideoRecord(
        path=path,
        size_bytes=size_bytes,
        mtime_ns=1_700_000_000_000_000_000,
        fingerprint=fingerprint,
        duration_s=10.0,
        fps=25.0,
        width=320,
        height=240,
        codec="h264",
        rotation=0,
    )


def add_video(
    lib: Library, path: str, n_clips: int, rng: np.random.Generator, fingerprint: str | None = None
) -> tuple[int, list[int]]:
    """Commit one indexed video; return its id and its clip ids in time order."""
    settings = lib.settings
    assert settings is not None
    clips = clip_records(rng, n_clips, settings.embed_dim, settings.feature_tokens)
    with lib.session() as session, session.begin():
        video = repository.save_indexed_video(
            video_record(path, fingerprint), clips, session=session
        )
        clip_ids = [c.id for c in repository.clips_of_video(video.id, session=session)]
        return video.id, clip_ids


def delete_path(lib: Library, path: str) -> None:
    """Delete the video stored at path."""
    with lib.session() as session, session.begin():
        video = repository.get_video_by_path(path, session=session)
        assert video is not None
        repository.delete_video(video, session=session)


def db_clip_ids(lib: Library) -> set[int]:
    """Every clip id in the database."""
    with lib.session() as session:
        return set(session.scalars(select(Clip.id)))
