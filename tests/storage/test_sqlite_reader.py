"""The sqlite3 reader answers every read of ``search.catalog.Catalog`` as the Library does, on a
real SQLite library and real FAISS, and leaves to the Library what it does not do itself."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from search.fusion import SOURCE_ALL, SOURCE_VISUAL, search_spans
from search.text import SearchOptions
from storage import models, transcripts
from storage import repository as repo
from storage import shortlist as shortlists
from storage.flat_index import FlatIndex
from storage.layout import DB_FILENAME
from storage.library import Library
from storage.search_reads import VideoFilter
from storage.sqlite_reader import LIBRARY_ROW_ID, STATUS_INDEXED, SqliteReader
from storage.transcript import TranscriptLine
from tests.storage.records import add_video, clip_records, delete_path, small_settings, video_record
from tests.support.processes import run_python

DAY_NS = 86_400 * 10**9
FILTERS = [
    VideoFilter(),
    VideoFilter(folders=("/m/a",)),
    VideoFilter(folders=("/m/a/", "/m/ab/x.mp4")),
    VideoFilter(folders=("/",)),
    VideoFilter(after_ns=3 * DAY_NS),
    VideoFilter(before_ns=3 * DAY_NS),
    VideoFilter(min_duration_s=20.0, max_duration_s=40.0),
    VideoFilter(folders=("/m",), after_ns=2 * DAY_NS, max_duration_s=50.0),
    VideoFilter(folders=("/nowhere",)),
]


class KnownEncoder:
    """Scores a clip by its embedding's cosine with one fixed vector, whatever the text."""

    def __init__(self, query: np.ndarray) -> None:
        self.query = query

    def encode_text(self, text: str) -> np.ndarray:
        return self.query if text == "red square" else -self.query[::-1].copy()

    def rerank(self, text, features, video_embeddings) -> np.ndarray:
        return video_embeddings @ text + features.astype(np.float32).mean(axis=(1, 2))


@pytest.fixture
def built(tmp_path: Path) -> Iterator[tuple[Library, np.ndarray]]:
    """A library of videos in /m/a, /m/ab and /m (different mtimes and lengths), one failed
    file, one deleted video (tombstones), transcript lines; its FAISS index saved up to date.
    Returns the library and a query vector."""
    rng = np.random.default_rng(7)
    library = Library.open(tmp_path / "lib")
    settings = library.bind(small_settings())
    paths = ["/m/a/1.mp4", "/m/a/2.mp4", "/m/ab/x.mp4", "/m/top.mp4", "/m/gone.mp4"]
    with library.session() as session, session.begin():
        for day, path in enumerate(paths, 1):
            record = replace(video_record(path), mtime_ns=day * DAY_NS, duration_s=10.0 * day)
            clips = clip_records(rng, 4, settings.embed_dim, settings.feature_tokens)
            video = repo.save_indexed_video(record, clips, session=session)
            said = [TranscriptLine(1.0, 2.0, f"a red square number {day}", "speech", "en")]
            transcripts.replace_transcript(video.id, said if day % 2 else [], session=session)
        repo.save_failed_video("/m/a/bad.mp4", 1, DAY_NS, "corrupt", None, session=session)
    delete_path(library, "/m/gone.mp4")
    library.vectors()
    library.save_vectors()
    query = rng.standard_normal(settings.embed_dim).astype(np.float32)
    yield library, query / np.linalg.norm(query)
    library.close()


def test_the_reader_reads_what_the_library_reads(built) -> None:
    library, _ = built
    with SqliteReader.open(library.folder) as reader:
        assert reader.folder == library.folder
        assert reader.settings == library.settings
        assert reader.generation() == library.generation()
        for wanted in FILTERS:
            expected = library.clip_ids_matching(wanted)
            assert expected.dtype == reader.clip_ids_matching(wanted).dtype == np.int64
            np.testing.assert_array_equal(reader.clip_ids_matching(wanted), expected)
        ids = [int(i) for i in library.clip_ids_matching(VideoFilter())]
        asked = [*ids, 10_000, ids[0]]  # a vanished id, a repeat
        assert reader.clip_hits(asked) == library.clip_hits(asked)
        got, expected = reader.clip_rerank_inputs(asked), library.clip_rerank_inputs(asked)
        assert sorted(got) == sorted(expected) == sorted(ids)
        for i in ids:
            for mine, theirs in zip(got[i], expected[i]):
                assert mine.dtype == theirs.dtype and mine.shape == theirs.shape
                np.testing.assert_array_equal(mine, theirs)
        video_ids = {hit.video_id for hit in library.clip_hits(ids).values()}
        places = [(v, t) for v in [*video_ids, 999] for t in (-1.0, 0.0, 3.9, 4.0, 100.0)]
        found = library.clips_at(places)
        assert reader.clips_at(places) == found and found.count(None) == 5  # video 999
        assert reader.has_transcripts() is library.has_transcripts() is True
        for wanted in (None, VideoFilter(folders=("/m/a",))):
            assert reader.search_transcripts("red square", limit=10, wanted=wanted) == (
                library.search_transcripts("red square", limit=10, wanted=wanted)
            )


