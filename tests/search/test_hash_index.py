"""The index of frame hashes: exact distances, nothing beyond the radius or inside a query's own
video, (nearly) every close pair found, checked against a brute-force scan."""

from __future__ import annotations

import numpy as np

from search import hash_index
from search.hash_index import HashIndex


def _brute(queries, groups_q, hashes, groups, radius) -> dict[tuple[int, int], int]:
    found = {}
    for i, q in enumerate(queries):
        for j, h in enumerate(hashes):
            d = (int(q) ^ int(h)).bit_count()
            if d <= radius and groups_q[i] != groups[j]:
                found[(i, j)] = d
    return found


def _noisy(rng, values, flips) -> np.ndarray:
    out = []
    for value, count in zip(values, flips):
        bits = rng.choice(64, size=int(count), replace=False)
        out.append(int(value) ^ sum(1 << int(b) for b in bits))
    return np.array(out, dtype=np.uint64)


def test_within_against_brute_force() -> None:
    rng = np.random.default_rng(7)
    stored = rng.integers(0, 2**64 - 1, 400, dtype=np.uint64)
    groups = np.arange(400) // 4
    picked = rng.integers(0, 400, 600)
    flips = np.arange(600) % 15  # 0..14 bits away from a stored hash
    queries = _noisy(rng, stored[picked], flips)
    query_groups = np.where(np.arange(600) % 10 == 0, groups[picked], 1000)  # some in its video
    truth = _brute(queries, query_groups, stored, groups, 14)
    rows, found, distances = HashIndex(stored, groups).within(queries, query_groups, 14)
    got = {(int(i), int(j)): int(d) for i, j, d in zip(rows, found, distances)}
    assert len(got) == len(rows)  # each pair once
    assert all(truth[pair] == d for pair, d in got.items())  # exact; none too far or own video
    assert all(pair in got for pair, d in truth.items() if d <= 6)
    close = [pair for pair, d in truth.items() if d <= 8]
    assert sum(pair in got for pair in close) / len(close) >= 0.97
    far = [pair for pair, d in truth.items() if 12 <= d <= 14]
    assert len(far) > 100 and sum(pair in got for pair in far) / len(far) >= 0.4
    assert list(rows) == sorted(rows)


def test_pairs_inside_the_index_skip_its_own_groups_and_come_once() -> None:
    rng = np.random.default_rng(8)
    base = rng.integers(0, 2**64 - 1, 60, dtype=np.uint64)
    # 5 videos, each a noisy copy of the same 60 frames: close pairs inside and across videos.
    hashes = np.concatenate([_noisy(rng, base, rng.integers(0, 7, 60)) for _ in range(5)])
    groups = np.repeat(np.arange(5), 60)
    truth = {
        pair: d
        for pair, d in _brute(hashes, groups, hashes, groups, 14).items()
        if pair[0] < pair[1]
    }
    first, second, distances = HashIndex(hashes, groups).pairs(14)
    got = {(int(i), int(j)): int(d) for i, j, d in zip(first, second, distances)}
    assert len(got) == len(first) and all(truth[pair] == d for pair, d in got.items())
    assert all(pair in got for pair, d in truth.items() if d <= 6)
    assert (groups[first] < groups[second]).all()


def test_a_huge_bucket_of_identical_hashes_stays_bounded(monkeypatch) -> None:
    """Two still shots of the same picture: each hash meets at most MAX_BUCKET of the other's
    per table (a smaller bound here, to keep the test quick)."""
    monkeypatch.setattr(hash_index, "MAX_BUCKET", 8)
    hashes = np.full(200, 0x5555AAAA5555AAAA, dtype=np.uint64)
    groups = np.repeat([0, 1], 100)
    first, second, distances = HashIndex(hashes, groups).pairs(4)
    assert (distances == 0).all() and len(first) == 100 * 8
    rows, _, _ = HashIndex(hashes, groups).within(hashes[:1], np.array([7]), 4)
    assert len(rows) == 8


def test_an_empty_index_or_no_query_gives_no_pairs() -> None:
    empty = HashIndex(np.zeros(0, np.uint64), np.zeros(0, np.int64))
    rows, found, distances = empty.within(np.array([5], np.uint64), np.array([0]), 14)
    assert len(rows) == len(found) == len(distances) == 0
    index = HashIndex(np.array([5], np.uint64), np.array([0]))
    rows, _, _ = index.within(np.zeros(0, np.uint64), np.zeros(0, np.int64), 14)
    assert len(rows) == 0


def test_an_index_for_a_tight_radius_has_fewer_tables_and_still_finds_its_pairs() -> None:
    """Sized for 8 bits (what dedup searches the whole library at), the index keeps a third of
    the tables at a million hashes and still finds (nearly) every pair within 8 bits."""
    assert hash_index.tables_for(16, 8) == 37 and hash_index.tables_for(21, 8) == 74
    assert hash_index.tables_for(21, 14) == hash_index.tables(21) == 224
    rng = np.random.default_rng(9)
    stored = rng.integers(0, 2**64 - 1, 400, dtype=np.uint64)
    groups = np.arange(400) // 4
    picked = rng.integers(0, 400, 600)
    queries = _noisy(rng, stored[picked], np.arange(600) % 9)  # 0..8 bits away
    truth = _brute(queries, np.full(600, 1000), stored, groups, 8)
    index = HashIndex(stored, groups, radius=8)
    assert index.table_count == 37
    rows, found, distances = index.within(queries, np.full(600, 1000), 8)
    got = {(int(i), int(j)): int(d) for i, j, d in zip(rows, found, distances)}
    assert all(truth[pair] == d for pair, d in got.items())
    assert sum(pair in got for pair in truth) / len(truth) >= 0.97
