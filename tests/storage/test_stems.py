"""Each backend's own stems (storage.stems), read from a real SQLite FTS5 table and a real
PostgreSQL server: the prefix rule of storage.fulltext counts their letters."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from storage.fulltext import FullTextQuery, parse_query
from storage.stems import porter_stems, snowball_stems

WORDS = ["died", "dying", "trying", "rainfall", "CAFÉ", "the", "died"]


def test_porter_stems_are_the_terms_of_sqlite_fts5() -> None:
    assert porter_stems(WORDS) == {
        "died": "di",
        "dying": "dy",
        "trying": "try",
        "rainfall": "rainfal",
        "CAFÉ": "cafe",  # unicode61 folds case and diacritics before Porter
        "the": "the",  # FTS5 has no stop list
    }
    assert porter_stems([]) == {}
    # the scratch table is rolled back: the next call sees only its own words
    assert porter_stems(["snowman"]) == {"snowman": "snowman"}


def test_porter_stems_from_many_threads_at_once() -> None:
    """The server searches in threads: each has its own scratch connection (a sqlite3
    connection used from another thread raises ProgrammingError)."""
    expected = porter_stems(WORDS)
    results: list[dict[str, str]] = []
    errors: list[BaseException] = []

    def stem() -> None:
        try:
            for _ in range(50):
                results.append(porter_stems(WORDS))
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=stem) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and results == [expected] * 200


def test_snowball_stems_are_postgresql_english_stem(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    try:
        with Session(engine) as session:
            stems = snowball_stems(WORDS, session=session)
            assert snowball_stems([], session=session) == {}
    finally:
        engine.dispose()
    assert stems == {
        "died": "die",
        "dying": "die",
        "trying": "tri",
        "rainfall": "rainfal",
        "CAFÉ": "café",
        "the": "",  # a stop word of the dictionary
    }


@pytest.mark.parametrize(
    ("stems", "prefixes"),
    [
        ({"died": "di", "rainfall": "rainfal", "four": "four"}, ("rainfall", "four")),
        ({"died": "die", "rainfall": "rainfal", "four": "four"}, ("rainfall", "four")),
        ({"died": "died", "rainfall": "rainfal"}, ("died", "rainfall")),
    ],
)
def test_a_word_is_a_prefix_when_its_stem_has_four_letters(stems, prefixes) -> None:
    query = parse_query('died "rain" rainfall four 4 cat')
    assert query.to_stem() == ("died", "rainfall", "four")  # "4" and "cat" never are
    stemmed = query.stemmed(stems)
    assert stemmed.prefixes == prefixes
    assert stemmed.single("four").prefixes == (("four",) if "four" in prefixes else ())
    assert FullTextQuery((), ("died",)).prefixes == ()  # unstemmed: exact
