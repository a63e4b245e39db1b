"""Queries and changes on transcript lines: what videos say, stored and searched by words.

Like ``storage.repository``, every function takes ``*, session`` and never commits: the indexer
stores a video's lines in the same transaction as its clips. Lines do not touch the library
generation, which tracks what the FAISS cache holds (clips); they are read from the database.

Search uses the backend's own full-text index (see migration 0004 and ``storage.fulltext``):
bm25 over an FTS5 table on SQLite, ``ts_rank_cd`` over a GIN-indexed tsvector on PostgreSQL.
Scores are the engine's, higher is better, comparable within one query on one backend only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from sqlalchemy import Select, bindparam, case, delete, func, insert, literal_column, select, table
from sqlalchemy.orm import Session

from storage.fulltext import FullTextQuery, fts5_expression, parse_query, pg_config, pg_tsquery
from storage.models import FULL_TEXT_TABLE, STATUS_INDEXED, TranscriptLineRow, Video
from storage.repository import VideoFilter, video_conditions
from storage.transcript import (
    MARK_CLOSE,
    MARK_OPEN,
    SOURCE_SPEECH,
    TranscriptLine,
    TranscriptMatch,
    transcript_match,
    unmarked,
)


@dataclass(frozen=True)
class TranscriptCounts:
    """Indexed videos by what their lines came from. A video with both speech and subtitle
    lines counts in both; ``neither`` have no lines at all."""

    speech: int
    subtitles: int
    neither: int
    lines: int


def _rows(video_id: int, lines: Iterable[TranscriptLine]) -> list[dict]:
    rows = []
    for line in lines:
        text = " ".join(unmarked(line.text).split())
        if text:
            rows.append(
                {
                    "video_id": video_id,
                    "start_s": float(line.start_s),
                    "end_s": float(line.end_s),
                    "source": line.source,
                    "language": line.language,
                    "text": text,
                }
            )
    return rows


def replace_transcript(video_id: int, lines: Iterable[TranscriptLine], *, session: Session) -> int:
    """Store ``lines`` as all of a video's transcript, replacing what it had; return how many.

    Whitespace is collapsed and lines left empty are not stored.
    """
    delete_transcript(video_id, session=session)
    rows = _rows(video_id, lines)
    if rows:
        session.execute(insert(TranscriptLineRow), rows)
    return len(rows)


def delete_transcript(video_id: int, *, session: Session) -> None:
    """Forget a video's lines."""
    session.execute(delete(TranscriptLineRow).where(TranscriptLineRow.video_id == video_id))


def copy_transcript(source_id: int, target_id: int, *, session: Session) -> int:
    """Give ``target_id`` the lines of ``source_id`` (an exact copy), replacing its own."""
    return replace_transcript(target_id, transcript_of(source_id, session=session), session=session)


def transcript_of(video_id: int, *, session: Session) -> list[TranscriptLine]:
    """A video's lines in time order."""
    rows = session.execute(
        select(
            TranscriptLineRow.start_s,
            TranscriptLineRow.end_s,
            TranscriptLineRow.text,
            TranscriptLineRow.source,
            TranscriptLineRow.language,
        )
        .where(TranscriptLineRow.video_id == video_id)
        .order_by(TranscriptLineRow.start_s, TranscriptLineRow.id)
    )
    return [TranscriptLine(*row) for row in rows]


def has_transcripts(*, session: Session) -> bool:
    """Whether any video has a line (search then fuses words with pictures by default)."""
    return session.scalar(select(TranscriptLineRow.id).limit(1)) is not None


def transcript_counts(*, session: Session) -> TranscriptCounts:
    """How many indexed videos have speech lines, subtitle lines (embedded or sidecar), none."""
    speech_line = case((TranscriptLineRow.source == SOURCE_SPEECH, 1), else_=0)
    per_video = (
        select(
            TranscriptLineRow.video_id.label("video_id"),
            func.max(speech_line).label("speech"),
            func.max(1 - speech_line).label("subtitles"),
            func.count().label("lines"),
        )
        .join(Video, Video.id == TranscriptLineRow.video_id)
        .where(Video.status == STATUS_INDEXED)
        .group_by(TranscriptLineRow.video_id)
        .subquery()
    )
    speech, subtitles, with_lines, lines = session.execute(
        select(
            func.coalesce(func.sum(per_video.c.speech), 0),
            func.coalesce(func.sum(per_video.c.subtitles), 0),
            func.count(),
            func.coalesce(func.sum(per_video.c.lines), 0),
        )
    ).one()
    indexed = session.scalar(
        select(func.count()).select_from(Video).where(Video.status == STATUS_INDEXED)
    )
    return TranscriptCounts(int(speech), int(subtitles), int(indexed or 0) - with_lines, int(lines))


