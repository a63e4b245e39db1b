"""The database schema: SQLAlchemy 2.0 typed models.

The database is the source of truth for everything, vectors included; the FAISS file is a cache
rebuilt from ``clips.embedding``. Types are kept portable (SQLite now, PostgreSQL through
``--db-url``): ``LargeBinary`` becomes BLOB or bytea, 64-bit counters use ``BigInteger``.
The schema is created and changed only by the Alembic migrations in ``alembic/versions``;
``tests/storage`` checks that these models and the migrated schema agree.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql import expression

from storage.transcript import SOURCES

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

STATUS_INDEXED = "indexed"
STATUS_FAILED = "failed"
LIBRARY_ROW_ID = 1

# The full-text index of transcript lines is the backend's own (SQLite FTS5 virtual table,
# triggers and shadow tables; a PostgreSQL expression index), made by migration 0004 and not
# described by these models; comparing the models with a database leaves them out.
FULL_TEXT_TABLE = "transcript_fts"
FULL_TEXT_INDEX = "ix_transcript_lines_text_search"


def is_modelled(name: str | None, type_: str, _parents: object = None) -> bool:
    """Whether a database object is one these models describe (Alembic's ``include_name``)."""
    if type_ == "table" and name is not None and name.startswith(FULL_TEXT_TABLE):
        return False
    return not (type_ == "index" and name == FULL_TEXT_INDEX)


def utcnow() -> datetime:
    """The current time in UTC (SQLite keeps no zone, so everything stored is UTC)."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base whose metadata names constraints predictably, for Alembic."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class LibraryRow(Base):
    """The single row (id 1) saying what built the library, and its change counter.

    ``generation`` is bumped by every committed change to videos or clips; the FAISS file
    records the generation it reflects, so a reader can tell how far behind it is.
    """

    __tablename__ = "library"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    model_id: Mapped[str] = mapped_column(Text)
    # SHA-256 of the model's config and weights; NULL in libraries made before revision 0003.
    model_digest: Mapped[str | None] = mapped_column(String(64))
    embed_dim: Mapped[int] = mapped_column(Integer)
    frames_per_clip: Mapped[int] = mapped_column(Integer)
    image_size: Mapped[int] = mapped_column(Integer)
    feature_tokens: Mapped[int] = mapped_column(Integer)
    min_clip_s: Mapped[float] = mapped_column(Float)
    max_clip_s: Mapped[float] = mapped_column(Float)
    shot_threshold: Mapped[float] = mapped_column(Float)
    generation: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    # Speech recognition: off, auto (files without subtitle text) or always; and the
    # faster-whisper model it was turned on with (revision 0005).
    speech_mode: Mapped[str] = mapped_column(String(8), default="off", server_default=text("'off'"))
    speech_model: Mapped[str | None] = mapped_column(Text)
    # How clip_features.data is encoded (storage.feature_codec; revision 0007).
    feature_encoding: Mapped[str] = mapped_column(
        String(8), default="float16", server_default=text("'float16'")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Video(Base):
    """One media file, indexed or failed.

    Size and mtime let discovery skip unchanged files; the fingerprint recognises a moved file
    so its clips are kept instead of re-embedded. Probe fields are nullable because a failed
    file may not have been readable at all. ``error`` is why a failed file failed, or, for an
    indexed one, why it is *partial* (indexed only as far as it could be read: truncated, or
    decoding failed midway); None for a video indexed whole.
    """

    __tablename__ = "videos"
    __table_args__ = (
        CheckConstraint(f"status IN ('{STATUS_INDEXED}', '{STATUS_FAILED}')", name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(Text, unique=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    fingerprint: Mapped[str | None] = mapped_column(String(64), index=True)
    duration_s: Mapped[float | None] = mapped_column(Float)
    fps: Mapped[float | None] = mapped_column(Float)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    codec: Mapped[str | None] = mapped_column(String(64))
    rotation: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    indexed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Whether the text stage considered this file with speech on (listened, or found subtitles
    # that made listening unnecessary); false files are listened to once speech is turned on.
    speech_checked: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=expression.false()
    )

    @property
    def audio_only(self) -> bool:
        """An indexed file without pictures (a podcast, a voice memo), indexed for what it
        says when the library has speech on: no clips, and no picture size (no column of its
        own: an indexed video always has a width)."""
        return self.status == STATUS_INDEXED and self.width is None

    def __repr__(self) -> str:
        return f"Video(id={self.id!r}, path={self.path!r}, status={self.status!r})"


class Clip(Base):
    """A time range of a video with its embedding; its re-rank features are a ``ClipFeaturesRow``.

    Clip ids are the FAISS ids. ``sqlite_autoincrement`` stops SQLite from reusing the id of a
    deleted last row: a reused id would make a stale index confuse the old clip with the new.
    """

    __tablename__ = "clips"
    __table_args__ = (
        Index("ix_clips_video_id_start_s", "video_id", "start_s"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    generation: Mapped[int] = mapped_column(BigInteger, index=True)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)

    video: Mapped[Video] = relationship(lazy="select")

    def __repr__(self) -> str:
        return (
            f"Clip(id={self.id!r}, video_id={self.video_id!r}, "
            f"start_s={self.start_s!r}, end_s={self.end_s!r})"
        )


class ClipFeaturesRow(Base):
    """One clip's re-rank features, encoded by ``storage.feature_codec`` (the library's
    ``feature_encoding``).

    A table of their own (revision 0007) so that one clip's features are one row of a rowid
    table (``clip_id`` is an INTEGER PRIMARY KEY, so the rowid): in a SQLite library made with
    64 KB pages (``storage.library.PAGE_SIZE``) a row of 50 KB (float16) or 25 KB (int8) fits in
    one leaf page, and a cold re-rank reads one page per candidate instead of following a chain
    of overflow pages. It is written in the transaction that stores its clip and goes with it
    (ON DELETE CASCADE).
    """

    __tablename__ = "clip_features"

    clip_id: Mapped[int] = mapped_column(
        ForeignKey("clips.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    data: Mapped[bytes] = mapped_column(LargeBinary)


class ClipTombstone(Base):
    """A removed clip id and the generation that removed it.

    A FAISS index saved at generation g catches up by removing the tombstones newer than g
    and adding the clips newer than g, instead of rebuilding from every embedding.
    """

    __tablename__ = "clip_tombstones"

    clip_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    generation: Mapped[int] = mapped_column(BigInteger, index=True)


class FrameHashRow(Base):
    """Perceptual hashes of one video's frames, sampled at a fixed rate, packed in one row.

    Duplicate detection reads every video's hashes at once, so they are stored as three packed
    little-endian arrays (times float32, 64-bit hashes uint64, informative flags uint8) rather
    than a row per frame. The row goes with its video (ON DELETE CASCADE) and is kept when the
    video moves (same video id). ``version`` says how the hashes were made: 1, one median-pHash
    of the whole frame per time (before revision 0005); 2, one sign-pHash per region of
    ``indexer.framehash.REGIONS`` per time (hashes and flags are (times x regions), row-major);
    3, the same plus ``value``, a whole-frame hash of HSV's V (``storage.frame_hashes``).
    """

    __tablename__ = "frame_hashes"

    video_id: Mapped[int] = mapped_column(
        ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    times: Mapped[bytes] = mapped_column(LargeBinary)
    hashes: Mapped[bytes] = mapped_column(LargeBinary)
    informative: Mapped[bytes] = mapped_column(LargeBinary)
    version: Mapped[int] = mapped_column(Integer, server_default="1")


class TranscriptLineRow(Base):
    """One line of what a video says (``storage.transcript.TranscriptLine``), with its times.

    Goes with its video (ON DELETE CASCADE) and stays with it when the file moves (same video
    id). Full-text search reads the backend's index over ``text`` (see ``FULL_TEXT_TABLE``).
    """

    __tablename__ = "transcript_lines"
    __table_args__ = (
        CheckConstraint(
            "source IN (" + ", ".join(f"'{source}'" for source in SOURCES) + ")", name="source"
        ),
        Index("ix_transcript_lines_video_id_start_s", "video_id", "start_s"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(16))
    language: Mapped[str | None] = mapped_column(String(35))
    text: Mapped[str] = mapped_column(Text)
