"""A library made at revision 0006 (float16 features in ``clips.features``) migrates to
``clip_features`` without re-embedding, and searches exactly as it did, on each backend."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, inspect, text

from alembic import command
from clipdex.encoder import XClipEncoder
from search.text import SearchOptions, rank_clips
from storage import migrations
from storage.library import Library, create_library_engine

QUERIES = ["a dog jumping into a lake", "red shapes moving", "an empty street at night"]
# Two videos of six clips, as the benchmarks' libraries have.
VIDEOS, CLIPS_PER_VIDEO = 2, 6
# The same float16 values: only float32 summation order may differ.
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def encoder(xclip_checkpoint: Path) -> XClipEncoder:
    return XClipEncoder(str(xclip_checkpoint))


@pytest.fixture(scope="module")
def tower(encoder: XClipEncoder) -> tuple[np.ndarray, np.ndarray]:
    """The tiny model's own embeddings and features for twelve clips of random pixels."""
    rng = np.random.default_rng(7)
    size, frames = encoder.image_size, encoder.frames_per_clip
    pixels = rng.standard_normal((VIDEOS * CLIPS_PER_VIDEO, frames, 3, size, size))
    return encoder.encode_clips(pixels.astype(np.float32))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str | None:
    return None if request.param == "sqlite" else request.getfixturevalue("postgres_url")


def _upgrade(engine: Engine, revision: str) -> None:
    with engine.begin() as connection:
        config = migrations.alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def _make_0006_library(url: str, encoder: XClipEncoder, tower) -> None:
    """What revision 0006 code stored: float16 features in the clips rows."""
    embeddings, features = tower
    engine = create_library_engine(url)
    try:
        _upgrade(engine, "0006_region_hashes")
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO library (id, model_id, embed_dim, frames_per_clip, image_size,"
                    " feature_tokens, min_clip_s, max_clip_s, shot_threshold, generation,"
                    " speech_mode, created_at) VALUES (1, :model, :dim, :frames, :size, :tokens,"
                    " 1.0, 10.0, 0.3, 2, 'off', CURRENT_TIMESTAMP)"
                ),
                {
                    "model": encoder.model_id,
                    "dim": encoder.embed_dim,
                    "frames": encoder.frames_per_clip,
                    "size": encoder.image_size,
                    "tokens": encoder.feature_tokens,
                },
            )
            for video in range(VIDEOS):
                connection.execute(
                    text(
                        "INSERT INTO videos (id, path, size_bytes, mtime_ns, status, rotation,"
                        " indexed_at, speech_checked) VALUES (:id, :path, 10, 1, 'indexed', 0,"
                        " CURRENT_TIMESTAMP, false)"
                    ),
                    {"id": video + 1, "path": f"/media/v{video}.mp4"},
                )
            connection.execute(
                text(
                    "INSERT INTO clips (id, video_id, start_s, end_s, generation, embedding,"
                    " features) VALUES (:id, :video, :start, :end, :video, :embedding, :features)"
                ),
                [
                    {
                        "id": i + 1,
                        "video": i // CLIPS_PER_VIDEO + 1,
                        "start": 2.0 * (i % CLIPS_PER_VIDEO),
                        "end": 2.0 * (i % CLIPS_PER_VIDEO) + 2.0,
                        "embedding": embeddings[i].astype("<f4").tobytes(),
                        "features": features[i].astype("<f2").tobytes(),
                    }
                    for i in range(len(embeddings))
                ],
            )
    finally:
        engine.dispose()


def test_a_0006_library_migrates_and_searches_as_before(
    tmp_path: Path, db_url: str | None, encoder: XClipEncoder, tower
) -> None:
    embeddings, features = tower
    url = db_url or f"sqlite:///{tmp_path / 'clipdex.db'}"
    _make_0006_library(url, encoder, tower)
    stored = features.astype(np.float16).astype(np.float32)  # what 0006 searched with
    before = {
        query: encoder.rerank(encoder.encode_text(query), stored, embeddings) for query in QUERIES
    }
    with Library.open(tmp_path, db_url=db_url) as library:
        columns = {c["name"] for c in inspect(library.engine).get_columns("clips")}
        assert "features" not in columns
        with library.engine.connect() as connection:
            rows = connection.execute(
                text("SELECT clip_id, data FROM clip_features ORDER BY clip_id")
            ).all()
        assert [row[0] for row in rows] == list(range(1, len(features) + 1))
        assert [row[1] for row in rows] == [
            b"\x01" + f.astype("<f2").tobytes() for f in features
        ]  # the float16 encoding's tag, then the very bytes 0006 stored
        assert library.settings.feature_encoding == "float16"
        for query in QUERIES:
            ranked = rank_clips(library, encoder, query, SearchOptions(k=len(features)))
            assert len(ranked) == len(features)  # every clip re-ranked
            after = dict(ranked)
            worst = max(abs(after[i + 1] - float(s)) for i, s in enumerate(before[query]))
            assert worst <= TOLERANCE
            assert [i for i, _ in ranked] == list(np.argsort(-before[query], kind="stable") + 1)