def search_transcripts(
    text: str, *, session: Session, limit: int, wanted: VideoFilter | None = None
) -> list[TranscriptMatch]:
    """The ``limit`` lines of indexed videos (passing ``wanted``) that best match ``text``.

    See ``storage.fulltext`` for what a query means; a query with no searchable word finds
    nothing. Best first; ties in order of line id. Two queries: the ranking reads only ids and
    scores of every matching line, then the details (highlighting included) are read for the
    ``limit`` best, so a common word costs its ranking, not a highlight of every line it is on.
    """
    query = parse_query(text)
    if not query or limit <= 0:
        return []
    engine = _Postgres(query) if session.get_bind().dialect.name == "postgresql" else _Sqlite(query)
    ranking = (
        engine.lines(TranscriptLineRow.id, engine.score.label("score"))
        .join(Video, Video.id == TranscriptLineRow.video_id)
        .where(Video.status == STATUS_INDEXED, *video_conditions(wanted or VideoFilter()))
        .order_by(literal_column("score").desc(), TranscriptLineRow.id)
        .limit(limit)
    )
    scores = {int(i): float(score) for i, score in session.execute(ranking)}
    if not scores:
        return []
    details = (
        engine.lines(*_COLUMNS, engine.marked)
        .join(Video, Video.id == TranscriptLineRow.video_id)
        .where(TranscriptLineRow.id.in_(list(scores)))
    )
    rows = {row[0]: row for row in session.execute(details)}
    matches = [transcript_match(rows[i], scores[i]) for i in scores if i in rows]
    units = len(query.phrases) + len(query.words)
    if units == 1:
        return matches
    found = {m.line_id: len(query.phrases) for m in matches}
    for word in query.words:
        single = type(engine)(FullTextQuery((), (word,)))
        having = single.lines(TranscriptLineRow.id).where(TranscriptLineRow.id.in_(list(found)))
        for line_id in session.scalars(having):
            found[line_id] += 1
    return [replace(m, coverage=found[m.line_id] / units) for m in matches]


_COLUMNS = (
    TranscriptLineRow.id,
    TranscriptLineRow.video_id,
    Video.path,
    TranscriptLineRow.start_s,
    TranscriptLineRow.end_s,
    TranscriptLineRow.text,
    TranscriptLineRow.source,
    TranscriptLineRow.language,
)


class _Sqlite:
    """A query on SQLite: FTS5 MATCH, bm25, highlight()."""

    def __init__(self, query: FullTextQuery) -> None:
        self.expression = fts5_expression(query)
        # bm25() is lower for better matches; negated, every score is "higher is better".
        self.score = literal_column(f"-bm25({FULL_TEXT_TABLE})")
        self.marked = func.highlight(literal_column(FULL_TEXT_TABLE), 0, MARK_OPEN, MARK_CLOSE)

    def lines(self, *columns) -> Select:
        """SELECT ``columns`` FROM the lines matching the query."""
        rowid = literal_column(f"{FULL_TEXT_TABLE}.rowid")
        fts = literal_column(FULL_TEXT_TABLE)
        return (
            select(*columns)
            .select_from(table(FULL_TEXT_TABLE))
            .join(TranscriptLineRow, TranscriptLineRow.id == rowid)
            .where(fts.op("MATCH")(bindparam("fts", self.expression)))
        )


class _Postgres:
    """A query on PostgreSQL: the GIN-indexed tsvector, ts_rank_cd, ts_headline."""

    def __init__(self, query: FullTextQuery) -> None:
        self.wanted = pg_tsquery(query)
        self.vector = func.to_tsvector(pg_config(), TranscriptLineRow.text)
        self.score = func.ts_rank_cd(self.vector, self.wanted)
        options = f"StartSel={MARK_OPEN}, StopSel={MARK_CLOSE}, HighlightAll=true"
        self.marked = func.ts_headline(pg_config(), TranscriptLineRow.text, self.wanted, options)

    def lines(self, *columns) -> Select:
        return (
            select(*columns).select_from(TranscriptLineRow).where(self.vector.op("@@")(self.wanted))
        )
