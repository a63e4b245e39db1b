"""Transcript lines in a real library, on SQLite (FTS5) and PostgreSQL (tsvector + GIN):
stored with their video, searched by words, stems and phrases, kept on moves, copied to exact
copies, and gone with their video."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import event, func, select, text

from storage import repository, search_reads
from storage import transcripts as tr
from storage.fulltext import longest_run, tokens
from storage.library import Library
from storage.models import TranscriptLineRow
from storage.transcript import TranscriptLine
from tests.storage.records import add_video, delete_path

NEWS = [
    TranscriptLine(0.0, 2.5, "Good evening, here is the news.", "speech", "en"),
    TranscriptLine(2.5, 6.0, "The minister says inflation is falling.", "speech", "en"),
    TranscriptLine(6.0, 9.0, "Markets rallied as prices fell.", "speech", "en"),
]
FILM = [
    TranscriptLine(1.0, 3.0, "  Falling   leaves \n in autumn ", "sidecar", "en"),
    TranscriptLine(3.0, 3.5, " \n ", "sidecar", "en"),
    TranscriptLine(4.0, 5.0, "Inflation? Not in my kitchen.", "subtitles", None),
]


def _store(library: Library, video_id: int, lines: list[TranscriptLine]) -> int:
    with library.session() as session, session.begin():
        return tr.replace_transcript(video_id, lines, session=session)


def _search(library: Library, query: str, limit: int = 10, **wanted) -> list[tr.TranscriptMatch]:
    with library.session() as session:
        return tr.search_transcripts(
            query, session=session, limit=limit, wanted=repository.VideoFilter(**wanted)
        )


def _found(library: Library, query: str, **wanted) -> list[tuple[str, str]]:
    return [(m.path, m.text) for m in _search(library, query, **wanted)]


@pytest.fixture
def two(library: Library, rng: np.random.Generator) -> tuple[int, int]:
    news, _ = add_video(library, "/m/news.mp4", 2, rng, fingerprint="a" * 64)
    film, _ = add_video(library, "/n/film.mkv", 2, rng, fingerprint="b" * 64)
    assert _store(library, news, NEWS) == 3
    assert _store(library, film, FILM) == 2  # the blank line is not stored
    return news, film


def test_lines_round_trip_in_time_order_and_replace(library: Library, two) -> None:
    news, film = two
    with library.session() as session:
        assert tr.transcript_of(news, session=session) == NEWS
        stored = tr.transcript_of(film, session=session)
    assert [(line.text, line.source, line.language) for line in stored] == [
        ("Falling leaves in autumn", "sidecar", "en"),
        ("Inflation? Not in my kitchen.", "subtitles", None),
    ]
    _store(library, news, [TranscriptLine(1.0, 2.0, "Completely different words.", "sidecar")])
    assert _found(library, "minister") == []
    assert _found(library, "different") == [("/m/news.mp4", "Completely different words.")]


def test_words_match_by_stem_and_case(library: Library, two) -> None:
    # "falling", "falls", "fell"? Porter stems fall/falling/falls alike ("fell" is another word).
    assert sorted(_found(library, "FALLS")) == [
        ("/m/news.mp4", "The minister says inflation is falling."),
        ("/n/film.mkv", "Falling leaves in autumn"),
    ]
    match = _search(library, "rally")[0]
    assert match.text == "Markets rallied as prices fell."
    assert match.text[slice(*match.marks[0])] == "rallied"
    assert (match.start_s, match.end_s, match.source) == (6.0, 9.0, "speech")


def test_more_words_rank_higher_and_stop_words_do_not_match(library: Library, two) -> None:
    matches = _search(library, "the minister says inflation is falling")
    assert matches[0].text == "The minister says inflation is falling."
    assert matches[0].score > matches[1].score
    marked = [matches[0].text[a:b] for a, b in matches[0].marks]
    assert marked == ["minister", "says", "inflation", "falling"]
    assert {m.text for m in matches} == {
        "The minister says inflation is falling.",
        "Falling leaves in autumn",
        "Inflation? Not in my kitchen.",
    }
    assert _found(library, "the is in") == []


def test_a_quoted_phrase_must_appear_in_order(library: Library, two) -> None:
    assert _found(library, '"inflation is falling"') == [
        ("/m/news.mp4", "The minister says inflation is falling.")
    ]
    assert _found(library, '"falling inflation"') == []
    # a phrase is required, the other words only rank
    assert _found(library, '"falling leaves" minister') == [
        ("/n/film.mkv", "Falling leaves in autumn")
    ]


def test_query_syntax_is_never_interpreted(library: Library, two) -> None:
    for query in ["minister AND NOT", "text:minister*", 'NEAR(minister "', "minister's (", "'"]:
        found = _found(library, query)
        assert found in ([], [("/m/news.mp4", "The minister says inflation is falling.")])
    assert _found(library, "") == [] and _found(library, '"" ,;') == []


def test_filters_and_failed_videos(library: Library, two) -> None:
    assert [p for p, _ in _found(library, "inflation", folders=("/n",))] == ["/n/film.mkv"]
    assert _found(library, "inflation", max_duration_s=5.0) == []  # records are 10 s long
    with library.session() as session, session.begin():
        repository.save_failed_video("/n/film.mkv", 1, 1, "bad", None, session=session)
    assert [p for p, _ in _found(library, "inflation")] == ["/m/news.mp4"]
    assert _search(library, "inflation", limit=0) == []


def test_moves_keep_lines_copies_copy_them_reindexing_and_pruning_remove_them(
    library: Library, two, rng: np.random.Generator
) -> None:
    news, film = two
    copy, _ = add_video(library, "/m/copy.mp4", 2, rng, fingerprint="a" * 64)
    with library.session() as session, session.begin():
        video = repository.get_video_by_path("/m/news.mp4", session=session)
        repository.move_video(video, "/m/moved.mp4", 1000, 1, session=session)
        assert tr.copy_transcript(news, copy, session=session) == 3
    assert sorted(p for p, _ in _found(library, "minister")) == ["/m/copy.mp4", "/m/moved.mp4"]
    add_video(library, "/m/copy.mp4", 1, rng)  # the file changed: its old words are gone
    assert [p for p, _ in _found(library, "minister")] == ["/m/moved.mp4"]
    delete_path(library, "/m/moved.mp4")
    delete_path(library, "/n/film.mkv")
    assert _found(library, "minister") == [] and _found(library, "autumn") == []
    with library.session() as session:
        assert session.scalar(select(func.count()).select_from(TranscriptLineRow)) == 0
        if session.get_bind().dialect.name == "sqlite":  # the FTS5 index agrees with the rows
            session.execute(
                text("INSERT INTO transcript_fts(transcript_fts) VALUES ('integrity-check')")
            )
            assert session.scalar(text("SELECT count(*) FROM transcript_fts_docsize")) == 0


def test_counts_by_source(library: Library, two, rng: np.random.Generator) -> None:
    add_video(library, "/m/silent.mp4", 1, rng)
    with library.session() as session:
        assert tr.has_transcripts(session=session)
        counts = tr.transcript_counts(session=session)
    assert counts == tr.TranscriptCounts(speech=1, subtitles=1, neither=1, lines=5)


def test_an_empty_library_has_no_transcripts(library: Library, rng: np.random.Generator) -> None:
    add_video(library, "/m/a.mp4", 1, rng)
    with library.session() as session:
        assert not tr.has_transcripts(session=session)
        assert tr.transcript_counts(session=session) == tr.TranscriptCounts(0, 0, 1, 0)


def test_coverage_is_the_share_of_query_words_a_line_has(library: Library, two) -> None:
    coverage = {m.text: m.coverage for m in _search(library, "minister inflation autumn")}
    assert coverage == {
        "The minister says inflation is falling.": pytest.approx(2 / 3),
        "Falling leaves in autumn": pytest.approx(1 / 3),
        "Inflation? Not in my kitchen.": pytest.approx(1 / 3),
    }
    (match,) = _search(library, '"inflation is falling" minister kitchen')
    assert match.coverage == pytest.approx(2 / 3)
    assert _search(library, "falls")[0].coverage == 1.0


def test_the_clips_at_times(
    library: Library, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    video_id, clip_ids = add_video(library, "/m/a.mp4", 3, rng)  # clips of 2 s
    other, other_ids = add_video(library, "/m/b.mp4", 2, rng)
    places = [(video_id, t) for t in (0.0, 3.9, 4.0, 99, -1.0)] + [(12345, 1.0), (other, 2.5)]
    expected = [*clip_ids[:3], clip_ids[2], clip_ids[0], None, other_ids[1]]
    with library.session() as session:
        assert repository.clips_at(places, session=session) == expected
        monkeypatch.setattr(search_reads, "PLACES_PER_STATEMENT", 3)  # statements in chunks
        assert repository.clips_at(places, session=session) == expected
        assert repository.clips_at([], session=session) == []


OLD = [
    TranscriptLine(0.0, 1.0, "News.", "speech"),
    TranscriptLine(1.0, 2.0, "News news.", "speech"),
    TranscriptLine(2.0, 3.0, "Late news about a zebra at the zoo today.", "speech"),
]
NEW = [
    TranscriptLine(
        float(i),
        i + 1.0,
        f"More of the news from the city, part {i} of it, as we heard it.",
        "sidecar",
    )
    for i in range(4)
]


def test_common_words_are_bounded_without_changing_rare_words(
    library: Library, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "news" is on 7 lines: over RANKED_LINES = 3, "zebra" and "zoo" (1 line each) are not.
    old, _ = add_video(library, "/old/a.mp4", 1, rng, fingerprint="c" * 64)
    new, _ = add_video(library, "/new/b.mp4", 1, rng, fingerprint="d" * 64)
    _store(library, old, OLD)
    _store(library, new, NEW)
    exact = {q: _search(library, q, limit=3) for q in ["zebra", '"news about"', "zebra zoo"]}
    ranked_all = _search(library, "news", limit=3)
    assert [m.path for m in ranked_all] == ["/old/a.mp4"] * 3  # short lines, two "news"

    monkeypatch.setattr(tr, "RANKED_LINES", 3)
    monkeypatch.setattr(tr, "NEWEST_LINES", 3)
    # Rare words and phrases are ranked exactly as before.
    assert {q: _search(library, q, limit=3) for q in exact} == exact
    # A common word alone: the best of the 3 newest lines that say it (ids are in order).
    sample = _search(library, "news", limit=3)
    assert [m.text for m in sample] == [line.text for line in NEW[1:]]  # tied: by line id
    assert all(m.coverage == 1.0 and m.marks for m in sample)
    # A filter that leaves too few of the sample: every line of the wanted videos is ranked.
    assert [m.text for m in _search(library, "news", limit=3, folders=("/old",))] == [
        m.text for m in ranked_all
    ]
    # Next to a rare word the common one finds no line by itself, yet ranks, counts, is marked.
    (match,) = _search(library, "zebra news")
    assert match.text == OLD[2].text and match.coverage == 1.0
    assert [match.text[a:b] for a, b in match.marks] == ["news", "zebra"]


def test_the_longest_run_counts_stop_words_in_order() -> None:
    line = tokens("The doctor told him to drink more, while around the day.")
    assert tokens("Him to DRINK more water") == ["him", "to", "drink", "more", "water"]
    assert longest_run(tokens("him to drink more water every"), line) == 4
    assert longest_run(tokens("more drink to him"), line) == 1  # order matters
    assert longest_run(tokens("zebra"), line) == 0 and longest_run([], line) == 0


HEARD = [
    TranscriptLine(0.0, 2.0, "Every rainy night next step to the north.", "speech", "en"),
    TranscriptLine(2.0, 4.0, "Children built a snowman by the cathedral.", "speech", "en"),
    TranscriptLine(4.0, 6.0, "The news at nine: rain is expected.", "speech", "en"),
]


def test_long_words_also_find_longer_words_that_begin_with_their_stem(
    library: Library, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    video, _ = add_video(library, "/w/weather.mp4", 2, rng, fingerprint="e" * 64)
    _store(library, video, HEARD)
    # "rain" (4 letters) finds "rainy" as well as "rain", and marks the whole word
    marked = {m.text: [m.text[a:b] for a, b in m.marks] for m in _search(library, "rain")}
    assert marked == {HEARD[0].text: ["rainy"], HEARD[2].text: ["rain"]}
    assert [m.text for m in _search(library, "snow")] == [HEARD[1].text]  # "snowman"
    # the prefix is the stem's: "expected" is expect*, and finds "expected" as before
    assert [m.text for m in _search(library, "expected")] == [HEARD[2].text]
    # a short word stays exact ("cat" is not "cathedral"), and so do quoted phrases
    assert _search(library, "cat") == []
    assert [m.text for m in _search(library, '"rain"')] == [HEARD[2].text]
    # a prefix match counts towards the share of the query a line has
    coverage = {m.text: m.coverage for m in _search(library, "heavy rain tonight")}
    assert coverage == {HEARD[0].text: pytest.approx(1 / 3), HEARD[2].text: pytest.approx(1 / 3)}
    # a word common enough to be bounded (on more than RANKED_LINES lines) is matched exactly
    monkeypatch.setattr(tr, "RANKED_LINES", 0)
    assert [m.text for m in _search(library, "rain")] == [HEARD[2].text]


SAID_IN_NUMBERS = [
    TranscriptLine(0.0, 2.0, "Our team won the championship after 20 years.", "speech", "en"),
    TranscriptLine(2.0, 4.0, "The train leaves from platform four.", "sidecar", "en"),
]


def test_number_words_and_numerals_find_each_other(
    library: Library, rng: np.random.Generator
) -> None:
    video, _ = add_video(library, "/w/numbers.mp4", 2, rng, fingerprint="f" * 64)
    _store(library, video, SAID_IN_NUMBERS)
    (match,) = _search(library, "championship after twenty years")
    assert match.text == SAID_IN_NUMBERS[0].text and match.coverage == 1.0 and match.run == 4
    assert [match.text[a:b] for a, b in match.marks] == ["championship", "20", "years"]
    (match,) = _search(library, "platform 4")
    assert match.text == SAID_IN_NUMBERS[1].text and match.coverage == 1.0
    assert [match.text[a:b] for a, b in match.marks] == ["platform", "four"]
    assert [m.coverage for m in _search(library, "platform 5")] == [0.5]  # 5 is not four


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_rare_word_reads_only_its_lines_before_the_tables_are_analysed(
    library: Library, rng: np.random.Generator
) -> None:
    """PostgreSQL, on tables autovacuum has not analysed yet (a library just indexed): the
    search of a rare word reads the lines the GIN index finds, not every line of every video.
    Without statistics the planner took ``videos`` for one row and, from it, read and parsed
    every line to test it against the query (3.9 s for one word at 150k lines)."""
    with library.session() as session, session.begin():
        for name in ("transcript_lines", "videos"):  # as they are until autovacuum's ANALYZE
            session.execute(text(f"ALTER TABLE {name} SET (autovacuum_enabled = false)"))
    filler = [
        "the",
        "quick",
        "brown",
        "fox",
        "jumps",
        "over",
        "the",
        "lazy",
        "dog",
        "near",
        "a",
        "river",
        "bank",
    ]
    for n in range(30):
        video, _ = add_video(library, f"/v/{n:02}.mp4", 1, rng, fingerprint=f"{n:064}")
        said = [" ".join(rng.choice(filler, size=8)) for _ in range(100)]
        if n == 17:
            said[40] = "a zebra crossed the river"
        lines = [TranscriptLine(3.0 * i, 3.0 * i + 3.0, t, "speech") for i, t in enumerate(said)]
        _store(library, video, lines)
    with library.session() as session:
        analysed = session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_user_tables WHERE relname IN "
                "('transcript_lines', 'videos') AND (last_analyze IS NOT NULL "
                "OR last_autoanalyze IS NOT NULL)"
            )
        )
    assert analysed == 0

    statements: list[tuple[str, dict]] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append((statement, parameters))

    event.listen(library.engine, "before_cursor_execute", seen)
    try:
        (match,) = _search(library, "zebra")
    finally:
        event.remove(library.engine, "before_cursor_execute", seen)
    assert match.path == "/v/17.mp4" and match.text == "a zebra crossed the river"
    raw = library.engine.raw_connection()
    try:
        cursor = raw.cursor()
        for statement, parameters in statements:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, parameters)
            plan = cursor.fetchone()[0][0]["Plan"]
            blocks = plan["Shared Hit Blocks"] + plan["Shared Read Blocks"]
            # The 3,000 lines fill about 40 pages; each line read through its primary key
            # costs 3-4 blocks. The lines found by the index, the videos: a few dozen blocks.
            assert blocks < 200, (blocks, statement)
    finally:
        raw.close()


STEMMED = [
    TranscriptLine(0.0, 1.0, "She died in May.", "speech"),
    TranscriptLine(1.0, 2.0, "Everything dies.", "speech"),
    TranscriptLine(2.0, 3.0, "The plant is dying.", "speech"),
    TranscriptLine(3.0, 4.0, "The doctor diagnosed it.", "speech"),
    TranscriptLine(4.0, 5.0, "A quick diagnosis.", "speech"),
    TranscriptLine(5.0, 6.0, "Look in the dictionary.", "speech"),
    TranscriptLine(6.0, 7.0, "A healthy diet.", "speech"),
    TranscriptLine(7.0, 8.0, "We tried again.", "speech"),
    TranscriptLine(8.0, 9.0, "He kept trying.", "speech"),
    TranscriptLine(9.0, 10.0, "Draw a triangle.", "speech"),
    TranscriptLine(10.0, 11.0, "They paid cash.", "speech"),
    TranscriptLine(11.0, 12.0, "The payment is late.", "speech"),
    TranscriptLine(12.0, 13.0, "Heavy rainfall tonight.", "speech"),
]


def test_only_a_stem_of_four_letters_matches_as_a_prefix_on_each_backend(
    library: Library, rng: np.random.Generator, db_url: str | None
) -> None:
    """docs/commands.md ("Stems differ by backend"): a bare word finds the longer words that
    begin with its stem only when that stem, the backend's own (Porter on SQLite, Snowball on
    PostgreSQL), has 4 letters or more; a shorter stem is matched exactly. Until then
    ``died`` was di* on SQLite (diagnosed, diagnosis, dictionary, diet) and die* on PostgreSQL
    (diet), ``trying`` tri* on PostgreSQL (triangle)."""
    video, _ = add_video(library, "/s/stems.mp4", 1, rng, fingerprint="e" * 64)
    _store(library, video, STEMMED)

    def found(query: str) -> set[str]:
        return {m.text.split()[-1].rstrip(".") for m in _search(library, query)}

    # long stems on both: still prefixes ("rainfal", "diagnos" finds "diagnosi")
    expected = {"rain": {"tonight"}, "diagnose": {"it", "diagnosis"}}
    if db_url is None:  # Porter: died "di", dying "dy", trying "try" (tried "tri"), paying "pai"
        expected |= {"died": {"May", "dies"}, "trying": {"trying"}, "paying": set()}
    else:  # Snowball: died and dying "die", trying and tried "tri", paying "pay"
        expected |= {"died": {"May", "dies", "dying"}, "trying": {"trying", "again"}}
        expected |= {"paying": set()}  # "pay" is exact: not "payment" any more
    assert {query: found(query) for query in expected} == expected
