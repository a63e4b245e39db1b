"""Queries and changes on transcript lines: what videos say, stored and searched by words.

Like ``storage.repository``, every function takes ``*, session`` and never commits: the indexer
stores a video's lines in the same transaction as its clips. Lines do not touch the library
generation, which tracks what the FAISS cache holds (clips); they are read from the database.

Search uses the backend's own full-text index (see migration 0004 and ``storage.fulltext``):
bm25 over an FTS5 table on SQLite, ``ts_rank_cd`` over a GIN-indexed tsvector on PostgreSQL.
Scores are the engine's, higher is better, comparable within one query on one backend only.
"""

from __future__ import annotations

import sqlite3
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
    FTS5_TOKENIZE,
    FullTextQuery,
    fts5_expression,
    longest_run,
    parse_query,
    pg_config,
    pg_tsquery,
    tokens,
)
from storage.models import FULL_TEXT_TABLE, STATUS_INDEXED, TranscriptLineRow, Video
from storage.repository import VideoFilter, video_conditions
from storage.stems import porter_stems, snowball_stems
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


# How many lines one query scores at most, about (bm25 on SQLite, ts_rank_cd on PostgreSQL cost
# one to several microseconds a line): bare words on more lines than RANKED_LINES together are
# bounded, and a query of common words only ranks the NEWEST_LINES newest lines of its rarest.
RANKED_LINES = 5_000
NEWEST_LINES = 2_000
# The index's own best FIRST_PICK x limit lines are checked against the video filter first.
FIRST_PICK = 4


def search_transcripts(
    text: str, *, session: Session, limit: int, wanted: VideoFilter | None = None
) -> list[TranscriptMatch]:
    """The ``limit`` lines of indexed videos (passing ``wanted``) that best match ``text``.

    See ``storage.fulltext`` for what a query means; a query with no searchable word finds
    nothing. Best first; ties in order of line id. The ranking reads only ids and scores, then
    the details (highlighting included) are read for the ``limit`` best.

    Bare words found on more than ``RANKED_LINES`` lines together are bounded, since a
    common word would otherwise have every line of a large library scored:
    - only lines that have one of the rarest words (as many as fit in ``RANKED_LINES``, at
      least one word) are candidates; every word of the query still ranks them, counts in
      ``coverage`` and is marked. Lines with none of the rarest words are not found;
    - if even the rarest word is on more than ``RANKED_LINES`` lines, the ``NEWEST_LINES``
      newest lines that have it are ranked (lines that all say a common word differ only by
      bm25's length and repetition terms), unless the video filter leaves fewer than ``limit``
      of those: then all its lines are ranked.
    - a word on more than ``RANKED_LINES`` lines by itself is matched exactly, not also as
      the prefix of longer words (which other words are, if their stem is long enough:
      ``storage.fulltext.is_prefix``, on the stems the backend gives, read first with one
      ``storage.stems`` call): the lines are counted by exact words, so prefixes of the rarer
      words may add a few candidates to the bound.
    Queries whose words are on fewer lines, and every query with a quoted phrase (the phrase
    bounds the candidates), are ranked exactly as bm25/ts_rank_cd rank them.
    """
    query = parse_query(text)
    if not query or limit <= 0:
        return []
    kind = _Postgres if session.get_bind().dialect.name == "postgresql" else _Sqlite
    query = query.stemmed(kind.stems(query.to_stem(), session))
    ranked, sample, lines = _bounded(query, kind, session)
    engine = kind(ranked)
    conditions = [Video.status == STATUS_INDEXED, *video_conditions(wanted or VideoFilter())]
    first = lines is not None and lines > FIRST_PICK * limit
    ranked_lines = _ranking(engine, conditions, limit, sample, first, session)
    if sample is not None and len(ranked_lines) < limit:
        ranked_lines = _ranking(engine, conditions, limit, None, first, session)
    if not ranked_lines:
        return []
    units = len(query.phrases) + len(query.words)
    counted = query.words if units > 1 else ()
    found = {i: row for i, (row, _) in ranked_lines.items()}
    rows, said_words = engine.details(found, counted, session)
    said = tokens(text)
    return [
        transcript_match(
            rows[i],
            score,
            coverage=1.0 if units == 1 else (len(query.phrases) + said_words[i]) / units,
            run=longest_run(said, tokens(rows[i][5])),
        )
        for i, (_, score) in ranked_lines.items()
        if i in rows
    ]


def _bounded(query: FullTextQuery, kind, session: Session) -> tuple:
    """``query`` with the candidates bounded (see ``search_transcripts``), how many of the
    newest candidate lines to rank (None: all), and about how many lines are candidates
    (None: not counted, for phrases)."""
    if query.phrases or len(query.words) == 0:
        return query, None, None
    counts = _lines_with(kind, query.words, RANKED_LINES + 1, session)
    # Words on more than RANKED_LINES lines by themselves are matched exactly (no prefixes).
    query = replace(query, exact=tuple(w for w in query.words if counts[w] > RANKED_LINES))
    if sum(counts.values()) <= RANKED_LINES:
        return query, None, sum(counts.values())
    among, total = [], 0
    for word in sorted(query.words, key=lambda w: counts[w]):
        if among and total + counts[word] > RANKED_LINES:
            break
        among.append(word)
        total += counts[word]
    bounded = replace(query, among=tuple(among))
    if total > RANKED_LINES:
        return bounded, NEWEST_LINES, NEWEST_LINES
    return bounded, None, total


