"""The FAISS index: search, the file format, and agreement with the database."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import event

from storage import repository
from storage.errors import CorruptIndexError
from storage.library import INDEX_FILENAME, Library
from storage.vectors import VectorIndex
from tests.storage.records import add_video, db_clip_ids, delete_path, unit_vectors


def index_ids(lib: Library) -> set[int]:
    return set(lib.vectors().ids().tolist())


def rebuilt_copy(open_library: Callable[..., Library]) -> VectorIndex:
    """A from-scratch index of the same database (the file removed first)."""
    with open_library() as lib:
        lib.index_path.unlink(missing_ok=True)
        return lib.vectors()


def test_search_returns_the_stored_id(rng: np.random.Generator) -> None:
    vectors = unit_vectors(rng, 50, 16)
    ids = np.arange(100, 150, dtype=np.int64)
    index = VectorIndex(16)
    index.add(ids, vectors)
    scores, found = index.search(vectors, 3)
    np.testing.assert_array_equal(found[:, 0], ids)
    np.testing.assert_allclose(scores[:, 0], 1.0, rtol=1e-5)
    assert scores.dtype == np.float32 and found.dtype == np.int64


def test_missing_results_are_minus_one(rng: np.random.Generator) -> None:
    index = VectorIndex(16)
    index.add([7], unit_vectors(rng, 1, 16))
    _, found = index.search(unit_vectors(rng, 2, 16), 3)
    assert found[:, 1:].tolist() == [[-1, -1], [-1, -1]]


def test_add_replaces_and_remove_ignores_absent(rng: np.random.Generator) -> None:
    index = VectorIndex(16)
    first, second = unit_vectors(rng, 2, 16)
    index.add([1, 2], np.stack([first, second]))
    index.add([1], second)
    assert sorted(index.ids().tolist()) == [1, 2] and len(index) == 2
    assert index.remove([2, 99]) == 1
    scores, found = index.search(second, 1)
    assert found[0, 0] == 1 and scores[0, 0] == pytest.approx(1.0, abs=1e-5)


def test_range_search_returns_everything_above_the_threshold(rng: np.random.Generator) -> None:
    base = unit_vectors(rng, 1, 16)[0]
    near = base + 0.05 * unit_vectors(rng, 1, 16)[0]
    index = VectorIndex(16)
    index.add([1, 2, 3], np.stack([base, near / np.linalg.norm(near), -base]))
    [(scores, ids)] = index.range_search(base, 0.9)
    assert ids.tolist() == [1, 2] and scores[0] >= scores[1]


def test_save_and_load_round_trip(tmp_path: Path, rng: np.random.Generator) -> None:
    index = VectorIndex(16, generation=42)
    index.add([5, 6], unit_vectors(rng, 2, 16))
    path = tmp_path / INDEX_FILENAME
    index.save(path)
    loaded = VectorIndex.load(path)
    assert (loaded.dim, loaded.generation, sorted(loaded.ids().tolist())) == (16, 42, [5, 6])
    assert [p.name for p in tmp_path.iterdir()] == [INDEX_FILENAME]


def test_failed_save_leaves_no_temp_file(tmp_path: Path, rng: np.random.Generator) -> None:
    index = VectorIndex(16)
    index.add([1], unit_vectors(rng, 1, 16))
    target = tmp_path / INDEX_FILENAME
    target.mkdir()  # os.replace cannot put a file over a folder
    with pytest.raises(OSError):
        index.save(target)
    assert [p.name for p in tmp_path.iterdir()] == [INDEX_FILENAME]


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty"])
def test_load_rejects_damaged_files(tmp_path: Path, rng: np.random.Generator, damage: str) -> None:
    index = VectorIndex(16)
    index.add([1, 2], unit_vectors(rng, 2, 16))
    path = tmp_path / INDEX_FILENAME
    index.save(path)
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) - 10]
    elif damage == "flip":
        data[-5] ^= 0xFF
    elif damage == "garbage":
        data = bytearray(b"not an index at all" * 10)
    else:
        data = bytearray()
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptIndexError):
        VectorIndex.load(path)


def test_index_agrees_with_the_database(library: Library, rng: np.random.Generator) -> None:
    add_video(library, "/m/a.mp4", 3, rng)
    assert index_ids(library) == db_clip_ids(library)
    add_video(library, "/m/b.mp4", 4, rng)
    add_video(library, "/m/a.mp4", 2, rng)
    assert index_ids(library) == db_clip_ids(library)
    delete_path(library, "/m/b.mp4")
    assert index_ids(library) == db_clip_ids(library)
    assert library.vectors().generation == library.generation() == 4


def _embedding_reads(library: Library) -> list[str]:
    """The SQL statements ``library`` runs from now on that read ``clips.embedding``."""
    statements: list[str] = []

    def record(_conn, _cursor, statement: str, *_args) -> None:
        if "clips.embedding" in statement:
            statements.append(statement)

    event.listen(library.engine, "before_cursor_execute", record)
    return statements


def test_rerank_inputs_take_the_embeddings_the_index_holds(
    open_library: Callable[..., Library], library: Library, rng: np.random.Generator
) -> None:
    """A search's re-rank reads only the features of the clips its vector index holds, and
    gets the same arrays, bit for bit, as reading every embedding from the database; the
    database still says which clips exist and gives the embeddings of clips the index lacks
    (committed since it was loaded)."""
    _, kept = add_video(library, "/m/a.mp4", 3, rng)
    _, gone = add_video(library, "/m/b.mp4", 2, rng)
    library.vectors()
    with open_library() as writer:  # another process, after the index was loaded
        _, late = add_video(writer, "/m/c.mp4", 2, rng)
        delete_path(writer, "/m/b.mp4")
    reads = _embedding_reads(library)
    assert set(library.clip_rerank_inputs(kept)) == set(kept) and reads == []
    asked = [*kept, *gone, *late, 999]
    got = library.clip_rerank_inputs(asked)
    assert len(reads) == 1  # one join, for the late clips
    with library.session() as session:
        expected = repository.clip_rerank_inputs(asked, session=session)
    assert set(got) == set(expected) == {*kept, *late}
    for clip_id, (features, embedding) in expected.items():
        assert got[clip_id][0].tobytes() == features.tobytes()
        assert got[clip_id][1].dtype == np.float32
        assert got[clip_id][1].tobytes() == embedding.tobytes()


def test_reopen_loads_the_saved_index(
    library_dir: Path,
    open_library: Callable[..., Library],
    library: Library,
    rng: np.random.Generator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    add_video(library, "/m/a.mp4", 3, rng)
    library.vectors()
    library.save_vectors()
    with caplog.at_level(logging.INFO, logger="storage.library"):
        with open_library() as reopened:
            assert index_ids(reopened) == db_clip_ids(reopened)
            assert reopened.vectors().generation == 1
    assert "rebuilt" not in caplog.text


def test_deleted_index_file_is_rebuilt(
    library_dir: Path,
    open_library: Callable[..., Library],
    library: Library,
    rng: np.random.Generator,
) -> None:
    add_video(library, "/m/a.mp4", 3, rng)
    library.vectors()
    library.close()  # saves the index at generation 1
    library.index_path.unlink()
    with open_library() as reopened:
        assert index_ids(reopened) == db_clip_ids(reopened)
    assert library.index_path.exists()


def test_stale_index_catches_up_like_a_rebuild(
    library_dir: Path,
    open_library: Callable[..., Library],
    library: Library,
    rng: np.random.Generator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    add_video(library, "/m/a.mp4", 3, rng)
    add_video(library, "/m/b.mp4", 3, rng)
    library.vectors()
    library.close()  # saves at generation 2
    with open_library() as writer:  # another process, never loading the index
        add_video(writer, "/m/c.mp4", 2, rng)
        add_video(writer, "/m/a.mp4", 2, rng)
        delete_path(writer, "/m/b.mp4")
    with caplog.at_level(logging.DEBUG, logger="storage.library"):
        with open_library() as reader:
            caught_up = reader.vectors()
            assert caught_up.generation == 5
            assert index_ids(reader) == db_clip_ids(reader)
    assert "caught up from 2 to 5" in caplog.text and "rebuilt" not in caplog.text
    rebuilt = rebuilt_copy(open_library)
    queries = unit_vectors(rng, 5, 16)
    for got, want in zip(caught_up.search(queries, 10), rebuilt.search(queries, 10)):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "other_dim", "ahead"])
def test_unusable_index_file_is_rebuilt(
    library_dir: Path,
    open_library: Callable[..., Library],
    library: Library,
    rng: np.random.Generator,
    caplog: pytest.LogCaptureFixture,
    damage: str,
) -> None:
    add_video(library, "/m/a.mp4", 3, rng)
    library.vectors()
    library.close()  # saves the index at generation 1
    path = library.index_path
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:40])
    elif damage == "garbage":
        path.write_bytes(b"\x00" * 300)
    elif damage == "other_dim":
        VectorIndex(8, generation=1).save(path)
    else:
        VectorIndex(16, generation=7).save(path)
    with caplog.at_level(logging.WARNING, logger="storage.library"):
        with open_library() as reopened:
            assert index_ids(reopened) == db_clip_ids(reopened)
            assert reopened.vectors().generation == 1
    assert "rebuilding the vector index" in caplog.text
    assert VectorIndex.load(path).generation == 1


def test_save_vectors_writes_only_when_changed(
    library_dir: Path, library: Library, rng: np.random.Generator
) -> None:
    add_video(library, "/m/a.mp4", 2, rng)
    library.vectors()
    library.save_vectors()
    path = library.index_path
    before = path.stat().st_ino, path.stat().st_mtime_ns
    library.vectors()
    library.save_vectors()
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == before
    add_video(library, "/m/b.mp4", 2, rng)
    library.vectors()
    library.save_vectors()
    assert VectorIndex.load(path).generation == 2
    leftovers = [p.name for p in library_dir.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_each_database_has_its_own_index_file(
    library_dir: Path, settings, postgres_url: str, rng: np.random.Generator
) -> None:
    """One folder used with its SQLite file and with --db-url: both databases reach generation 1
    with different clips, so a shared index file would pass one's vectors off as the other's."""
    with Library.open(library_dir) as local:
        local.bind(settings)
        add_video(local, "/local/a.mp4", 3, rng)
        assert index_ids(local) == db_clip_ids(local)
    with Library.open(library_dir, db_url=postgres_url) as remote:
        remote.bind(settings)
        add_video(remote, "/remote/b.mp4", 2, rng)
        assert remote.index_path != local.index_path
        assert remote.vectors().generation == 1 and index_ids(remote) == db_clip_ids(remote)
    with Library.open(library_dir) as local:
        assert index_ids(local) == db_clip_ids(local) and len(db_clip_ids(local)) == 3
    assert sorted(p.name for p in library_dir.glob("*.faiss")) == sorted(
        [INDEX_FILENAME, remote.index_path.name]
    )
