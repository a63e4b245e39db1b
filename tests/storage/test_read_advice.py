"""Library databases of 64 KB pages are advised as read at random (storage.read_advice)."""

from __future__ import annotations

import os
import sqlite3
import sys

import pytest

from storage import read_advice
from storage.layout import DB_FILENAME
from storage.library import Library
from storage.sqlite_reader import SqliteReader
from tests.storage.records import small_settings

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the advice needs Linux's /proc/self/fd"
)


def test_it_finds_sqlites_own_descriptors_of_the_file(tmp_path) -> None:
    path = tmp_path / "a.db"
    first, second = sqlite3.connect(path), sqlite3.connect(path)
    try:
        for connection in (first, second):
            connection.execute("CREATE TABLE IF NOT EXISTS t (x)")
        assert read_advice.advise_random(path) == 2
        assert read_advice.advise_random(tmp_path / "other.db") == 0
    finally:
        first.close()
        second.close()
    assert read_advice.advise_random(path) == 0


def test_a_library_and_its_reader_advise_their_connections(tmp_path, monkeypatch) -> None:
    advised: list[str] = []
    original = read_advice.advise_random
    monkeypatch.setattr(
        read_advice, "advise_random", lambda path: advised.append(str(path)) or original(path)
    )
    with Library.open(tmp_path) as library:
        library.bind(small_settings())
        assert library.settings is not None
    database = os.path.realpath(tmp_path / DB_FILENAME)
    assert advised and {os.path.realpath(p) for p in advised} == {database}
    advised.clear()
    reader = SqliteReader.open(tmp_path)
    assert reader is not None
    try:
        assert [os.path.realpath(p) for p in advised] == [database]
        assert original(tmp_path / DB_FILENAME) >= 1  # the reader's own descriptor
    finally:
        reader.close()


def test_only_a_database_of_large_pages_is_advised(tmp_path) -> None:
    for page_size, expected in ((4096, 0), (65536, 1)):
        connection = sqlite3.connect(tmp_path / f"{page_size}.db")
        try:
            connection.execute(f"PRAGMA page_size = {page_size}")
            connection.execute("CREATE TABLE t (x)")
            assert read_advice.advise_database(connection) == expected
        finally:
            connection.close()
    memory = sqlite3.connect(":memory:")
    memory.execute("PRAGMA page_size = 65536")
    assert read_advice.advise_database(memory) == 0
    memory.close()