def _lines_with(kind, words: tuple[str, ...], n: int, session: Session) -> dict[str, int]:
    """On how many lines each word is said exactly, counted up to ``n`` (one statement)."""
    counts = [
        select(func.count())
        .select_from(kind(FullTextQuery((), (word,), exact=(word,))).some(n).subquery())
        .scalar_subquery()
        for word in words
    ]
    return dict(zip(words, session.execute(select(*counts)).one()))


def _ranking(
    engine, conditions: list, limit: int, sample: int | None, first: bool, session: Session
) -> dict:
    """{line id: (row of _COLUMNS, score)} of the ``limit`` best lines passing
    ``conditions``, best first; with ``sample``, among the ``sample`` newest matching lines
    only. The rows come with the ranking (its joins are there anyway): no second read by id.

    With ``first`` (many candidates), the full-text index ranks alone first (no join per
    matching line) and its best ``FIRST_PICK * limit`` are checked against ``conditions``; if
    fewer than ``limit`` pass, every matching line is joined and ranked (exact either way)."""
    pool = engine.scored(sample)
    if first:
        best = pool.order_by(literal_column("score").desc(), literal_column("id"))
        found = _passing(best.limit(FIRST_PICK * limit).subquery(), conditions, limit, session)
        if len(found) >= limit:
            return found
    return engine.passing(pool, conditions, limit, session)


def _passing(scored, conditions: list, limit: int, session: Session) -> dict:
    """The ranking of ``scored`` (a FROM of matching line ids and scores)."""
    ranking = (
        select(*_COLUMNS, scored.c.score)
        .select_from(scored)
        .join(TranscriptLineRow, TranscriptLineRow.id == scored.c.id)
        .join(Video, Video.id == TranscriptLineRow.video_id)
        .where(*conditions)
        .order_by(scored.c.score.desc(), TranscriptLineRow.id)
        .limit(limit)
    )
    return {int(row[0]): (tuple(row[:-1]), float(row[-1])) for row in session.execute(ranking)}


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


def _line_columns(line, score) -> tuple:
    """A line's id and score, then its columns of ``_COLUMNS`` (``videos.path`` aside)."""
    return (
        line.id.label("id"),
        score.label("score"),
        line.video_id.label("video_id"),
        line.start_s.label("start_s"),
        line.end_s.label("end_s"),
        line.text.label("text"),
        line.source.label("source"),
        line.language.label("language"),
    )


