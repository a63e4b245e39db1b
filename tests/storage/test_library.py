"""Library: pragmas, binding to a model, and whole-video transactions, on each backend."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select, text

from storage import repository
from storage.errors import DatabaseUnavailableError, LibraryNotBoundError, ModelMismatchError
from storage.library import BUSY_TIMEOUT_MS, PAGE_SIZE, Library, create_library_engine
from storage.models import Clip, ClipFeaturesRow, Video
from storage.settings import LibrarySettings
from tests.storage.records import add_video, clip_records, video_record


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_pragmas_on_every_connection(library: Library) -> None:
    with library.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == BUSY_TIMEOUT_MS
        assert connection.exec_driver_sql("PRAGMA page_size").scalar() == PAGE_SIZE
        # 4 MB of log between checkpoints, as SQLite's default is with 4 KB pages.
        assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 64


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("encoding", "leaves"), [("float16", 3), ("int8", 2)])
def test_a_full_size_clips_features_are_in_one_page_of_a_new_library(
    open_library: Callable[..., Library],
    settings: LibrarySettings,
    rng: np.random.Generator,
    encoding: str,
    leaves: int,
) -> None:
    """49 x 512 features (50 KB float16, 25 KB int8) fit in one leaf page of a 64 KB-page
    library: no overflow chain to follow (two int8 clips share a page)."""
    full = LibrarySettings(
        **{
            **settings.__dict__,
            "embed_dim": 512,
            "feature_tokens": 49,
            "feature_encoding": encoding,
        }
    )
    with open_library() as lib:
        lib.bind(full)
        add_video(lib, "/media/a.mp4", 3, rng)
        with lib.engine.connect() as connection:
            pages = dict(
                connection.execute(
                    text(
                        "SELECT pagetype, count(*) FROM dbstat WHERE name = 'clip_features'"
                        " GROUP BY pagetype"
                    )
                ).all()
            )
    assert pages == {"leaf": leaves, "internal": 1}


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("not a url", "not valid"),
        ("mysql://clipdex:secret@db/clipdex", "unsupported database 'mysql'"),
        ("postgresql+nosuchdriver://clipdex:secret@db/clipdex", "driver is not installed"),
        ("postgresql://clipdex:secret@/clipdex?host=/nonexistent/socket", "cannot connect"),
    ],
)
def test_unusable_database_url_is_a_typed_error(library_dir: Path, url: str, reason: str) -> None:
    with pytest.raises(DatabaseUnavailableError, match=reason) as caught:
        Library.open(library_dir, db_url=url)
    assert "secret" not in str(caught.value)


def test_bare_postgresql_url_uses_the_psycopg_driver() -> None:
    """``postgresql://`` means psycopg2 to SQLAlchemy; the ``postgres`` extra ships psycopg 3."""
    engine = create_library_engine("postgresql://clipdex@/clipdex?host=/nonexistent")
    try:
        assert (engine.dialect.name, engine.dialect.driver) == ("postgresql", "psycopg")
    finally:
        engine.dispose()


def test_foreign_keys_cascade_in_the_database(library: Library, rng: np.random.Generator) -> None:
    add_video(library, "/media/a.mp4", 3, rng)
    with library.engine.begin() as connection:
        connection.execute(text("DELETE FROM videos"))
        assert connection.execute(text("SELECT count(*) FROM clips")).scalar() == 0
        assert connection.execute(text("SELECT count(*) FROM clip_features")).scalar() == 0


def test_fresh_library_has_no_settings(open_library: Callable[..., Library]) -> None:
    lib = open_library()
    try:
        assert lib.settings is None
        assert lib.generation() == 0
        with pytest.raises(LibraryNotBoundError):
            lib.vectors()
    finally:
        lib.close()


def test_bind_stores_settings_and_reopen_reads_them(
    open_library: Callable[..., Library], settings: LibrarySettings
) -> None:
    with open_library() as lib:
        assert lib.bind(settings) == settings
    with open_library() as lib:
        assert lib.settings == settings


def test_stored_segmentation_settings_win(library: Library, settings: LibrarySettings) -> None:
    other = LibrarySettings(**{**settings.__dict__, "max_clip_s": 99.0, "shot_threshold": 0.9})
    assert library.bind(other) == settings


def test_bind_refuses_another_model(
    open_library: Callable[..., Library], settings: LibrarySettings
) -> None:
    with open_library() as lib:
        lib.bind(settings)
    other = LibrarySettings(**{**settings.__dict__, "model_id": "microsoft/xclip-base-patch16"})
    with open_library() as lib:
        with pytest.raises(ModelMismatchError) as caught:
            lib.bind(other)
    error = caught.value
    assert (error.stored, error.requested) == (settings.model_id, other.model_id)
    message = str(error)
    assert settings.model_id in message and other.model_id in message
    assert str(lib.folder) in message and f"--model {settings.model_id}" in message


def _with(settings: LibrarySettings, **changes: object) -> LibrarySettings:
    return LibrarySettings(**{**settings.__dict__, **changes})


