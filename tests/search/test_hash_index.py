"""The multi-index hash lookup finds exactly the pairs a brute-force scan finds."""

from __future__ import annotations

import numpy as np

from search.dedup import _candidate_pairs


def _brute(hashes: np.ndarray, radius: int) -> set[tuple[int, int, int]]:
    found = set()
    for i in range(len(hashes)):
        for j in range(i + 1, len(hashes)):
            d = bin(int(hashes[i]) ^ int(hashes[j])).count("1")
            if d <= radius:
                found.add((i, j, d))
    return found


def test_range_lookup_equals_brute_force_up_to_radius_15() -> None:
    rng = np.random.default_rng(7)
    base = rng.integers(0, 2**63, 60, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    # Copies of each base hash with 0..15 random bits flipped, plus unrelated hashes.
    noisy = []
    for value in base:
        flips = rng.choice(64, size=int(rng.integers(0, 16)), replace=False)
        noisy.append(int(value) ^ sum(1 << int(b) for b in flips))
    hashes = np.concatenate([base, np.array(noisy, dtype=np.uint64)])
    for radius in (8, 12, 15):
        pairs, distances = _candidate_pairs(hashes, radius)
        got = {(int(i), int(j), int(d)) for (i, j), d in zip(pairs, distances)}
        assert got == _brute(hashes, radius)
        assert len(got) >= 30
