"""Find pairs of near-identical 64-bit hashes without comparing all pairs.

Locality-sensitive hashing by bit sampling (Indyk and Motwani 1998; Gionis et al. 1999): each
of ``TABLES`` tables keys every hash by ``KEY_BITS`` fixed, randomly chosen bit positions, and
only hashes that share a key in some table are compared. Two hashes ``d`` bits apart share a
table's key with probability ``(1 - d/64) ** 16``; over 64 tables that finds a pair with
probability > 0.9999 at d <= 6, 0.9997 at d = 8, 0.90 at d = 12, while unrelated hashes (about 32
bits apart) collide in a table with probability 1.5e-5. Missing some frame pairs of a
copy is harmless: alignment bridges gaps between matched frames. Every candidate is then checked
with its exact Hamming distance, so no pair beyond the radius is returned.

Cost for n hashes: 64 sorts, O(n log n), plus the pairs that collide. Unrelated hashes collide
about ``64 * n**2 / 2**17`` times, so the scan stays close to linear until n nears a few hundred
thousand hashes (some 50 hours of distinct video at 2 hashes per second); an all-pairs scan
makes ``n**2 / 2`` comparisons at every size. ``benchmarks/dedup.py`` measures both.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

TABLES = 64
KEY_BITS = 16
# A key shared by more hashes than this (one long still shot hashed many times) only
# contributes pairs between its first MAX_BUCKET members, so one bucket cannot go quadratic.
MAX_BUCKET = 512
_SEED = 20261122  # fixed: the same library always gives the same candidates


@lru_cache(maxsize=1)
def _key_positions() -> np.ndarray:
    rng = np.random.default_rng(_SEED)
    return np.stack([rng.choice(64, KEY_BITS, replace=False) for _ in range(TABLES)])


@lru_cache(maxsize=64)
def _pairs_within(size: int) -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(size, 1)


def _bucket_pairs(keys: np.ndarray) -> np.ndarray:
    """(i, j) pairs, i < j, of positions sharing a key."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    sizes = np.diff(np.r_[starts, len(keys)])
    found = []
    # np.bincount, not np.unique: numpy 2's hash-based unique is far slower on these arrays.
    for size in np.flatnonzero(np.bincount(sizes)[2:]) + 2:
        first = starts[sizes == size]
        left, right = _pairs_within(int(min(size, MAX_BUCKET)))
        a = order[first[:, None] + left[None, :]].ravel()
        b = order[first[:, None] + right[None, :]].ravel()
        found.append(np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1))
    return np.concatenate(found) if found else np.zeros((0, 2), dtype=np.int64)


@lru_cache(maxsize=1)
def _bits_in_uint16() -> np.ndarray:
    return np.unpackbits(np.arange(65536, dtype=">u2").view(np.uint8).reshape(-1, 2), axis=1).sum(
        axis=1, dtype=np.int64
    )


def popcount64(values: np.ndarray) -> np.ndarray:
    """Set bits of each uint64 (``np.bitwise_count`` needs numpy 2; clipdex supports 1.26)."""
    quarters = np.ascontiguousarray(values, dtype=np.uint64).view(np.uint16).reshape(-1, 4)
    return _bits_in_uint16()[quarters].sum(axis=1)


def near_pairs(
    hashes: np.ndarray,
    radius: int,
    groups: np.ndarray | None = None,
    roles: np.ndarray | None = None,
    allowed: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i < j) of hashes at most ``radius`` bits apart, and their distances.

    Pairs up to 8 bits apart are found with probability >= 0.999 each; none beyond ``radius``
    is ever returned. With ``groups`` (one label per hash, e.g. its video), pairs inside one
    group are dropped as soon as they are found: consecutive frames of a shot are the bulk of
    all close pairs and tell nothing about duplicates. With ``roles`` (one small int per hash)
    and ``allowed`` (a boolean matrix over roles), only pairs whose roles are allowed are kept,
    also as soon as they are found (region hashes are compared with whole frames, not with
    every other region).
    """
    values = np.ascontiguousarray(hashes, dtype=np.uint64)
    n = len(values)
    if n < 2:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.int64)
    bits = np.unpackbits(values.astype(">u8").view(np.uint8).reshape(n, 8), axis=1)
    weights = (1 << np.arange(KEY_BITS - 1, -1, -1)).astype(np.int64)
    candidates = []
    for cols in _key_positions():
        found = _bucket_pairs(bits[:, cols].astype(np.int64) @ weights)
        if groups is not None:
            found = found[groups[found[:, 0]] != groups[found[:, 1]]]
        if roles is not None and allowed is not None:
            found = found[allowed[roles[found[:, 0]], roles[found[:, 1]]]]
        candidates.append(found)
    pairs = np.concatenate(candidates)
    if len(pairs) == 0:  # nothing shares a key (a join of a few hashes)
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.int64)
    codes = np.sort(pairs[:, 0].astype(np.int64) * n + pairs[:, 1])
    codes = codes[np.r_[True, codes[1:] != codes[:-1]]]
    pairs = np.stack([codes // n, codes % n], axis=1)
    distances = popcount64(values[pairs[:, 0]] ^ values[pairs[:, 1]])
    close = distances <= radius
    return pairs[close], distances[close]
