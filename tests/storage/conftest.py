"""Fixtures for storage tests: real databases (SQLite files in tmp_path and a real PostgreSQL
server) and real FAISS, never mocks.

Every test that opens a library runs once per backend: ``db_url`` is parametrised, and tests
open libraries through ``open_library`` (or the ``library`` fixture), never ``Library.open``
directly. A test about one backend only narrows it with
``@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from storage.library import Library
from storage.settings import LibrarySettings
from tests.storage.records import small_settings


@pytest.fixture
def settings() -> LibrarySettings:
    return small_settings()


@pytest.fixture
def library_dir(tmp_path: Path) -> Path:
    """The folder of the test library, passed explicitly (never through CLIPDEX_LIBRARY).

    This deliberately overrides the root conftest's autouse ``library_dir``: storage tests need
    no model, so they should not pay for building the X-CLIP checkpoint (and importing torch).
    """
    return tmp_path / "library"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str | None:
    """The metadata database: None for the folder's own SQLite file (the default), or the URL
    of a fresh database on the session's PostgreSQL server."""
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def open_library(library_dir: Path, db_url: str | None) -> Callable[..., Library]:
    """``open_library(folder=library_dir)``: Library.open on the test's database."""

    def opener(folder: Path | str | None = None) -> Library:
        return Library.open(Path(folder) if folder is not None else library_dir, db_url=db_url)

    return opener


@pytest.fixture
def library(open_library: Callable[..., Library], settings: LibrarySettings) -> Iterator[Library]:
    """An opened library bound to the test settings."""
    lib = open_library()
    lib.bind(settings)
    yield lib
    lib.close()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
