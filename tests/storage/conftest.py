"""Fixtures for storage tests: real SQLite files in tmp_path and real FAISS, never mocks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from storage.library import Library
from storage.settings import LibrarySettings


@pytest.fixture
def settings() -> LibrarySettings:
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


@pytest.fixture
def library_dir(tmp_path: Path) -> Path:
    """The folder of the test library, passed explicitly (never through CLIPDEX_LIBRARY).

    This deliberately overrides the root conftest's autouse ``library_dir``: storage tests need
    no model, so they should not pay for building the X-CLIP checkpoint (and importing torch).
    """
    return tmp_path / "library"


@pytest.fixture
def library(library_dir: Path, settings: LibrarySettings) -> Iterator[Library]:
    """An opened library bound to the test settings."""
    lib = Library.open(library_dir)
    lib.bind(settings)
    yield lib
    lib.close()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
