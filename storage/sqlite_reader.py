"""A library's SQLite database read with the standard library's ``sqlite3``: what a cold
``clipdex search`` reads, without importing SQLAlchemy or Alembic (about a third of a
second of its start, measured in benchmarks/cold_search.py).

``SqliteReader.open`` serves a library whose database file exists and is at the schema head
the migration scripts declare (``storage.migrations.declared_heads``); anything else (a new
library, one to migrate, PostgreSQL) is ``storage.library.Library``'s, and ``open`` returns
None. It answers the reads of ``search.catalog.Catalog`` exactly as the Library does
(tests/storage/test_sqlite_reader.py runs both), except the search of transcript lines, which
it leaves to the Library (``storage.transcripts``). It never writes: when the FAISS cache is
missing, damaged or behind the database, it hands over to a Library opened then, which
brings the cache up to date and saves it when closed. A saved index without a shortlist (a
library under ``storage.shortlist.SHORTLIST_MIN_CLIPS`` clips) is read and searched without
importing FAISS either (``storage.flat_index``).

The SQL here names the tables and columns of ``storage.models``.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from storage import feature_codec, read_advice
from storage import shortlist as shortlists
from storage.codec import decode_embedding
from storage.errors import CorruptIndexError, LibraryNotBoundError
from storage.flat_index import FlatIndex
from storage.layout import BUSY_TIMEOUT_MS, DB_FILENAME, INDEX_FILENAME
from storage.migrations import declared_heads
from storage.search_reads import (
    ClipHit,
    VideoFilter,
    clips_at_statements,
    folder_prefixes,
    id_chunks,
)
from storage.settings import LibrarySettings, check_model
from storage.transcript import TranscriptMatch

if TYPE_CHECKING:
    from storage.library import Library
    from storage.vectors import VectorIndex

logger = logging.getLogger(__name__)

# storage.models' LIBRARY_ROW_ID and STATUS_INDEXED (the tests check that they agree).
LIBRARY_ROW_ID = 1
STATUS_INDEXED = "indexed"
_SETTINGS = (
    "model_id, embed_dim, frames_per_clip, image_size, feature_tokens, min_clip_s, max_clip_s, "
    "shot_threshold, model_digest, feature_encoding"
)


def _marks(values: list) -> str:
    return ", ".join("?" * len(values))


def _video_conditions(wanted: VideoFilter) -> tuple[str, list]:
    """SQL (with its parameters) that a video of ``videos`` is indexed and passes ``wanted``
    (``storage.repository.video_conditions``)."""
    conditions = ["videos.status = ?"]
    params: list = [STATUS_INDEXED]
    if wanted.folders:
        either = []
        for root, prefix in folder_prefixes(wanted.folders):
            either += ["videos.path = ?", "substr(videos.path, 1, ?) = ?"]
            params += [root, len(prefix), prefix]
        conditions.append(f"({' OR '.join(either)})")
    for column, test, bound in (
        ("mtime_ns", ">=", wanted.after_ns),
        ("mtime_ns", "<", wanted.before_ns),
        ("duration_s", ">=", wanted.min_duration_s),
        ("duration_s", "<=", wanted.max_duration_s),
    ):
        if bound is not None:
            conditions.append(f"videos.{column} {test} ?")
            params.append(bound)
    return " AND ".join(conditions), params


class SqliteReader:
    """A library opened for reading only (see the module docstring); close it when done."""

    def __init__(self, folder: Path, connection: sqlite3.Connection) -> None:
        self.folder = folder
        self.index_path = folder / INDEX_FILENAME
        self._connection = connection
        self._settings: LibrarySettings | None = None
        self._vectors: FlatIndex | VectorIndex | None = None
        self._library: Library | None = None
        self._vectors_handed_over = False  # the Library's vectors: it saves them when closed
        # What vectors() last returned: clip_rerank_inputs takes its embeddings from it.
        self._searched: FlatIndex | VectorIndex | None = None
        # The fused search reads transcript lines (the Library's) on a thread of its own
        # (search.beside) while vectors() may hand over on this one: one Library for both.
        self._opening = threading.Lock()

    @classmethod
    def open(cls, folder: Path) -> SqliteReader | None:
        """A reader of the library in ``folder``, or None when only ``Library.open`` can open
        it: no database yet, or a schema that is not at the scripts' head (to be migrated)."""
        folder = Path(folder).expanduser().resolve()
        path = folder / DB_FILENAME
        heads = declared_heads()
        if heads is None or not path.is_file():
            return None
        try:
            connection = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000)
        except sqlite3.Error:
            return None  # Library.open says why, in its words
        try:
            stored = {
                row[0] for row in connection.execute("SELECT version_num FROM alembic_version")
            }
        except sqlite3.Error:
            stored = None
        if stored != heads:
            connection.close()
            return None
        read_advice.advise_database(connection)
        return cls(folder, connection)

    def __enter__(self) -> SqliteReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _rows(self, sql: str, params: list | tuple | dict = ()) -> list[tuple]:
        return self._connection.execute(sql, params).fetchall()

    @property
    def settings(self) -> LibrarySettings | None:
        """What the library is bound to, or None for a library never bound."""
        if self._settings is None:
            rows = self._rows(f"SELECT {_SETTINGS} FROM library WHERE id = ?", (LIBRARY_ROW_ID,))
            if rows:
                self._settings = LibrarySettings(*rows[0])
        return self._settings

    def _bound(self) -> LibrarySettings:
        settings = self.settings
        if settings is None:
            raise LibraryNotBoundError(self.folder)
        return settings

    def check_model(self, model_id: str, digest: str | None) -> None:
        """As ``Library.check_model``: ModelMismatchError unless it is the library's model."""
        check_model(self.settings, self.folder, model_id, digest)

    def generation(self) -> int:
        """The database's current generation (0 for a library never bound)."""
        rows = self._rows("SELECT generation FROM library WHERE id = ?", (LIBRARY_ROW_ID,))
        return int(rows[0][0] or 0) if rows else 0

    def vectors(self) -> FlatIndex | VectorIndex:
        """The saved FAISS index when it is exactly at the database's generation; otherwise
        the Library's (rebuilt or caught up, and saved when this reader is closed)."""
        settings = self._bound()
        if not self._vectors_handed_over:
            generation = self.generation()
            if self._vectors is None or self._vectors.generation != generation:
                self._vectors = self._saved_index(settings.embed_dim, generation)
            if self._vectors is not None:
                self._searched = self._vectors
                return self._vectors
            self._vectors_handed_over = True
        self._searched = self._full_library().vectors()
        return self._searched

    def _saved_index(self, dim: int, generation: int) -> FlatIndex | VectorIndex | None:
        """The saved index, read without FAISS when it is the exact index alone (a library
        below the shortlist's size: ``storage.flat_index``), else with it."""
        try:
            index = FlatIndex.read(self.index_path)
            if index is not None:
                fits = not shortlists.wanted(len(index), have=False)
            else:  # a shortlist, or a layout only FAISS knows
                from storage import vectors

                index = vectors.VectorIndex.load(self.index_path)
                fits = index.fits_size()
        except (OSError, CorruptIndexError):
            return None  # the Library says why when it rebuilds
        if index.dim != dim or index.generation != generation or not fits:
            return None
        return index

    def _full_library(self) -> Library:
        """The Library of the same folder, for what this reader leaves to it."""
        with self._opening:
            if self._library is None:
                from storage.library import Library

                logger.debug("library %s: reading through SQLAlchemy", self.folder)
                self._library = Library.open(self.folder)
            return self._library

    def clip_ids_matching(self, wanted: VideoFilter) -> np.ndarray:
        """Ids (int64, ascending) of the clips of indexed videos that pass ``wanted``."""
        conditions, params = _video_conditions(wanted)
        rows = self._connection.execute(
            "SELECT clips.id FROM clips JOIN videos ON videos.id = clips.video_id "
            f"WHERE {conditions} ORDER BY clips.id",
            params,
        )
        return np.fromiter((row[0] for row in rows), dtype=np.int64)

    def clip_hits(self, clip_ids: list[int]) -> dict[int, ClipHit]:
        """Path and time range of each clip id that still exists (vanished ids left out)."""
        hits: dict[int, ClipHit] = {}
        for chunk in id_chunks(clip_ids):
            for row in self._rows(
                "SELECT clips.id, clips.video_id, videos.path, clips.start_s, clips.end_s "
                "FROM clips JOIN videos ON videos.id = clips.video_id "
                f"WHERE clips.id IN ({_marks(chunk)})",
                chunk,
            ):
                hits[row[0]] = ClipHit(*row)
        return hits

    def clip_rerank_inputs(self, clip_ids: list[int]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """(re-rank features (tokens, dim), read-only, as ``feature_codec.view`` gives them; unit
        embedding (dim,) float32) of each clip id that still exists: the one place this reader
        reads features. As ``Library.clip_rerank_inputs``, the embeddings are taken from the
        vector index ``vectors()`` last returned, where it holds them (bit-identical to the
        stored ones); the others are joined from ``clips``."""
        settings = self._bound()
        dim, tokens = settings.embed_dim, settings.feature_tokens
        index = self._searched
        known = index.embeddings(clip_ids) if index is not None else {}
        found: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for chunk in id_chunks([i for i in clip_ids if i in known]):
            for clip_id, features in self._rows(
                f"SELECT clip_id, data FROM clip_features WHERE clip_id IN ({_marks(chunk)})",
                chunk,
            ):
                found[clip_id] = (feature_codec.view(features, tokens, dim), known[clip_id])
        for chunk in id_chunks([i for i in clip_ids if i not in known]):
            for clip_id, features, embedding in self._rows(
                "SELECT clip_features.clip_id, clip_features.data, clips.embedding "
                "FROM clip_features JOIN clips ON clips.id = clip_features.clip_id "
                f"WHERE clip_features.clip_id IN ({_marks(chunk)})",
                chunk,
            ):
                found[clip_id] = (
                    feature_codec.view(features, tokens, dim),
                    decode_embedding(embedding, dim),
                )
        return found

    def clips_at(self, places: list[tuple[int, float]]) -> list[int | None]:
        """For each (video id, time) the id of the clip playing then (the video's last clip
        starting at or before it, else its first), or None for a video without clips."""
        found: list[int | None] = []
        for sql, params in clips_at_statements(places):
            found += self._rows(sql, params)[0]
        return found

    def has_transcripts(self) -> bool:
        """Whether any video has a transcript line."""
        return bool(self._rows("SELECT id FROM transcript_lines LIMIT 1"))

    def search_transcripts(
        self, text: str, *, limit: int, wanted: VideoFilter | None = None
    ) -> list[TranscriptMatch]:
        """``storage.transcripts.search_transcripts``, through the Library: its bounds on
        common words, coverage and runs are one implementation, so a search of what is said
        imports SQLAlchemy (only a library with transcript lines gets here). Safe to call on
        another thread than the reader's (``search.beside``): it never touches the reader's
        own connection, which belongs to the thread that opened it."""
        return self._full_library().search_transcripts(text, limit=limit, wanted=wanted)

    def close(self) -> None:
        """Close the database, and the Library this reader handed over to, if any."""
        if self._library is not None:
            self._library.close()
            self._library = None
        self._vectors = self._searched = None
        self._vectors_handed_over = False
        self._connection.close()
