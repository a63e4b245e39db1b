"""The saved exact index read without FAISS: the same clips, ids and top k as FAISS's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from storage import shortlist as shortlists
from storage.errors import CorruptIndexError
from storage.flat_index import FlatIndex
from storage.vectors import VectorIndex, make_index

DIM = 32


def saved(path: Path, n: int, rng: np.random.Generator, shortlist: bool = False) -> VectorIndex:
    """A FAISS index of ``n`` unit vectors under scattered clip ids, saved to ``path``."""
    vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = rng.choice(10 * n + 1, size=n, replace=False) + 1
    index = VectorIndex(DIM, generation=7)
    if shortlist:  # as a library of SHORTLIST_MIN_CLIPS clips has it
        exact = make_index(DIM, n)
        exact.add_with_ids(vectors, ids.astype(np.int64))
        index = VectorIndex(DIM, 7, exact, shortlists.build(vectors))
    else:
        index.add(ids, vectors)
    index.save(path)
    return index


def test_reads_the_exact_index_and_searches_as_faiss_does(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    faiss_index = saved(tmp_path / "index.faiss", 700, rng)
    flat = FlatIndex.read(tmp_path / "index.faiss")
    assert flat is not None and (flat.dim, flat.generation, len(flat)) == (DIM, 7, 700)
    np.testing.assert_array_equal(flat.ids(), faiss_index.ids())
    queries = rng.standard_normal((3, DIM)).astype(np.float32)
    held = faiss_index.ids()
    subsets = [None, held[::50], np.concatenate([held[:3], [-5, 10**9]]), held[:0]]
    for among in subsets:
        for k in (1, 10, 100, 900):
            for query in (queries[:1], queries):
                expected = faiss_index.search(query, k, among=among)
                scores, ids = flat.search(query, k, among=among)
                assert scores.dtype == np.float32 and ids.dtype == np.int64
                same_ranking((scores, ids), expected)


def same_ranking(got, expected, rounding: float = 1e-6) -> None:
    """The same clips in the same order with the same scores, up to float rounding: clips
    whose scores are closer than ``rounding`` may trade places (numpy and FAISS sum the inner
    products in different orders)."""
    (scores, ids), (expected_scores, expected_ids) = got, expected
    np.testing.assert_array_equal(ids == -1, expected_ids == -1)
    found = ids >= 0
    np.testing.assert_allclose(scores[found], expected_scores[found], atol=rounding)
    for row, rank in zip(*np.nonzero(ids != expected_ids)):
        # Only a near tie changes places: a neighbour of FAISS's score at that rank is within
        # rounding of it, or it is the last rank (its rival is beyond k, scored alike).
        column = expected_scores[row].astype(np.float64)
        gaps = np.abs(column - column[rank])
        gaps[rank] = np.inf
        assert gaps.min() <= 2 * rounding or rank == len(column) - 1


def test_an_empty_index_reads_and_finds_nothing(tmp_path: Path) -> None:
    VectorIndex(DIM, generation=1).save(tmp_path / "index.faiss")
    flat = FlatIndex.read(tmp_path / "index.faiss")
    assert flat is not None and len(flat) == 0 and flat.generation == 1
    scores, ids = flat.search(np.ones(DIM, dtype=np.float32), 5)
    assert (ids == -1).all() and scores.shape == (1, 5)


def test_anything_but_the_exact_index_alone_is_left_to_faiss(tmp_path: Path) -> None:
    saved(tmp_path / "index.faiss", 700, np.random.default_rng(4), shortlist=True)
    assert FlatIndex.read(tmp_path / "index.faiss") is None  # VectorIndex.load reads it
    assert VectorIndex.load(tmp_path / "index.faiss").kind == "pq-shortlist"


def test_a_damaged_file_is_refused_as_faiss_refuses_it(tmp_path: Path) -> None:
    path = tmp_path / "index.faiss"
    saved(path, 50, np.random.default_rng(5))
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptIndexError):
        FlatIndex.read(path)
    with pytest.raises(FileNotFoundError):
        FlatIndex.read(tmp_path / "missing.faiss")


@pytest.mark.parametrize(
    ("order", "shortlist"),
    [("ascending", False), ("scattered", False), ("scattered", True)],
)
def test_embeddings_are_the_added_vectors_bit_for_bit(
    tmp_path: Path, order: str, shortlist: bool
) -> None:
    """``embeddings(ids)`` of the FAISS index (flat or with a shortlist, in memory and loaded)
    and of the FAISS-free reader: each held id's vector exactly as added, ids not held left
    out, whatever order the ids are stored in."""
    rng = np.random.default_rng(6)
    n = 700
    vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = rng.choice(10 * n + 1, size=n, replace=False) + 1
    if order == "ascending":
        ids.sort()
    exact = make_index(DIM, n)
    exact.add_with_ids(vectors, ids.astype(np.int64))
    index = VectorIndex(DIM, 7, exact, shortlists.build(vectors) if shortlist else None)
    assert index.kind == ("pq-shortlist" if shortlist else "flat")
    index.save(tmp_path / "index.faiss")
    readers = [index, VectorIndex.load(tmp_path / "index.faiss")]
    if not shortlist:
        flat = FlatIndex.read(tmp_path / "index.faiss")
        assert flat is not None
        readers.append(flat)
    absent = [10**9, -1, 0]
    asked = [int(ids[5]), absent[0], int(ids[0]), int(ids[-1]), *absent[1:]]
    for reader in readers:
        got = reader.embeddings(asked)
        assert list(got) == [int(ids[5]), int(ids[0]), int(ids[-1])]
        for position, clip_id in ((5, ids[5]), (0, ids[0]), (n - 1, ids[-1])):
            vector = got[int(clip_id)]
            assert vector.dtype == np.float32 and vector.shape == (DIM,)
            assert vector.tobytes() == vectors[position].tobytes()
        every = reader.embeddings(ids)
        assert np.stack([every[int(i)] for i in ids]).tobytes() == vectors.tobytes()
        assert reader.embeddings([]) == {} and reader.embeddings(absent) == {}
    index.remove(ids[:2])
    index.add(ids[2:3], vectors[3:4])  # replaced: the new vector is the one held
    got = index.embeddings(ids[:4])
    assert list(got) == [int(ids[2]), int(ids[3])]
    assert got[int(ids[2])].tobytes() == vectors[3].tobytes()
