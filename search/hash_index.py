"""An index of 64-bit frame hashes that answers "which stored hashes are within r bits of these".

Duplicate detection used to pool every kind of hash (whole frames, mirrors, regions) and pair
them all by locality-sensitive hashing, so the unrelated pairs it had to sort out grew with the
square of the pool. Here the whole-frame hashes are indexed once and every other kind *queries*
that index: the work is a fixed number of lookups per query hash plus the hashes it finds.

Locality-sensitive hashing by bit sampling (Indyk and Motwani 1998; Gionis et al. 1999): each
of ``tables`` tables keys every stored hash by ``key_bits`` fixed, randomly chosen bit
positions; a query looks up its own key in each table, and every stored hash found is checked
with its exact Hamming distance, so none beyond the radius is returned. Two hashes ``d`` bits
apart share a table's key with probability about ``(1 - d/64) ** key_bits``. The key grows with
the index (``key_bits``: one bit more than ``log2`` of its size, 16 to 22), so a lookup finds
about half an unrelated hash at any size; more tables make up for the longer keys
(``tables``: 64 at 16 bits, 32 more per bit). Pairs up to 8 bits apart are found with
probability >= 0.99 at every size; at 12 bits 0.75 with 10,000 stored hashes, 0.78 with 100,000 and 0.65 with a million (14 bits: 0.48, 0.47,
0.31). Missing some frame pairs of a copy is harmless: alignment bridges gaps between matched
frames. The added tables make the work per query hash grow with ``log2`` of the index size.

FAISS's binary indexes were measured first (``IndexBinaryMultiHash``, as DESIGN.md prefers):
its range search took 135 us per query with one flipped bit per substring and 1,100 us with
two, on 100,000 stored hashes, one core, which is more than the whole scan spends per hash; its
exhaustive ``IndexBinaryFlat`` is quadratic.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

_SEED = 20261122  # fixed: the same library always gives the same candidates
_BLOCK = 16  # tables whose buckets are held at once
_CHUNK = 1 << 17  # query hashes whose keys are computed at once
# A bucket holding more stored hashes than this (one long still shot hashed many times) only
# yields its first MAX_BUCKET to a query, so one bucket cannot go quadratic.
MAX_BUCKET = 512


def key_bits(size: int) -> int:
    """Bits per key for an index of ``size`` hashes: about two buckets per hash."""
    return min(22, max(16, math.ceil(math.log2(max(size, 2))) + 1))


def tables(bits: int) -> int:
    """Tables for keys of ``bits`` bits: longer keys each find fewer close pairs."""
    return 64 + 32 * (bits - 16)


def tables_for(bits: int, radius: int) -> int:
    """Tables that find a pair ``radius`` bits apart with probability 0.99 (``tables(bits)``
    at most): 37 at 16 bits and 74 at 21 for 8 bits, where 14 bits take 64 and 224."""
    shared = (1 - radius / 64) ** bits  # a pair's chance of sharing one table's key
    if shared >= 1:
        return 1
    return max(1, min(tables(bits), math.ceil(math.log(0.01) / math.log1p(-shared))))


@lru_cache(maxsize=8)
def _key_weights(bits: int) -> np.ndarray:
    """(64, tables) float32: column t gives table t's key as a dot product with the bits."""
    rng = np.random.default_rng(_SEED)
    count = tables(bits)
    weights = np.zeros((64, count), dtype=np.float32)
    for table in range(count):
        positions = rng.choice(64, bits, replace=False)
        weights[positions, table] = 2.0 ** np.arange(bits)
    return weights


def _bits(hashes: np.ndarray) -> np.ndarray:
    values = np.ascontiguousarray(hashes, dtype=np.uint64).astype(">u8")
    return np.unpackbits(values.view(np.uint8).reshape(-1, 8), axis=1).astype(np.float32)


