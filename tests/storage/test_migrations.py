"""Migration tests in the pytest-alembic style, written with Alembic's own API, on each backend."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from alembic import command
from storage import migrations, transcripts
from storage.library import Library, create_library_engine
from storage.models import Base, is_modelled
from storage.settings import LibrarySettings
from storage.transcript import TranscriptLine
from tests.support.processes import run_python

REPO_ROOT = Path(__file__).resolve().parents[2]
TABLES = {
    "library",
    "videos",
    "clips",
    "clip_features",
    "clip_tombstones",
    "frame_hashes",
    "transcript_lines",
}


@pytest.fixture
def engine(tmp_path: Path, db_url: str | None) -> Iterator[Engine]:
    engine = create_library_engine(db_url or f"sqlite:///{tmp_path / 'migrations.db'}")
    yield engine
    engine.dispose()


def run(engine: Engine, action: str, revision: str) -> None:
    """Run alembic upgrade/downgrade through a connection, as Library.open does."""
    with engine.begin() as connection:
        config = migrations.alembic_config()
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)


def tables(engine: Engine) -> set[str]:
    """The tables the models describe (not the backend's own full-text tables)."""
    names = set(inspect(engine).get_table_names()) - {"alembic_version"}
    return {name for name in names if is_modelled(name, "table")}


def test_single_head() -> None:
    script = ScriptDirectory.from_config(migrations.alembic_config())
    assert len(script.get_heads()) == 1


def test_upgrade_from_empty(engine: Engine) -> None:
    run(engine, "upgrade", "head")
    assert tables(engine) == TABLES
    with engine.connect() as connection:
        assert migrations.current_revisions(connection) == migrations.head_revisions()


def test_downgrade_to_base_and_up_again(engine: Engine) -> None:
    run(engine, "upgrade", "head")
    run(engine, "downgrade", "base")
    assert tables(engine) == set()
    run(engine, "upgrade", "head")
    assert tables(engine) == TABLES


def test_every_revision_goes_down_and_up(engine: Engine) -> None:
    """Step through history: each revision can be undone and redone."""
    script = ScriptDirectory.from_config(migrations.alembic_config())
    for revision in reversed(list(script.walk_revisions())):
        run(engine, "upgrade", revision.revision)
        run(engine, "downgrade", revision.down_revision or "base")
        run(engine, "upgrade", revision.revision)


def test_models_match_migrated_schema(engine: Engine) -> None:
    run(engine, "upgrade", "head")
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                "include_name": is_modelled,
            },
        )
        assert compare_metadata(context, Base.metadata) == []


def test_open_migrates_once_and_reopens(
    tmp_path: Path, open_library: Callable[..., Library]
) -> None:
    open_library(tmp_path).close()
    lib = open_library(tmp_path)
    try:
        assert tables(lib.engine) == TABLES
    finally:
        lib.close()


