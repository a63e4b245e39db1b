"""What text search reads from a library: the ``Catalog`` protocol.

Two classes answer it alike: ``storage.library.Library`` (SQLAlchemy, every backend, and the
long-running server) and ``storage.sqlite_reader.SqliteReader`` (the standard library's
sqlite3, for a cold ``clipdex search`` of a SQLite library: no SQLAlchemy to import).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np

    from storage.flat_index import FlatIndex
    from storage.search_reads import ClipHit, VideoFilter
    from storage.settings import LibrarySettings
    from storage.transcript import TranscriptMatch
    from storage.vectors import VectorIndex


class Catalog(Protocol):
    """A library's clips, vectors and transcripts, as search reads them."""

    folder: Path

    @property
    def settings(self) -> LibrarySettings | None: ...

    def check_model(self, model_id: str, digest: str | None) -> None: ...

    def vectors(self) -> VectorIndex | FlatIndex: ...

    def clip_ids_matching(self, wanted: VideoFilter) -> np.ndarray: ...

    def clip_hits(self, clip_ids: list[int]) -> dict[int, ClipHit]: ...

    def clip_rerank_inputs(
        self, clip_ids: list[int]
    ) -> dict[int, tuple[np.ndarray, np.ndarray]]: ...

    def clips_at(self, places: list[tuple[int, float]]) -> list[int | None]: ...

    def has_transcripts(self) -> bool: ...

    def search_transcripts(
        self, text: str, *, limit: int, wanted: VideoFilter | None = None
    ) -> list[TranscriptMatch]: ...

    def close(self) -> None: ...