class _Sqlite:
    """A query on SQLite: FTS5 MATCH, bm25, highlight()."""

    def __init__(self, query: FullTextQuery) -> None:
        self.query = query
        self.expression = fts5_expression(query)
        # bm25() is lower for better matches; negated, every score is "higher is better".
        self.score = literal_column(f"-bm25({FULL_TEXT_TABLE})")

    @staticmethod
    def stems(words: tuple[str, ...], session: Session) -> dict[str, str]:
        """Porter's stems of ``words``, as the library's FTS5 index holds them."""
        return porter_stems(words)

    def lines(self, *columns) -> Select:
        """SELECT ``columns`` FROM the lines matching the query."""
        rowid = literal_column(f"{FULL_TEXT_TABLE}.rowid")
        return (
            select(*columns)
            .select_from(table(FULL_TEXT_TABLE))
            .join(TranscriptLineRow, TranscriptLineRow.id == rowid)
            .where(self._matching())
        )

    def scored(self, newest: int | None) -> Select:
        """(id, score) of the matching lines, or of the ``newest`` of them (highest ids), read
        from the FTS5 table alone: it walks its index backwards and stops after ``newest``."""
        rowid = literal_column(f"{FULL_TEXT_TABLE}.rowid")
        matching = (
            select(rowid.label("id"), self.score.label("score"))
            .select_from(table(FULL_TEXT_TABLE))
            .where(self._matching())
        )
        if newest is None:
            return matching
        chosen = matching.order_by(rowid.desc()).limit(newest).subquery()
        return select(chosen.c.id, chosen.c.score)

    def passing(self, scored: Select, conditions: list, limit: int, session: Session) -> dict:
        """``_ranking``'s exact ranking of ``scored`` (the FTS5 table drives the query)."""
        return _passing(scored.subquery(), conditions, limit, session)

    def details(self, rows: dict[int, tuple], words: tuple[str, ...], session: Session) -> tuple:
        """({line id: its row of _COLUMNS + highlighted text}, {line id: how many of ``words``
        it has}) for the ranked ``rows``. The highlighting and the words are found by the same
        tokenizer in a scratch FTS5 table in memory holding just these lines: looking lines up
        by id in the library's index costs up to a millisecond a line for a common word."""
        counts = dict.fromkeys(rows, 0)
        scratch = sqlite3.connect(":memory:")
        try:
            scratch.execute(f"CREATE VIRTUAL TABLE t USING fts5(text, tokenize='{FTS5_TOKENIZE}')")
            scratch.executemany(
                "INSERT INTO t(rowid, text) VALUES (?, ?)", [(i, r[5]) for i, r in rows.items()]
            )
            marked = dict(
                scratch.execute(
                    "SELECT rowid, highlight(t, 0, ?, ?) FROM t WHERE t MATCH ?",
                    (MARK_OPEN, MARK_CLOSE, self.expression),
                )
            )
            for word in words:
                expression = fts5_expression(self.query.single(word))
                for (line_id,) in scratch.execute(
                    "SELECT rowid FROM t WHERE t MATCH ?", (expression,)
                ):
                    counts[line_id] += 1
        finally:
            scratch.close()
        return {i: (*row, marked.get(i)) for i, row in rows.items()}, counts

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
        self.query = query
        self.wanted = pg_tsquery(query)
        self.vector = func.to_tsvector(pg_config(), TranscriptLineRow.text)
        self.score = func.ts_rank_cd(self.vector, self.wanted)
        options = f"StartSel={MARK_OPEN}, StopSel={MARK_CLOSE}, HighlightAll=true"
        self.marked = func.ts_headline(pg_config(), TranscriptLineRow.text, self.wanted, options)

    @staticmethod
    def stems(words: tuple[str, ...], session: Session) -> dict[str, str]:
        """Snowball's stems of ``words`` (one round trip): computed once per query rather than
        in each statement, so that every statement keeps its constant tsquery, which the
        planner reads against the GIN index and its statistics as before."""
        return snowball_stems(words, session=session)

    def lines(self, *columns) -> Select:
        return (
            select(*columns).select_from(TranscriptLineRow).where(self.vector.op("@@")(self.wanted))
        )

    def some(self, n: int) -> Select:
        """At most ``n`` matching rows."""
        return self.lines(TranscriptLineRow.id).limit(n)

    def scored(self, newest: int | None) -> Select:
        """(id, score, then the line's other columns of _COLUMNS) of the matching lines, or
        of the ``newest`` of them (highest ids), scored after they are chosen (ts_rank_cd
        parses each line's text again)."""
        if newest is None:
            return self.lines(*_line_columns(TranscriptLineRow, self.score))
        chosen = (
            self.lines(TranscriptLineRow.id).order_by(TranscriptLineRow.id.desc()).limit(newest)
        ).subquery()
        line = aliased(TranscriptLineRow)
        score = func.ts_rank_cd(func.to_tsvector(pg_config(), line.text), self.wanted)
        return (
            select(*_line_columns(line, score))
            .select_from(chosen)
            .join(line, line.id == chosen.c.id)
        )

    def passing(self, scored: Select, conditions: list, limit: int, session: Session) -> dict:
        """``_ranking``'s exact ranking of ``scored``, which holds the lines' columns: a
        MATERIALIZED common table expression, joined to ``videos`` alone. The GIN index then
        finds the matching lines before any join. As a subquery joined to the lines and the
        videos (``_passing``), the planner may start from the other end: on tables not yet
        analysed (a library just indexed, before autovacuum's ANALYZE) it took ``videos``
        for one row, and read every line of every video to check it against the query,
        to_tsvector for each: 2.3-3.9 s for a rare word at 150k lines (docs/commands.md)."""
        pool = scored.cte("scored").prefix_with("MATERIALIZED")
        ranking = (
            select(
                pool.c.id,
                pool.c.video_id,
                Video.path,
                *(pool.c[name] for name in ("start_s", "end_s", "text", "source", "language")),
                pool.c.score,
            )
            .select_from(pool)
            .join(Video, Video.id == pool.c.video_id)
            .where(*conditions)
            .order_by(pool.c.score.desc(), pool.c.id)
            .limit(limit)
        )
        return {int(row[0]): (tuple(row[:-1]), float(row[-1])) for row in session.execute(ranking)}

    def details(self, rows: dict[int, tuple], words: tuple[str, ...], session: Session) -> tuple:
        """({line id: its row of _COLUMNS + highlighted text}, {line id: how many of ``words``
        it has}) for the ranked ``rows``: ts_headline on these lines, then one query per word."""
        ids = list(rows)
        found = session.execute(
            select(TranscriptLineRow.id, self.marked).where(TranscriptLineRow.id.in_(ids))
        )
        rows = {i: (*rows[i], marked) for i, marked in found}
        counts = dict.fromkeys(rows, 0)
        for word in words:
            single = type(self)(self.query.single(word))
            having = single.lines(TranscriptLineRow.id).where(TranscriptLineRow.id.in_(ids))
            for line_id in session.scalars(having):
                counts[line_id] += 1
        return rows, counts
