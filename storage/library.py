"""A library folder: the database (the truth) and the FAISS index (a cache of it).

``Library.open`` connects and migrates; the index is loaded only when ``vectors()`` is first
called, and every call brings it up to the database's current generation, so a long-running
reader (the server) sees what other processes commit without reopening.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import URL, Engine, create_engine, event, make_url, select, update
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from storage import migrations, read_advice, repository, transcripts
from storage.atomic_file import remove_stale, temporary_glob
from storage.errors import (
    CorruptIndexError,
    DatabaseUnavailableError,
    LibraryNotBoundError,
    LibraryWriteError,
    ModelMismatchError,
)
from storage.layout import BUSY_TIMEOUT_MS, DB_FILENAME, INDEX_FILENAME
from storage.models import LIBRARY_ROW_ID, LibraryRow
from storage.search_reads import ClipHit, VideoFilter
from storage.settings import LibrarySettings, check_model
from storage.transcript import TranscriptMatch
from storage.vectors import VectorIndex, make_index
from storage.write_failure import WriteFailures

logger = logging.getLogger(__name__)

SUPPORTED_BACKENDS = ("sqlite", "postgresql")
# The page size of a new SQLite library (SQLite's largest). A clip's re-rank features are one
# row of ``clip_features`` (50,177 bytes for 49 x 512 float16, 25,285 int8:
# storage/feature_codec.py); a rowid table's leaf page keeps a payload of up to usable size - 35
# bytes in the page itself (65,501 at 64 KB), so each clip's features are one page (two int8
# clips share one) and a cold read of a candidate is one read. With 4 KB pages the same float16
# row is a chain of 13 pages, read one after the other (issue 16). Measured (docs/speed.md, a
# real-size library on disk): 16 KB pages are as small on disk as 4 KB ones but slower cold,
# 32 KB pages as large as 64 KB ones and no faster. It can only be chosen before the file's
# first table; an existing library keeps its size.
PAGE_SIZE = 65_536
# SQLite checkpoints its write-ahead log when it reaches a number of pages (1,000 by default,
# 4 MB of 4 KB pages); the same bytes are asked for whatever the page size, so that a 64 KB-page
# library's log does not grow to 64 MB between checkpoints.
WAL_CHECKPOINT_BYTES = 4 * 1024 * 1024


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Set on every new SQLite connection: these pragmas are per connection (WAL persists)."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        # Only takes effect on a file without tables yet, and must come before WAL.
        cursor.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        _enable_wal(cursor)
        page_size = int(cursor.execute("PRAGMA page_size").fetchone()[0])
        cursor.execute(f"PRAGMA wal_autocheckpoint = {max(1, WAL_CHECKPOINT_BYTES // page_size)}")
        cursor.execute("PRAGMA foreign_keys = ON")
        read_advice.advise_database(cursor)
    finally:
        cursor.close()


def _enable_wal(cursor: Any) -> None:
    """Switch the file to WAL (it stays so). Switching needs the file to itself, and SQLite
    answers "database is locked" at once, without waiting out busy_timeout, when another
    process is opening the same new library: so wait here, until the other one has switched
    it, up to the busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def parse_db_url(url: str) -> URL:
    """Check a database URL and pick the driver clipdex ships for a bare ``postgresql://``.

    Only SQLite and PostgreSQL are supported: the migration lock and the tests cover those two.
    SQLAlchemy's default PostgreSQL driver is psycopg2, but the ``postgres`` extra installs
    psycopg 3, so a URL without a driver uses that.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        # Not echoed: an unparseable URL cannot have its password masked.
        raise DatabaseUnavailableError(
            "the database URL is not valid (expected e.g. postgresql://USER@HOST/DB)"
        ) from None
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        raise DatabaseUnavailableError(
            f"unsupported database {backend!r} in {parsed.render_as_string()}: "
            "clipdex keeps its metadata in SQLite or PostgreSQL"
        )
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def create_library_engine(url: str | URL) -> Engine:
    """An engine for the library database, with SQLite's pragmas on every connection.

    Raises DatabaseUnavailableError for a bad URL or a driver that is not installed.
    """
    parsed = parse_db_url(url) if isinstance(url, str) else url
    try:
        # pre_ping: a long-running reader (the server) survives a PostgreSQL restart.
        engine = create_engine(parsed, pool_pre_ping=parsed.get_backend_name() != "sqlite")
    except (ImportError, NoSuchModuleError) as exc:
        raise DatabaseUnavailableError(
            f"cannot use {parsed.render_as_string()}: its driver is not installed ({exc}); "
            "for PostgreSQL install the postgres extra (pip install -e '.[postgres]')"
        ) from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def index_filename(db_url: str | URL | None) -> str:
    """The FAISS cache file's name in the folder: ``index.faiss`` for the folder's own SQLite
    database, ``index-<digest of the URL>.faiss`` for a database given by ``--db-url``.

    The index records only a generation, and two databases reach the same generation with
    different clips: one folder used with and without ``--db-url`` (or with two servers) would
    otherwise load the other database's vectors as up to date and return wrong clips.
    The password is left out of the digest, so changing it costs no rebuild.
    """
    if db_url is None:
        return INDEX_FILENAME
    parsed = parse_db_url(db_url) if isinstance(db_url, str) else db_url
    identity = parsed.set(password=None).render_as_string(hide_password=False)
    return f"index-{hashlib.sha256(identity.encode()).hexdigest()[:16]}.faiss"


def _check_connection(engine: Engine) -> None:
    """Connect once, so an unreachable server is one clear error rather than a traceback."""
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        reason = str(exc.orig or exc).strip().splitlines()[0]
        raise DatabaseUnavailableError(
            f"cannot connect to the database {engine.url.render_as_string()}: {reason}"
        ) from exc


def _remove_stale_index_files(folder: Path) -> None:
    """Remove the temporary index files that a killed save left (each as large as the index).

    Done on every open, since any process may save the index (a reader saves the catch-up it
    did); a file another live process is still writing is locked, and kept.
    """
    # Every index file's temporaries: index.faiss and the index-<digest>.faiss of --db-url.
    pattern = temporary_glob(INDEX_FILENAME.replace(".faiss", "*.faiss"))
    for path in remove_stale(folder, pattern):
        logger.info("removed %s, left by an interrupted save of the vector index", path)


def _settings_of(row: LibraryRow) -> LibrarySettings:
    return LibrarySettings(
        model_id=row.model_id,
        embed_dim=row.embed_dim,
        frames_per_clip=row.frames_per_clip,
        image_size=row.image_size,
        feature_tokens=row.feature_tokens,
        min_clip_s=row.min_clip_s,
        max_clip_s=row.max_clip_s,
        shot_threshold=row.shot_threshold,
        model_digest=row.model_digest,
        feature_encoding=row.feature_encoding,
    )


class Library:
    """One library: open it, bind it to a model, then read and write through sessions."""

    def __init__(
        self,
        folder: Path,
        engine: Engine,
        index_name: str = INDEX_FILENAME,
        write_failures: WriteFailures | None = None,
    ) -> None:
        self.folder = folder
        self.engine = engine
        self.write_failures = write_failures or WriteFailures(folder, None)
        self.index_path = folder / index_name
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._settings: LibrarySettings | None = None
        self._vectors: VectorIndex | None = None
        self._saved_generation: int | None = None
        self._lock = threading.RLock()

    @classmethod
    def open(cls, folder: Path, *, db_url: str | None = None) -> Library:
        """Create the folder if needed, connect, and migrate the database to the newest schema.

        The database is ``folder/clipdex.db`` unless ``db_url`` points elsewhere (PostgreSQL);
        the FAISS index always lives in the folder, in a file named for its database.
        Raises DatabaseUnavailableError when the database cannot be used, LibraryWriteError
        when the folder cannot be created or the database written (full or read-only disk).
        """
        folder = Path(folder).expanduser().resolve()
        url = parse_db_url(db_url) if db_url else None
        failures = WriteFailures(folder, None if url else folder / DB_FILENAME)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            if (error := failures.from_os_error(exc)) is None:
                raise
            raise error from exc
        engine = create_library_engine(url or f"sqlite:///{folder / DB_FILENAME}")
        failures.attach(engine)
        try:
            _check_connection(engine)
            migrations.upgrade(engine)
        except BaseException:
            engine.dispose()
            raise
        _remove_stale_index_files(folder)
        logger.debug("opened library %s", folder)
        return cls(folder, engine, index_filename(url), failures)

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def session(self) -> Session:
        """A new Session; use ``with lib.session() as s, s.begin():``.

        Objects stay usable after the commit (``expire_on_commit=False``), so a caller can
        return a Video from its transaction.
        """
        return self._sessions()

    @property
    def settings(self) -> LibrarySettings | None:
        """What the library is bound to, or None for a fresh library (never bound)."""
        if self._settings is None:
            with self.session() as session:
                row = session.get(LibraryRow, LIBRARY_ROW_ID)
                if row is not None:
                    self._settings = _settings_of(row)
        return self._settings

    def bind(self, wanted: LibrarySettings) -> LibrarySettings:
        """Bind a fresh library to ``wanted``, or check that an existing one matches its model.

        Returns the stored settings: once a library exists its model id and segmentation
        settings win, so every clip in it is cut and sampled the same way and the user keeps
        seeing the name it was built with. Another model (or embedding size) raises
        ModelMismatchError. A library made before model digests existed records
        ``wanted.model_digest`` when bound with the very id or path it was built with.
        """
        stored = self.settings
        if stored is None:
            stored = self._store_settings(wanted)
        self.check_model(wanted.model_id, wanted.model_digest)
        if stored.embed_dim != wanted.embed_dim:
            raise ModelMismatchError(
                self.folder,
                stored.model_id,
                f"{wanted.model_id} (embedding size {wanted.embed_dim})",
            )
        if stored.model_digest is None and wanted.model_digest is not None:
            stored = self._record_digest(wanted.model_digest)
        return stored

    def check_model(self, model_id: str, digest: str | None) -> None:
        """Raise ModelMismatchError unless ``model_id`` (with ``digest``, None if unknown) is
        the model this library was built with (``storage.settings.check_model``)."""
        check_model(self.settings, self.folder, model_id, digest)

    def _record_digest(self, digest: str) -> LibrarySettings:
        """Fill the digest of a library made before digests (only where it is still empty, so
        a concurrent binder's value is kept) and return the stored settings."""
        with self.session() as session, session.begin():
            session.execute(
                update(LibraryRow)
                .where(LibraryRow.id == LIBRARY_ROW_ID, LibraryRow.model_digest.is_(None))
                .values(model_digest=digest)
            )
        logger.info("library %s: recorded its model's fingerprint %s", self.folder, digest[:12])
        self._settings = None
        stored = self.settings
        if stored is None:
            raise RuntimeError("library row vanished while its model digest was recorded")
        return stored

    def _store_settings(self, wanted: LibrarySettings) -> LibrarySettings:
        """Insert the library row; if another process won the race, return what it stored."""
        try:
            with self.session() as session, session.begin():
                session.add(LibraryRow(id=LIBRARY_ROW_ID, generation=0, **asdict(wanted)))
            logger.info("bound library %s to model %s", self.folder, wanted.model_id)
            self._settings = wanted
        except IntegrityError:
            logger.debug("library %s was bound concurrently", self.folder)
        stored = self.settings
        if stored is None:
            raise RuntimeError("library row vanished right after it was created")
        return stored

    def generation(self) -> int:
        """The database's current generation (0 for a fresh library), read fresh every time."""
        with self.session() as session:
            value = session.scalar(
                select(LibraryRow.generation).where(LibraryRow.id == LIBRARY_ROW_ID)
            )
        return int(value or 0)

    # What a search reads (``search.catalog.Catalog``), each in a session of its own;
    # ``storage.sqlite_reader.SqliteReader`` answers the same reads without SQLAlchemy.

    def clip_ids_matching(self, wanted: VideoFilter) -> np.ndarray:
        """``repository.clip_ids_matching``: the clip ids (ascending) of videos passing it."""
        with self.session() as session:
            return repository.clip_ids_matching(wanted, session=session)

    def clip_hits(self, clip_ids: list[int]) -> dict[int, ClipHit]:
        """``repository.clip_hits``: where each clip id that still exists is."""
        with self.session() as session:
            return repository.clip_hits(clip_ids, session=session)

    def clip_rerank_inputs(self, clip_ids: list[int]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """``repository.clip_rerank_inputs``: (features, unit embedding) per existing clip id.

        The embeddings come from the vector index, when ``vectors()`` has loaded it (a search
        has: it searched it) and it holds them; only the features are read from the database,
        and the embeddings of ids it lacks. The index is not loaded or caught up for this."""
        index = self._vectors
        held = index.embeddings(clip_ids) if index is not None else None
        bound = self.settings
        shape = (bound.embed_dim, bound.feature_tokens) if bound is not None else None
        with self.session() as session:
            return repository.clip_rerank_inputs(
                clip_ids, session=session, embeddings=held, shape=shape
            )

    def clips_at(self, places: list[tuple[int, float]]) -> list[int | None]:
        """``repository.clips_at``: the clip playing at each (video id, time)."""
        with self.session() as session:
            return repository.clips_at(places, session=session)

    def has_transcripts(self) -> bool:
        """Whether any video has a transcript line."""
        with self.session() as session:
            return transcripts.has_transcripts(session=session)

    def search_transcripts(
        self, text: str, *, limit: int, wanted: VideoFilter | None = None
    ) -> list[TranscriptMatch]:
        """``transcripts.search_transcripts``: the ``limit`` best lines matching ``text``."""
        with self.session() as session:
            return transcripts.search_transcripts(text, session=session, limit=limit, wanted=wanted)

    def vectors(self) -> VectorIndex:
        """The FAISS index, brought up to the database's current generation.

        Loaded from ``index.faiss`` on first use. A file that is missing, unreadable, of another
        dimension, or ahead of the database (restored or replaced database) is rebuilt from the
        stored embeddings; one that is behind catches up from the clips and tombstones newer
        than it. Raises LibraryNotBoundError for a library that was never bound.
        """
        settings = self.settings
        if settings is None:
            raise LibraryNotBoundError(self.folder)
        with self._lock:
            db_generation = self.generation()
            index = self._vectors
            if index is None:
                index = self._load(settings.embed_dim, db_generation)
            if index is None or index.generation > db_generation:
                index = self._rebuild(settings.embed_dim, db_generation)
            elif index.generation < db_generation:
                self._catch_up(index, db_generation)
            if index.fit_size():
                self._saved_generation = None  # re-planned: the saved file is stale
                logger.info("vector index re-planned for %d clips: %s", len(index), index.kind)
            self._vectors = index
            return index

    def _load(self, dim: int, db_generation: int) -> VectorIndex | None:
        """The saved index if it is usable, else None (and say why)."""
        try:
            index = VectorIndex.load(self.index_path)
        except FileNotFoundError:
            logger.info("no vector index at %s: building it", self.index_path)
            return None
        except (CorruptIndexError, OSError) as exc:
            logger.warning("rebuilding the vector index: %s", exc)
            return None
        if index.dim != dim:
            logger.warning("rebuilding the vector index: it has %d dims, not %d", index.dim, dim)
            return None
        if index.generation > db_generation:
            logger.warning(
                "rebuilding the vector index: it is at generation %d, the database at %d",
                index.generation,
                db_generation,
            )
            return None
        self._saved_generation = index.generation
        return index

    def _rebuild(self, dim: int, db_generation: int) -> VectorIndex:
        """A new index holding every stored clip up to ``db_generation``."""
        with self.session() as session:
            count = repository.counts(session=session)[1]
            index = VectorIndex(dim, 0, make_index(dim, count))
            for ids, vectors in repository.clip_vectors_between(-1, db_generation, session=session):
                index.add(ids, vectors)
        index.generation = db_generation
        self._saved_generation = None
        logger.info(
            "rebuilt the vector index: %d clips at generation %d", len(index), db_generation
        )
        return index

    def _catch_up(self, index: VectorIndex, db_generation: int) -> None:
        """Apply the changes between the index's generation and ``db_generation``.

        Removals go first: if an id were ever reused, the old vector must go before the new
        one arrives.
        """
        after = index.generation
        with self.session() as session:
            removed = index.remove(
                repository.tombstones_between(after, db_generation, session=session)
            )
            added = 0
            for ids, vectors in repository.clip_vectors_between(
                after, db_generation, session=session
            ):
                index.add(ids, vectors)
                added += len(ids)
        index.generation = db_generation
        logger.debug(
            "vector index caught up from %d to %d: +%d -%d", after, db_generation, added, removed
        )

    def save_vectors(self) -> None:
        """Save the in-memory index with its generation, if it changed since it was last saved.

        Raises LibraryWriteError when the disk is full or read-only.
        """
        with self._lock:
            index = self._vectors
            if index is None or index.generation == self._saved_generation:
                return
            try:
                index.save(self.index_path)
            except OSError as exc:
                if (error := self.write_failures.from_os_error(exc)) is None:
                    raise
                raise error from exc
            self._saved_generation = index.generation

    def close(self) -> None:
        """Save a changed index (best effort: it is only a cache) and release the connections.

        After a write the disk refused, the save is not tried: it would fail the same way, and
        the error was already raised to the caller.
        """
        if self.write_failures.seen is None:
            try:
                self.save_vectors()
            except (OSError, LibraryWriteError) as exc:
                logger.warning("could not save the vector index to %s: %s", self.index_path, exc)
        self._vectors = None
        self.engine.dispose()
