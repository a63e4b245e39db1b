"""Queries and changes on transcript lines: what videos say, stored and searched by words.

Like ``storage.repository``, every function takes ``*, session`` and never commits: the indexer
stores a video's lines in the same transaction as its clips. Lines do not touch the library
generation, which tracks what the FAISS cache holds (clips); they are read from the database.

Search uses the backend's own full-text index (see migration 0004 and ``storage.fulltext``):
bm25 over an FTS5 table on SQLite, ``ts_rank_cd`` over a GIN-indexed tsvector on PostgreSQL.
Scores are the engine's, higher is better, comparable within one query on one backend only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from sqlalchemy import (
    ColumnElement,
    Select,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal_column,
    select,
    table,
)
from sqlalchemy.orm import Session, aliased

from storage.fulltext import (
    PG_CONFIG,
    FullTextQuery,
    fts5_expression,
    longest_run,
    parse_query,
    pg_tsquery,
    tokens,
)
from storage.models import FULL_TEXT_TABLE, STATUS_INDEXED, TranscriptLineRow, Video
from storage.repository import VideoFilter, video_conditions
from storage.transcript import SOURCE_SPEECH, TranscriptLine

# Marks around matched words in the highlighted text the backends return; control characters
# no stored line contains (replace_transcript removes them).
_OPEN, _CLOSE = "\x02", "\x03"
_MARKS = re.compile(f"[{_OPEN}{_CLOSE}]")
_MARKED = re.compile(f"{_OPEN}([^{_CLOSE}]*){_CLOSE}")


@dataclass(frozen=True)
class TranscriptMatch:
    """A line that matched a query: where it is, what it says, and how well it matched.

    ``marks`` are (start, end) character offsets into ``text`` of the words that matched;
    ``coverage`` is the share of the query's words and phrases the line has (phrases always);
    ``run`` the most consecutive tokens of the query, stop words included, that the line says
    in a row (``storage.fulltext.longest_run``: how much of a typed phrase it says verbatim).
    """

    line_id: int
    video_id: int
    path: str
    start_s: float
    end_s: float
    text: str
    source: str
    language: str | None
    score: float
    marks: tuple[tuple[int, int], ...]
    coverage: float = 1.0
    run: int = 0


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
        text = " ".join(_MARKS.sub(" ", line.text).split())
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


# About how many lines one query scores at most (bm25 on SQLite, ts_rank_cd on PostgreSQL cost
# a few microseconds a line): bare words on more lines than this together are bounded.
RANKED_LINES = 10_000


def search_transcripts(
    text: str, *, session: Session, limit: int, wanted: VideoFilter | None = None
) -> list[TranscriptMatch]:
    """The ``limit`` lines of indexed videos (passing ``wanted``) that best match ``text``.

    See ``storage.fulltext`` for what a query means; a query with no searchable word finds
    nothing. Best first; ties in order of line id. Two queries: the ranking reads only ids and
    scores, then the details (highlighting included) are read for the ``limit`` best.

    Bare words found on more than ``RANKED_LINES`` lines together are bounded, since a
    common word would otherwise have every line of a large library scored:
    - only lines that have one of the rarest words (as many as fit in ``RANKED_LINES``, at
      least one word) are candidates; every word of the query still ranks them, counts in
      ``coverage`` and is marked. Lines with none of the rarest words are not found;
    - if even the rarest word is on more than ``RANKED_LINES`` lines, the ``RANKED_LINES``
      newest lines that have it are ranked (lines that all say a common word differ only by
      bm25's length and repetition terms), unless the video filter leaves fewer than ``limit``
      of those: then all its lines are ranked.
    Queries whose words are on fewer lines, and every query with a quoted phrase (the phrase
    bounds the candidates), are ranked exactly as bm25/ts_rank_cd rank them.
    """
    query = parse_query(text)
    if not query or limit <= 0:
        return []
    kind = _Postgres if session.get_bind().dialect.name == "postgresql" else _Sqlite
    ranked, sample = _bounded(query, kind, session)
    engine = kind(ranked)
    conditions = [Video.status == STATUS_INDEXED, *video_conditions(wanted or VideoFilter())]
    scores = _ranking(engine, conditions, limit, sample, session)
    if sample is not None and len(scores) < limit:
        scores = _ranking(engine, conditions, limit, None, session)
    if not scores:
        return []
    details = (
        engine.lines(*_COLUMNS, engine.marked)
        .join(Video, Video.id == TranscriptLineRow.video_id)
        .where(TranscriptLineRow.id.in_(list(scores)))
    )
    rows = {row[0]: row for row in session.execute(details)}
    said = tokens(text)
    matches = [_match(rows[i], scores[i], said) for i in scores if i in rows]
    units = len(query.phrases) + len(query.words)
    if units == 1:
        return matches
    found = {m.line_id: len(query.phrases) for m in matches}
    for word in query.words:
        single = kind(FullTextQuery((), (word,)))
        having = single.lines(TranscriptLineRow.id).where(TranscriptLineRow.id.in_(list(found)))
        for line_id in session.scalars(having):
            found[line_id] += 1
    return [replace(m, coverage=found[m.line_id] / units) for m in matches]


def _bounded(query: FullTextQuery, kind, session: Session) -> tuple[FullTextQuery, int | None]:
    """``query`` with the candidates bounded (see ``search_transcripts``), and how many of the
    newest candidate lines to rank (None: all)."""
    if query.phrases or len(query.words) == 0:
        return query, None
    counts = {w: _lines_with(kind, w, RANKED_LINES + 1, session) for w in query.words}
    if sum(counts.values()) <= RANKED_LINES:
        return query, None
    among, total = [], 0
    for word in sorted(query.words, key=lambda w: counts[w]):
        if among and total + counts[word] > RANKED_LINES:
            break
        among.append(word)
        total += counts[word]
    bounded = replace(query, among=tuple(among))
    return bounded, (RANKED_LINES if total > RANKED_LINES else None)


def _lines_with(kind, word: str, n: int, session: Session) -> int:
    """On how many lines ``word`` is, counted up to ``n``."""
    some = kind(FullTextQuery((), (word,))).some(n).subquery()
    return session.scalar(select(func.count()).select_from(some))


def _ranking(engine, conditions: list, limit: int, sample: int | None, session: Session) -> dict:
    """{line id: score} of the ``limit`` best lines passing ``conditions``, best first; with
    ``sample``, among the ``sample`` newest matching lines only."""
    if sample is None:
        ranking = engine.lines(TranscriptLineRow.id, engine.score.label("score")).join(
            Video, Video.id == TranscriptLineRow.video_id
        )
    else:
        newest = engine.newest(sample).subquery()
        ranking = (
            select(TranscriptLineRow.id, newest.c.score.label("score"))
            .select_from(newest)
            .join(TranscriptLineRow, TranscriptLineRow.id == newest.c.id)
            .join(Video, Video.id == TranscriptLineRow.video_id)
        )
    ranking = (
        ranking.where(*conditions)
        .order_by(literal_column("score").desc(), TranscriptLineRow.id)
        .limit(limit)
    )
    return {int(i): float(score) for i, score in session.execute(ranking)}


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
        self.marked = func.highlight(literal_column(FULL_TEXT_TABLE), 0, _OPEN, _CLOSE)

    def lines(self, *columns) -> Select:
        """SELECT ``columns`` FROM the lines matching the query."""
        rowid = literal_column(f"{FULL_TEXT_TABLE}.rowid")
        return (
            select(*columns)
            .select_from(table(FULL_TEXT_TABLE))
            .join(TranscriptLineRow, TranscriptLineRow.id == rowid)
            .where(self._matching())
        )

    def newest(self, n: int) -> Select:
        """(id, score) of the ``n`` matching lines with the highest ids, read from the FTS5
        table alone: it walks its index backwards and stops after ``n``."""
        rowid = literal_column(f"{FULL_TEXT_TABLE}.rowid")
        return (
            select(rowid.label("id"), self.score.label("score"))
            .select_from(table(FULL_TEXT_TABLE))
            .where(self._matching())
            .order_by(rowid.desc())
            .limit(n)
        )

    def some(self, n: int) -> Select:
        """At most ``n`` matching rows, from the FTS5 table alone."""
        rowid = literal_column(f"{FULL_TEXT_TABLE}.rowid")
        return select(rowid).select_from(table(FULL_TEXT_TABLE)).where(self._matching()).limit(n)

    def _matching(self) -> ColumnElement[bool]:
        fts = literal_column(FULL_TEXT_TABLE)
        return fts.op("MATCH")(bindparam("fts", self.expression))


class _Postgres:
    """A query on PostgreSQL: the GIN-indexed tsvector, ts_rank_cd, ts_headline."""

    def __init__(self, query: FullTextQuery) -> None:
        self.wanted = pg_tsquery(query)
        self.vector = func.to_tsvector(PG_CONFIG, TranscriptLineRow.text)
        self.score = func.ts_rank_cd(self.vector, self.wanted)
        options = f"StartSel={_OPEN}, StopSel={_CLOSE}, HighlightAll=true"
        self.marked = func.ts_headline(PG_CONFIG, TranscriptLineRow.text, self.wanted, options)

    def lines(self, *columns) -> Select:
        return (
            select(*columns).select_from(TranscriptLineRow).where(self.vector.op("@@")(self.wanted))
        )

    def some(self, n: int) -> Select:
        """At most ``n`` matching rows."""
        return self.lines(TranscriptLineRow.id).limit(n)

    def newest(self, n: int) -> Select:
        """(id, score) of the ``n`` matching lines with the highest ids: scored after they are
        chosen (ts_rank_cd parses each line's text again)."""
        chosen = (
            self.lines(TranscriptLineRow.id).order_by(TranscriptLineRow.id.desc()).limit(n)
        ).subquery()
        line = aliased(TranscriptLineRow)
        score = func.ts_rank_cd(func.to_tsvector(PG_CONFIG, line.text), self.wanted)
        return select(chosen.c.id.label("id"), score.label("score")).join(
            line, line.id == chosen.c.id
        )


def _marks(marked: str | None, text: str) -> tuple[tuple[int, int], ...]:
    """Offsets of the marked words, when the highlighted text is the stored text marked."""
    if not marked or _MARKS.sub("", marked) != text:
        return ()
    spans, removed = [], 0
    for found in _MARKED.finditer(marked):
        start = found.start() - removed
        spans.append((start, start + len(found.group(1))))
        removed += 2
    return tuple(spans)


def _match(row, score: float, query_tokens: list[str]) -> TranscriptMatch:
    line_id, video_id, path, start_s, end_s, text, source, language, marked = row
    return TranscriptMatch(
        line_id=line_id,
        video_id=video_id,
        path=path,
        start_s=float(start_s),
        end_s=float(end_s),
        text=text,
        source=source,
        language=language,
        score=float(score),
        marks=_marks(marked, text),
        run=longest_run(query_tokens, tokens(text)),
    )