def _alembic_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    alembic = Path(sys.executable).with_name("alembic")
    return subprocess.run(
        [str(alembic), *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CLIPDEX_DB_URL"}
    env["PYTHONPATH"] = str(REPO_ROOT)
    return env


def test_alembic_cli_with_x_argument(
    tmp_path: Path, clean_env: dict[str, str], db_url: str | None
) -> None:
    url = db_url or f"sqlite:///{tmp_path / 'cli.db'}"
    result = _alembic_cli(["-x", f"db_url={url}", "upgrade", "head"], clean_env)
    assert result.returncode == 0, result.stderr
    assert not (REPO_ROOT / "clipdex.db").exists()
    engine = create_library_engine(url)
    try:
        assert tables(engine) == TABLES
    finally:
        engine.dispose()


def test_alembic_cli_with_environment_variable(
    tmp_path: Path, clean_env: dict[str, str], db_url: str | None
) -> None:
    url = db_url or f"sqlite:///{tmp_path / 'env.db'}"
    clean_env["CLIPDEX_DB_URL"] = url
    result = _alembic_cli(["upgrade", "head"], clean_env)
    assert result.returncode == 0, result.stderr
    assert not (REPO_ROOT / "clipdex.db").exists()
    lib = Library.open(tmp_path, db_url=url)
    try:
        assert lib.settings is None and lib.generation() == 0
    finally:
        lib.close()


def test_concurrent_first_open_creates_schema_once(tmp_path: Path, db_url: str | None) -> None:
    """Two processes opening a fresh library at once must both succeed.

    SQLite serialises them with BEGIN IMMEDIATE, PostgreSQL with an advisory lock.
    """
    code = (
        "import sys; from storage.library import Library; "
        "Library.open(sys.argv[1], db_url=sys.argv[2] or None).close()"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path / "lib"), db_url or ""],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr


def test_a_library_made_before_model_digests_upgrades_and_keeps_working(
    tmp_path: Path, db_url: str | None
) -> None:
    """A library at revision 0002 (no ``model_digest``) opens at head with its row intact; its
    first bind by the name it was built with records the digest."""
    url = db_url or f"sqlite:///{tmp_path / 'clipdex.db'}"
    old = create_library_engine(url)
    try:
        run(old, "upgrade", "0002")
        with old.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO library (id, model_id, embed_dim, frames_per_clip, image_size,"
                    " feature_tokens, min_clip_s, max_clip_s, shot_threshold, generation,"
                    " created_at) VALUES (1, '/models/xclip', 16, 8, 224, 4, 1.0, 10.0, 0.3, 7,"
                    " CURRENT_TIMESTAMP)"
                )
            )
    finally:
        old.dispose()
    with Library.open(tmp_path, db_url=db_url) as lib:
        with lib.engine.connect() as connection:
            assert migrations.current_revisions(connection) == migrations.head_revisions()
        held = lib.settings
        assert (held.model_id, held.model_digest, lib.generation()) == ("/models/xclip", None, 7)
        wanted = LibrarySettings(**{**held.__dict__, "model_digest": "c" * 64})
        assert lib.bind(wanted).model_digest == "c" * 64
    with Library.open(tmp_path, db_url=db_url) as lib:
        assert lib.settings.model_digest == "c" * 64 and lib.settings.model_id == "/models/xclip"


def test_declared_heads_are_alembics() -> None:
    assert migrations.declared_heads() == migrations.head_revisions()


def test_opening_an_up_to_date_library_does_not_import_alembic(tmp_path: Path) -> None:
    """Every search opens the library: its cold start must not pay for importing Alembic."""
    Library.open(tmp_path).close()  # creates and migrates
    code = (
        "import sys; from storage.library import Library; "
        f"Library.open(__import__('pathlib').Path({str(tmp_path)!r})).close(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))"
    )
    assert run_python(code, timeout_s=60).strip() == "[]"


def test_full_text_index_is_made_and_dropped_with_the_lines(engine: Engine) -> None:
    """Migration 0004 makes the backend's own full-text index, which the models leave out."""
    run(engine, "upgrade", "head")
    inspector = inspect(engine)
    if engine.dialect.name == "sqlite":
        made = set(inspector.get_table_names()) - tables(engine) - {"alembic_version"}
        assert "transcript_fts" in made
        with engine.connect() as connection:
            triggers = connection.scalars(
                text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            ).all()
        assert sorted(triggers) == [f"transcript_fts_{t}" for t in ("delete", "insert", "update")]
    else:
        names = {index["name"] for index in inspector.get_indexes("transcript_lines")}
        assert "ix_transcript_lines_text_search" in names
    run(engine, "downgrade", "0003")
    assert set(inspect(engine).get_table_names()) - {"alembic_version"} == TABLES - {
        "transcript_lines",
        "clip_features",
    }


def test_a_library_made_before_transcripts_upgrades_and_searches_words(
    tmp_path: Path, db_url: str | None
) -> None:
    """A library at revision 0003 with an indexed video opens at head; its videos have no lines
    until lines are stored, and then are found by their words."""
    url = db_url or f"sqlite:///{tmp_path / 'clipdex.db'}"
    old = create_library_engine(url)
    try:
        run(old, "upgrade", "0003")
        with old.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO videos (id, path, size_bytes, mtime_ns, status, rotation,"
                    " indexed_at) VALUES (5, '/m/old.mp4', 10, 1, 'indexed', 0, CURRENT_TIMESTAMP)"
                )
            )
    finally:
        old.dispose()
    with Library.open(tmp_path, db_url=db_url) as lib:
        with lib.session() as session, session.begin():
            assert transcripts.transcript_counts(session=session).neither == 1
            line = TranscriptLine(1.0, 2.0, "Grandma sings a song", "sidecar", "en")
            transcripts.replace_transcript(5, [line], session=session)
        with lib.session() as session:
            (match,) = transcripts.search_transcripts("singing", session=session, limit=5)
    assert (match.video_id, match.path, match.text) == (5, "/m/old.mp4", line.text)
