"""The PQ shortlist in front of the exact index: chosen by size, exact scores, kept in step."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from storage import shortlist
from storage.library import INDEX_FILENAME
from storage.vectors import VectorIndex, index_kind
from tests.storage.records import unit_vectors

N = 3000
DIM = 64


@pytest.fixture
def small_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    """Switch at 2,000 clips instead of 100,000 so the test stays small."""
    monkeypatch.setattr(shortlist, "SHORTLIST_MIN_CLIPS", 2000)
    monkeypatch.setattr(shortlist, "SHORTLIST_DROP_CLIPS", 1000)


def _clustered(rng: np.random.Generator, n: int) -> np.ndarray:
    centres = unit_vectors(rng, 40, DIM)
    x = centres[rng.integers(0, 40, n)] + 0.6 * unit_vectors(rng, n, DIM)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_kind_follows_size_with_hysteresis(small_threshold, rng) -> None:
    index = VectorIndex(DIM)
    vectors = _clustered(rng, N)
    index.add(np.arange(1999), vectors[:1999])
    assert not index.fit_size() and index.kind == "flat" == index_kind(1999)
    index.add(np.arange(1999, N), vectors[1999:])
    assert index.fit_size() and index.kind == "pq-shortlist" == index_kind(N)
    index.remove(np.arange(1500))  # 1,500 left: above the drop line, keeps the shortlist
    assert not index.fit_size() and index.kind == "pq-shortlist"
    index.remove(np.arange(1500, 2100))
    assert index.fit_size() and index.kind == "flat"


def test_refined_search_returns_exact_scores_and_the_exact_top(small_threshold, rng) -> None:
    vectors = _clustered(rng, N)
    ids = np.arange(N, dtype=np.int64) * 7 + 3
    exact = VectorIndex(DIM)
    exact.add(ids, vectors)
    fast = VectorIndex(DIM)
    fast.add(ids, vectors)
    fast.fit_size()
    # Out-of-distribution queries: a weak pull towards the data plus a large foreign component.
    queries = unit_vectors(rng, 20, DIM) + 0.5 * vectors[rng.integers(0, N, 20)]
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    _, want_ids = exact.search(queries, 10)
    got_scores, got_ids = fast.search(queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(want_ids, got_ids)])
    assert recall >= 0.95
    by_id = dict(zip(ids.tolist(), vectors))
    for q, row_scores, row_ids in zip(queries, got_scores, got_ids):
        expected = np.array([by_id[i] @ q for i in row_ids], dtype=np.float32)
        np.testing.assert_allclose(row_scores, expected, atol=1e-5)


def test_shortlist_stays_in_step_through_replace_remove_and_save(
    small_threshold, rng, tmp_path: Path
) -> None:
    vectors = _clustered(rng, N)
    index = VectorIndex(DIM, generation=5)
    index.add(np.arange(N), vectors)
    index.fit_size()
    index.remove(np.arange(0, N, 3))
    index.add([1], vectors[2])  # replace clip 1's vector with clip 2's
    index.save(tmp_path / INDEX_FILENAME)
    loaded = VectorIndex.load(tmp_path / INDEX_FILENAME)
    assert loaded.kind == "pq-shortlist" and len(loaded) == len(index)
    for probe in (2, 4, 5, 7):  # each stored vector finds its own id first (1 ties with 2)
        _, found = loaded.search(vectors[probe], 2)
        assert probe in found[0].tolist()
    _, found = loaded.search(vectors[3], 5)
    assert 3 not in found[0].tolist()  # removed clips are gone from the shortlist too


@pytest.mark.parametrize("kind", ["flat", "pq-shortlist"])
def test_search_among_ids_is_the_exact_top_of_that_subset(small_threshold, rng, kind) -> None:
    vectors = _clustered(rng, N)
    ids = np.arange(N, dtype=np.int64) * 7 + 3
    index = VectorIndex(DIM)
    index.add(ids, vectors)
    if kind == "pq-shortlist":
        index.fit_size()
    assert index.kind == kind
    # 1 % of the clips, chosen to be the ones least like the query: an unfiltered top-k (or a
    # shortlist's candidates) holds none of them, so only a restricted search finds k.
    query = vectors[0]
    order = np.argsort(vectors @ query)
    subset = ids[np.sort(order[: N // 100])]
    unknown = np.array([5, 10**9], dtype=np.int64)  # not held: ignored
    scores, found = index.search(query, 10, among=np.concatenate([subset, unknown]))
    by_id = dict(zip(ids.tolist(), vectors @ query))
    want = sorted(subset.tolist(), key=lambda i: -by_id[i])[:10]
    assert found[0].tolist() == want
    np.testing.assert_allclose(scores[0], [by_id[i] for i in want], rtol=1e-6)
    _, plain = index.search(query, 10 * shortlist.REFINE_FACTOR)
    assert not set(plain[0].tolist()) & set(subset.tolist())
    empty_scores, none = index.search(query, 3, among=np.array([], dtype=np.int64))
    assert none.tolist() == [[-1, -1, -1]] and np.all(np.isinf(empty_scores))
    _, few = index.search(query, 50, among=subset[:4])
    assert sorted(few[0][few[0] >= 0].tolist()) == sorted(subset[:4].tolist())


def _isotropic(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    return unit_vectors(rng, n, dim).astype(np.float32)


def test_refined_search_keeps_the_exact_top_of_unclustered_vectors(small_threshold, rng) -> None:
    """Random isotropic vectors are the codes' worst case (nothing clusters): the top 50 of a
    query must still be exactly the exact scan's, as the re-rank's stopping estimate assumes.
    Codes of 8 dimensions, as before, kept about 37 of the 50 here."""
    dim, n = 128, 20_000
    vectors = _isotropic(rng, n, dim)
    exact = VectorIndex(dim)
    exact.add(np.arange(n), vectors)
    fast = VectorIndex(dim)
    fast.add(np.arange(n), vectors)
    assert fast.fit_size() and fast.kind == "pq-shortlist"
    queries = _isotropic(rng, 20, dim)
    _, want = exact.search(queries, 50)
    _, got = fast.search(queries, 50)
    assert [sorted(row) for row in got.tolist()] == [sorted(row) for row in want.tolist()]


def test_a_shortlist_saved_with_coarser_codes_is_rebuilt(
    small_threshold, rng, tmp_path: Path
) -> None:
    """An index.faiss from before the finer codes (8 dimensions per code) still loads and
    searches, but is not current: the Library rebuilds its shortlist on open, and a read-only
    reader (which must not change it) hands over."""
    import faiss

    vectors = _clustered(rng, N)
    exact = faiss.IndexIDMap2(faiss.IndexFlatIP(DIM))
    exact.add_with_ids(vectors, np.arange(N, dtype=np.int64))
    old = faiss.IndexPQFastScan(DIM, DIM // 8, shortlist.BITS, faiss.METRIC_INNER_PRODUCT)
    old.train(vectors)
    old.add(vectors)
    VectorIndex(DIM, 3, exact, old).save(tmp_path / INDEX_FILENAME)
    loaded = VectorIndex.load(tmp_path / INDEX_FILENAME)
    assert loaded.kind == "pq-shortlist" and not shortlist.current(old)
    assert not loaded.fits_size()
    assert loaded.fit_size() and loaded.fits_size() and not loaded.fit_size()
    assert loaded.kind == "pq-shortlist" and len(loaded) == N
    _, found = loaded.search(vectors[7], 1)
    assert found[0].tolist() == [7]
