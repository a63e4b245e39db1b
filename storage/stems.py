"""Each backend's own English stem of a word, read from the backend itself.

SQLite's FTS5 tokenizer (``storage.fulltext.FTS5_TOKENIZE``: Porter) and PostgreSQL's
``english`` configuration (its ``english_stem`` dictionary: Snowball) stem some words apart
(``died`` is "di" to Porter, "die" to Snowball). ``storage.fulltext`` decides from a word's stem
whether it also matches longer words, so the stem must be exactly the one the backend's index
holds: neither stemmer is reimplemented here, each is asked.

- SQLite: the words are written to an FTS5 table in an in-memory database, with the library's
  tokenizer, and their terms read back through an ``fts5vocab`` table, inside a transaction
  that is rolled back. The connection is made once per thread (the server searches in threads;
  a sqlite3 connection belongs to the thread that made it) and per process (a forked child
  makes its own). About 0.1 ms for a query's words.
- PostgreSQL: the lexeme of ``to_tsvector('english', word)`` (the configuration the GIN index
  and the queries use: its parser, then its ``english_stem`` Snowball dictionary) for every
  word in one statement on the caller's session.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from storage.fulltext import FTS5_TOKENIZE

if TYPE_CHECKING:  # SQLAlchemy only for PostgreSQL's stems
    from sqlalchemy.orm import Session

_local = threading.local()


def _scratch() -> sqlite3.Connection:
    """This thread's in-memory database with the stemming tables (made on first use)."""
    made = getattr(_local, "scratch", None)
    if made is not None and made[0] == os.getpid():
        return made[1]
    connection = sqlite3.connect(":memory:", isolation_level=None)
    connection.execute(f"CREATE VIRTUAL TABLE t USING fts5(w, tokenize='{FTS5_TOKENIZE}')")
    connection.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, instance)")
    _local.scratch = (os.getpid(), connection)
    return connection


def porter_stems(words: Sequence[str]) -> dict[str, str]:
    """{word: its term in SQLite's FTS5 index} for ``words``: "" for a word that makes no term;
    the shortest term for one the tokenizer splits into several (neither happens to a word of
    ``storage.fulltext.tokens``, which splits as unicode61 does)."""
    words = list(dict.fromkeys(words))
    stems = dict.fromkeys(words, "")
    if not words:
        return stems
    scratch = _scratch()
    scratch.execute("BEGIN")
    try:
        scratch.executemany("INSERT INTO t(rowid, w) VALUES (?, ?)", list(enumerate(words)))
        for term, row in scratch.execute("SELECT term, doc FROM v"):
            word = words[row]
            if not stems[word] or len(term) < len(stems[word]):
                stems[word] = term
    finally:
        scratch.execute("ROLLBACK")
    return stems


def snowball_stems(words: Sequence[str], *, session: Session) -> dict[str, str]:
    """{word: its lexeme in PostgreSQL's index} for ``words`` (one statement): "" for a stop
    word; the shortest lexeme for a word the parser splits (as for ``porter_stems``)."""
    from sqlalchemy import text

    words = list(dict.fromkeys(words))
    if not words:
        return {}
    found = session.execute(
        text(
            # 'english': storage.fulltext.pg_config, the configuration of the index
            "SELECT w, coalesce((SELECT lexeme FROM unnest(to_tsvector('english', w)) "
            "ORDER BY length(lexeme), lexeme LIMIT 1), '') "
            "FROM unnest(CAST(:words AS text[])) AS w"
        ),
        {"words": words},
    )
    return dict(found.all())