def _keys(hashes: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(tables, n) keys, one contiguous row per table; uint16 while they fit (numpy sorts
    those by radix)."""
    # Float32 sums of distinct powers of two below 2**22 are exact.
    keys = weights.T @ _bits(hashes).T
    return keys.astype(np.uint16 if weights.max(initial=0) < 2**16 else np.int32)


def _stable_order(keys: np.ndarray) -> np.ndarray:
    """``np.argsort(keys, kind="stable")``, in two radix passes of 16 bits for wider keys
    (numpy sorts 16-bit values by radix, wider ones by timsort: about 10 times slower)."""
    if keys.dtype == np.uint16:
        return np.argsort(keys, kind="stable")
    order = np.argsort((keys & 0xFFFF).astype(np.uint16), kind="stable")
    return order[np.argsort((keys[order] >> 16).astype(np.uint16), kind="stable")]


class HashIndex:
    """The hashes ``hashes`` (uint64), each labelled with a ``group`` (its video).

    ``radius``: the widest radius it will be asked for, when tighter than the 14 bits the
    default tables are sized for; fewer tables then find pairs that close just as surely
    (``tables_for``)."""

    def __init__(self, hashes: np.ndarray, groups: np.ndarray, radius: int | None = None) -> None:
        self.hashes = np.ascontiguousarray(hashes, dtype=np.uint64)
        self.groups = np.asarray(groups, dtype=np.int64)
        self.key_bits = key_bits(len(self.hashes))
        count = tables(self.key_bits) if radius is None else tables_for(self.key_bits, radius)
        self.table_count = count
        self._weights = _key_weights(self.key_bits)[:, :count]

    def __len__(self) -> int:
        return len(self.hashes)

    def pairs(self, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows i, rows j, distances) of the stored hashes at most ``radius`` bits apart whose
        groups differ, each pair once (i's group before j's), sorted by (i, j).

        Stored hashes must be in group order. Each table's bucket then holds its hashes by
        group, and every hash is paired only with the part of its bucket after its own group:
        the many close pairs inside one video (the frames of a shot) are never made."""
        found = [np.zeros(0, dtype=np.int64)]
        weights = self._weights
        for first in range(0, weights.shape[1], _BLOCK):
            keys = _keys(self.hashes, weights[:, first : first + _BLOCK])
            for table_keys in keys:
                found.append(self._later_pairs(table_keys, radius))
            found = [distinct(found)]  # a close pair is found by many tables: keep it once
        return self._decoded(found, self.hashes)

    def _later_pairs(self, keys: np.ndarray, radius: int) -> np.ndarray:
        # Only hashes sharing their bucket can pair: about a third of them (two buckets per
        # hash), so the sort and everything after it skip the rest. The test is read from one
        # byte per key, not from the 8-byte counts: at a million hashes 2 MB against 16 MB of
        # randomly read memory, half the time of this step.
        shared = np.flatnonzero((np.bincount(keys) > 1)[keys])
        order = shared[_stable_order(keys[shared])]  # by key, then by row: by key, then group
        keys, groups = keys[order], self.groups[order]
        new_key = np.r_[True, keys[1:] != keys[:-1]]
        new_run = new_key | np.r_[True, groups[1:] != groups[:-1]]
        # For each sorted position: where its (key, group) run ends and where its key's does.
        run_end = np.r_[np.flatnonzero(new_run)[1:], len(keys)][np.cumsum(new_run) - 1]
        key_end = np.r_[np.flatnonzero(new_key)[1:], len(keys)][np.cumsum(new_key) - 1]
        sizes = np.minimum(key_end - run_end, MAX_BUCKET)
        total = int(sizes.sum())
        if total == 0:
            return np.zeros(0, dtype=np.int64)
        left = np.repeat(np.arange(len(keys)), sizes)
        # The j-th partner of a position is at its run's end + j: one repeat of (end - where
        # its partners start in the flat list) plus a running count gives them all.
        right = np.repeat(run_end - (np.cumsum(sizes) - sizes), sizes) + np.arange(total)
        rows, stored = order[left], order[right]
        close = popcount64(self.hashes[rows] ^ self.hashes[stored]) <= radius
        return rows[close] * len(self) + stored[close]

    def _decoded(
        self, found: list[np.ndarray], queries: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        codes = distinct(found)  # query * size + row: sorted, each pair once
        size = max(len(self), 1)
        rows, stored = codes // size, codes % size
        return rows, stored, popcount64(queries[rows] ^ self.hashes[stored])

    def within(
        self, queries: np.ndarray, groups: np.ndarray, radius: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query rows, index rows, distances) of the stored hashes at most ``radius`` bits
        from each query hash, leaving out those of the query's own group; each pair once,
        ordered by query row then index row."""
        queries = np.ascontiguousarray(queries, dtype=np.uint64)
        groups = np.asarray(groups, dtype=np.int64)
        found = [np.zeros(0, dtype=np.int64)]
        weights = self._weights
        if len(self) and len(queries):
            for first in range(0, weights.shape[1], _BLOCK):
                block = weights[:, first : first + _BLOCK]
                buckets = self._buckets(block)
                for start in range(0, len(queries), _CHUNK):
                    part = slice(start, start + _CHUNK)
                    found += self._lookup(
                        buckets, block, queries[part], groups[part], start, radius
                    )
                found = [distinct(found)]
        return self._decoded(found, queries)

    def _buckets(self, weights: np.ndarray) -> list[tuple[np.ndarray, ...]]:
        """Per table: the stored rows sorted by key, where each key's rows start, and which
        keys have any (one byte each: a lookup's first read stays in cache)."""
        out = []
        for keys in _keys(self.hashes, weights):
            order = _stable_order(keys).astype(np.int32)
            counts = np.bincount(keys, minlength=1 << self.key_bits)
            starts = np.r_[0, np.cumsum(counts)].astype(np.int32)
            out.append((order, starts, counts > 0))
        return out

    def _lookup(
        self,
        buckets: list[tuple[np.ndarray, ...]],
        weights: np.ndarray,
        queries: np.ndarray,
        groups: np.ndarray,
        first: int,
        radius: int,
    ) -> list[np.ndarray]:
        out = []
        for key, (order, starts, occupied) in zip(_keys(queries, weights), buckets):
            hit = np.flatnonzero(occupied[key])  # most lookups find nothing: work on the others
            if len(hit) == 0:
                continue
            key = key[hit].astype(np.int32)
            begin = starts[key]
            sizes = np.minimum(starts[key + 1] - begin, MAX_BUCKET)
            total = int(sizes.sum())
            rows = np.repeat(hit, sizes)
            stored = order[np.repeat(begin - (np.cumsum(sizes) - sizes), sizes) + np.arange(total)]
            # The distance first: it leaves few candidates for the group test.
            close = popcount64(queries[rows] ^ self.hashes[stored]) <= radius
            rows, stored = rows[close], stored[close].astype(np.int64)
            keep = self.groups[stored] != groups[rows]
            out.append((rows[keep] + first) * len(self) + stored[keep])
        return out


def distinct(parts: list[np.ndarray]) -> np.ndarray:
    """The distinct values of ``parts`` (integer arrays), sorted: ``np.unique``'s answer by
    sorting. numpy 2.4's ``np.unique`` hashes integers instead: 48 s against 0.7 s for 14
    million int64 pair codes here."""
    values = np.concatenate(parts)
    values.sort()
    keep = np.empty(len(values), dtype=bool)
    keep[:1] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


@lru_cache(maxsize=1)
def _bits_in_uint16() -> np.ndarray:
    return np.unpackbits(np.arange(65536, dtype=">u2").view(np.uint8).reshape(-1, 2), axis=1).sum(
        axis=1, dtype=np.int64
    )


def popcount64(values: np.ndarray) -> np.ndarray:
    """Set bits of each uint64 (``np.bitwise_count`` where numpy has it (2.0 on), else a
    table of the bits of every 16-bit value: clipdex supports numpy 1.26)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(np.asarray(values, dtype=np.uint64)).astype(np.int64)
    quarters = np.ascontiguousarray(values, dtype=np.uint64).view(np.uint16).reshape(-1, 4)
    return _bits_in_uint16()[quarters].sum(axis=1)