@pytest.mark.parametrize("kind", ["flat", "pq-shortlist"])
def test_the_readers_rerank_inputs_take_the_embeddings_from_its_index(
    built, monkeypatch, kind: str
) -> None:
    """Once ``vectors()`` has given the saved index (read without FAISS, or with it when it has
    a shortlist), the reader reads only the features of the clips it holds: the same arrays,
    bit for bit, as the join of every embedding; a clip committed since is joined."""
    library, _ = built
    if kind == "pq-shortlist":
        monkeypatch.setattr(shortlists, "SHORTLIST_MIN_CLIPS", 8)
        monkeypatch.setattr(shortlists, "SHORTLIST_DROP_CLIPS", 4)
        library.vectors()
        library.save_vectors()
    ids = [int(i) for i in library.clip_ids_matching(VideoFilter())]
    with SqliteReader.open(library.folder) as reader:
        assert isinstance(reader.vectors(), FlatIndex) == (kind == "flat")
        _, late = add_video(library, "/m/late.mp4", 2, np.random.default_rng(2))
        statements: list[str] = []
        reader._connection.set_trace_callback(statements.append)
        asked = [*ids, *late, 10_000]
        got = reader.clip_rerank_inputs(asked)
        joins = [s for s in statements if "clips.embedding" in s]
        assert joins == [joins[0].split(" IN ")[0] + f" IN ({late[0]}, {late[1]}, 10000)"]
        with library.session() as session:
            expected = repo.clip_rerank_inputs(asked, session=session)
    assert set(got) == set(expected) == {*ids, *late}
    for clip_id, (features, embedding) in expected.items():
        assert got[clip_id][0].tobytes() == features.tobytes()
        assert got[clip_id][1].tobytes() == embedding.tobytes()


def test_the_reader_reads_without_sqlalchemy(built) -> None:
    """In a process of its own: every read but the search of what is said (the Library's),
    and no SQLAlchemy."""
    library, _ = built
    code = (
        "import sys\n"
        "from storage.search_reads import VideoFilter\n"
        "from storage.sqlite_reader import SqliteReader\n"
        f"reader = SqliteReader.open({str(library.folder)!r})\n"
        "assert reader.has_transcripts()\n"
        "ids = reader.clip_ids_matching(VideoFilter(folders=('/m',)))\n"
        "assert len(reader.vectors()) == len(ids) and reader.clip_rerank_inputs(list(ids))\n"
        "assert reader.clip_hits(list(ids)) and reader.clips_at([(1, 0.0)])[0] and reader.settings\n"
        "reader.close()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'alembic')))\n"
    )
    assert run_python(code).strip() == "[]"


def test_searches_through_the_reader_equal_the_librarys(built) -> None:
    library, query = built
    encoder = KnownEncoder(query)
    with SqliteReader.open(library.folder) as reader:
        np.testing.assert_array_equal(reader.vectors().ids(), library.vectors().ids())
        for source in (SOURCE_VISUAL, SOURCE_ALL):
            for wanted in FILTERS[:3]:
                options = SearchOptions(k=5, only=wanted, negatives=("not this",))
                expected = search_spans(library, encoder, "red square", options, source)
                assert expected
                assert search_spans(reader, encoder, "red square", options, source) == expected


def test_a_stale_index_is_left_to_the_library_which_saves_it(built) -> None:
    library, _ = built
    index_file = library.index_path
    saved = index_file.read_bytes()
    with SqliteReader.open(library.folder) as reader:
        before = set(reader.vectors().ids())
    assert index_file.read_bytes() == saved  # an up-to-date index is only read
    _, added = add_video(library, "/m/new.mp4", 3, np.random.default_rng(1))
    with SqliteReader.open(library.folder) as reader:
        assert set(reader.vectors().ids()) == before | set(added)
        generation = reader.generation()
    with Library.open(library.folder) as again:
        assert again.vectors().generation == generation
    index_file.write_bytes(b"damaged")
    with SqliteReader.open(library.folder) as reader:
        assert set(reader.vectors().ids()) == before | set(added)


def test_only_a_library_at_the_schema_head_is_opened(tmp_path: Path) -> None:
    assert SqliteReader.open(tmp_path / "none") is None  # no database: Library.open creates it
    assert not (tmp_path / "none").exists()
    with Library.open(tmp_path / "lib"):
        pass
    with SqliteReader.open(tmp_path / "lib") as reader:
        assert reader.settings is None and reader.generation() == 0
    connection = sqlite3.connect(tmp_path / "lib" / DB_FILENAME)
    with connection:
        connection.execute("UPDATE alembic_version SET version_num = '0005_speech'")
    connection.close()
    assert SqliteReader.open(tmp_path / "lib") is None  # to be migrated: Library.open does it


def test_the_readers_names_are_the_models() -> None:
    assert (LIBRARY_ROW_ID, STATUS_INDEXED) == (models.LIBRARY_ROW_ID, models.STATUS_INDEXED)


def test_a_saved_shortlist_is_read_with_faiss(built, monkeypatch) -> None:
    """Only the exact index alone is read without FAISS (storage.flat_index); a library at
    the shortlist's size (lowered here) has its saved index read by FAISS, as before."""
    library, query = built
    monkeypatch.setattr(shortlists, "SHORTLIST_MIN_CLIPS", 8)
    monkeypatch.setattr(shortlists, "SHORTLIST_DROP_CLIPS", 4)
    library.vectors().fit_size()
    assert library.vectors().kind == "pq-shortlist"
    library.save_vectors()
    with SqliteReader.open(library.folder) as reader:
        vectors = reader.vectors()
        assert vectors.kind == "pq-shortlist" and reader._library is None
        np.testing.assert_array_equal(vectors.ids(), library.vectors().ids())