def test_bind_accepts_the_same_model_under_another_name(
    open_library: Callable[..., Library], settings: LibrarySettings
) -> None:
    built = _with(settings, model_id="/models/xclip", model_digest="a" * 64)
    with open_library() as lib:
        lib.bind(built)
    copy = _with(built, model_id="microsoft/xclip-base-patch32")
    with open_library() as lib:
        assert lib.bind(copy) == built  # the name it was built with is the one kept
        lib.check_model("/elsewhere/copy", "a" * 64)


def test_bind_refuses_a_model_with_other_weights_under_the_same_name(
    open_library: Callable[..., Library], settings: LibrarySettings
) -> None:
    with open_library() as lib:
        lib.bind(_with(settings, model_digest="a" * 64))
    tuned = _with(settings, model_digest="b" * 64)
    with open_library() as lib:
        with pytest.raises(ModelMismatchError) as caught:
            lib.bind(tuned)
        with pytest.raises(ModelMismatchError):
            lib.check_model(settings.model_id, "b" * 64)
    message = str(caught.value)
    assert "\n" not in message and "different model" in message
    assert "aaaaaaaaaaaa" in message and "bbbbbbbbbbbb" in message
    assert f"--model {settings.model_id}" in message and str(lib.folder) in message


def test_a_library_without_digest_records_it_when_bound_by_its_own_name(
    open_library: Callable[..., Library], settings: LibrarySettings
) -> None:
    """Libraries made before revision 0003 have no digest: the same name fills it in, another
    name is refused (it cannot be compared yet) with advice that leads to the first case."""
    with open_library() as lib:
        lib.bind(settings)
        assert lib.settings.model_digest is None
        copy = _with(settings, model_id="/elsewhere/copy", model_digest="a" * 64)
        with pytest.raises(ModelMismatchError, match=f"once with --model {settings.model_id}"):
            lib.bind(copy)
        assert lib.bind(_with(settings, model_digest="a" * 64)).model_digest == "a" * 64
    with open_library() as lib:
        assert lib.settings.model_digest == "a" * 64
        assert lib.bind(copy).model_id == settings.model_id


def test_bind_refuses_another_embedding_size(library: Library, settings: LibrarySettings) -> None:
    other = LibrarySettings(**{**settings.__dict__, "embed_dim": settings.embed_dim * 2})
    with pytest.raises(ModelMismatchError, match="embedding size"):
        library.bind(other)


def _stored_rows(library: Library) -> tuple[int, int, int]:
    with library.session() as session:
        videos = session.scalar(select(func.count()).select_from(Video))
        clips = session.scalar(select(func.count()).select_from(Clip))
        features = session.scalar(select(func.count()).select_from(ClipFeaturesRow))
    return videos, clips, features


def test_video_is_committed_whole_or_not_at_all(
    library: Library, settings: LibrarySettings, rng: np.random.Generator
) -> None:
    clips = clip_records(rng, 4, settings.embed_dim, settings.feature_tokens)
    with pytest.raises(RuntimeError, match="crash"):
        with library.session() as session, session.begin():
            repository.save_indexed_video(video_record("/media/a.mp4"), clips, session=session)
            raise RuntimeError("crash after the clips were written")
    assert _stored_rows(library) == (0, 0, 0)
    assert library.generation() == 0


def test_a_bad_clip_stores_none_of_the_video(
    library: Library, settings: LibrarySettings, rng: np.random.Generator
) -> None:
    clips = clip_records(rng, 3, settings.embed_dim, settings.feature_tokens)
    clips[2].features = clips[2].features[:1]
    with pytest.raises(ValueError, match="features"):
        with library.session() as session, session.begin():
            repository.save_indexed_video(video_record("/media/a.mp4"), clips, session=session)
    assert _stored_rows(library) == (0, 0, 0)
    assert library.generation() == 0


def test_every_change_bumps_the_generation_once(library: Library, rng: np.random.Generator) -> None:
    add_video(library, "/media/a.mp4", 2, rng)
    assert library.generation() == 1
    with library.session() as session, session.begin():
        video = repository.get_video_by_path("/media/a.mp4", session=session)
        repository.move_video(video, "/media/b.mp4", 1000, 5, session=session)
    assert library.generation() == 2
    with library.session() as session, session.begin():
        repository.save_failed_video("/media/c.mp4", 1, 2, "no video stream", None, session=session)
    assert library.generation() == 3


def test_objects_stay_usable_after_commit(library: Library, rng: np.random.Generator) -> None:
    add_video(library, "/media/a.mp4", 1, rng)
    with library.session() as session, session.begin():
        video = repository.get_video_by_path("/media/a.mp4", session=session)
    assert video is not None and video.path == "/media/a.mp4" and video.width == 320


def test_storage_imports_no_model_or_decoder_libraries() -> None:
    """storage sits below the model and the decoder: importing it must not load them."""
    code = (
        "import sys, storage.library, storage.repository, storage.migrations; "
        "print(sorted({'torch', 'transformers', 'av'} & set(sys.modules)))"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
