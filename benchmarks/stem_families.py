"""Where SQLite's and PostgreSQL's English stems differ: ``python -m benchmarks.stem_families``.

Not a timing: a survey for docs/commands.md ("Stems differ by backend"). The words are tiny.en's
vocabulary (the alphabetic word tokens of its ``tokenizer.json``, 4 letters or more, stop words
aside), the speech model the tests use. Each is stemmed by SQLite FTS5's tokenizer
(``storage.fulltext.FTS5_TOKENIZE``, Porter; read back through an ``fts5vocab`` table) and by
PostgreSQL's ``english_stem`` dictionary (Snowball; a throwaway server from
tests/support/postgres.py). For each word stemmed differently, the words of the vocabulary that
its prefix query finds on one backend and not on the other (a bare word finds the words that
begin with its stem), largest difference first.
"""

from __future__ import annotations

import argparse
import bisect
import json
import re
import sqlite3
from pathlib import Path

from benchmarks.machine import write


def vocabulary(model: Path) -> list[str]:
    from storage.fulltext import STOP_WORDS

    tokens = json.loads((model / "tokenizer.json").read_text())["model"]["vocab"]
    words = {t[1:].lower() for t in tokens if t.startswith("Ġ")}
    return sorted({w for w in words if re.fullmatch(r"[a-z]{4,}", w)} - STOP_WORDS)


def porter_stems(words: list[str]) -> dict[str, str]:
    from storage.fulltext import FTS5_TOKENIZE

    db = sqlite3.connect(":memory:")
    db.execute(f"CREATE VIRTUAL TABLE t USING fts5(w, tokenize='{FTS5_TOKENIZE}')")
    db.executemany("INSERT INTO t(rowid, w) VALUES (?, ?)", list(enumerate(words)))
    db.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, instance)")
    return {words[doc]: term for term, doc in db.execute("SELECT term, doc FROM v")}


def snowball_stems(words: list[str]) -> dict[str, str]:
    from sqlalchemy import create_engine, text

    from tests.support.postgres import PostgresServer

    server = PostgresServer()
    server.start()
    try:
        engine = create_engine(server.create_database())
        with engine.connect() as connection:
            found = connection.execute(
                text(
                    "SELECT w, coalesce((ts_lexize('english_stem', w))[1], '') "
                    "FROM unnest(CAST(:words AS text[])) AS w"
                ),
                {"words": words},
            )
            stems = dict(found.all())
        engine.dispose()
        return stems
    finally:
        server.stop()


def family(stems: dict[str, str], word: str) -> set[str]:
    """The words whose stem begins with ``word``'s stem (what its prefix query finds)."""
    keys = sorted((stem, w) for w, stem in stems.items())
    starts = [stem for stem, _ in keys]
    prefix = stems[word]
    found, i = set(), bisect.bisect_left(starts, prefix)
    while i < len(keys) and starts[i].startswith(prefix):
        found.add(keys[i][1])
        i += 1
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", type=int, default=20, help="words to print")
    parser.add_argument("--keep", type=int, default=150, help="words written to the results")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    from tests.support.speech import tiny_en_model

    words = vocabulary(tiny_en_model())
    porter, snowball = porter_stems(words), snowball_stems(words)
    differ = []
    for word in (w for w in words if porter[w] != snowball[w]):
        sqlite_only = family(porter, word) - family(snowball, word)
        postgres_only = family(snowball, word) - family(porter, word)
        differ.append(
            {
                "word": word,
                "porter": porter[word],
                "snowball": snowball[word],
                "differ": len(sqlite_only) + len(postgres_only),
                "sqlite_only": sorted(sqlite_only)[:8],
                "postgresql_only": sorted(postgres_only)[:8],
            }
        )
    differ.sort(key=lambda d: (-d["differ"], d["word"]))
    print(f"{len(words)} words, {len(differ)} stemmed differently")
    for d in differ[: args.show]:
        print(
            f"{d['word']}: porter {d['porter']!r}, snowball {d['snowball']!r}, "
            f"{d['differ']} words differ; SQLite only {d['sqlite_only'][:4]}, "
            f"PostgreSQL only {d['postgresql_only'][:4]}"
        )
    payload = {
        "words": len(words),
        "stemmed_differently": len(differ),
        "differences": differ[: args.keep],
    }
    print(f"wrote {write('stem-families', payload, args.out)}")


if __name__ == "__main__":
    main()
