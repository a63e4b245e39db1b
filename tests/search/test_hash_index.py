"""The LSH lookup of near-identical hashes: exact distances, nothing beyond the radius, and
(nearly) every close pair found, checked against a brute-force scan."""

from __future__ import annotations

import numpy as np

from search.hashmatch import near_pairs


def _brute(hashes: np.ndarray, radius: int) -> dict[tuple[int, int], int]:
    found = {}
    for i in range(len(hashes)):
        for j in range(i + 1, len(hashes)):
            d = (int(hashes[i]) ^ int(hashes[j])).bit_count()
            if d <= radius:
                found[(i, j)] = d
    return found


def test_near_pairs_against_brute_force() -> None:
    rng = np.random.default_rng(7)
    base = rng.integers(0, 2**63, 150, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    noisy = []
    for index, value in enumerate(base):
        flips = rng.choice(64, size=index % 13, replace=False)  # 0..12 bits flipped
        noisy.append(int(value) ^ sum(1 << int(b) for b in flips))
    hashes = np.concatenate([base, np.array(noisy, dtype=np.uint64)])
    truth = _brute(hashes, 12)
    pairs, distances = near_pairs(hashes, 12)
    got = {(int(i), int(j)): int(d) for (i, j), d in zip(pairs, distances)}
    assert all(truth[pair] == d for pair, d in got.items())  # exact, none beyond the radius
    close = [pair for pair, d in truth.items() if d <= 8]
    assert len(close) >= 90
    assert sum(pair in got for pair in close) / len(close) >= 0.95
    assert all(pair in got for pair, d in truth.items() if d <= 3)


def test_a_huge_bucket_of_identical_hashes_stays_bounded() -> None:
    hashes = np.full(3000, 0x5555AAAA5555AAAA, dtype=np.uint64)
    pairs, distances = near_pairs(hashes, 4)
    assert (distances == 0).all() and 0 < len(pairs) <= 512 * 511 // 2


def test_hashes_sharing_no_key_give_no_pairs() -> None:
    pairs, distances = near_pairs(np.array([0, 2**64 - 1], dtype=np.uint64), 14)
    assert pairs.shape == (0, 2) and len(distances) == 0
