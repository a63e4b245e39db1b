"""The saved exact index read and searched without FAISS, for a cold ``clipdex search``.

Importing FAISS costs a cold search more CPU (its SWIG module defines thousands of classes)
than reading and scanning the exact index of a library below the shortlist's size takes
(benchmarks/cold_search.py). ``FlatIndex.read`` parses ``index.faiss`` as
``storage.vectors.VectorIndex.save`` writes it when it holds the exact index alone: an
``IndexIDMap2`` over an ``IndexFlatIP``, laid out as ``faiss.serialize_index`` does (each
index's fourcc and header, then the vectors and the ids, each after its count), checked field
by field. Anything else (a shortlist, another layout or FAISS format) reads as None, and
``storage.sqlite_reader`` loads the file with FAISS instead.

Searches return what ``VectorIndex.search`` returns for the same index, with the inner products
summed by numpy rather than FAISS's kernels: the scores agree to float rounding (up to 7e-7;
tests/storage/test_flat_index.py).
"""

from __future__ import annotations

import struct
from functools import cached_property
from pathlib import Path

import numpy as np

from storage.index_file import parse_index_file

# fourcc, d, ntotal, two unused int64 fields, is_trained, metric type (faiss's index header).
_INDEX_HEADER = struct.Struct("<4siqqqBi")
_COUNT = struct.Struct("<Q")
_ID_MAP_2 = b"IxM2"
_FLAT_IP = b"IxFI"
_METRIC_INNER_PRODUCT = 0
# What FAISS gives an empty slot (fewer clips than asked for): id -1, score -FLT_MAX.
_NO_SCORE = np.finfo(np.float32).min


class FlatIndex:
    """Clip embeddings and their clip ids, searched exactly by inner product (read-only)."""

    def __init__(self, dim: int, generation: int, vectors: np.ndarray, ids: np.ndarray) -> None:
        self.dim = dim
        self.generation = generation
        self._vectors = vectors
        self._ids = ids

    @classmethod
    def read(cls, path: Path) -> FlatIndex | None:
        """The exact index saved in ``path``, or None when it is not an exact index alone.
        Raises OSError, and CorruptIndexError for a damaged file, as ``VectorIndex.load``."""
        data = Path(path).read_bytes()
        dim, generation, payload, extra = parse_index_file(data, path)
        found = None if extra else _exact_index(payload, dim)
        if found is None:
            return None
        return cls(dim, generation, *found)

    def __len__(self) -> int:
        return len(self._ids)

    def ids(self) -> np.ndarray:
        """All clip ids held, in storage order."""
        return self._ids.astype(np.int64)

    def embeddings(self, ids: np.ndarray | list[int]) -> dict[int, np.ndarray]:
        """The stored vector, (dim,) float32, of each of ``ids`` the index holds (ids it lacks
        are left out), as ``VectorIndex.embeddings``: the saved float32 values, bit-identical
        to the stored embeddings they were added from."""
        wanted = np.asarray(ids, dtype=np.int64).reshape(-1)
        if len(wanted) == 0 or len(self._ids) == 0:
            return {}
        keys, order = self._sorted_ids
        at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
        held = keys[at] == wanted
        positions = at[held] if order is None else order[at[held]]
        return dict(zip(wanted[held].tolist(), self._vectors[positions]))

    @cached_property
    def _sorted_ids(self) -> tuple[np.ndarray, np.ndarray | None]:
        """The ids ascending and the positions that sort them, None when they are stored
        ascending already (as a rebuild and catch-ups add them: clip ids only grow); computed
        once, since this index never changes."""
        ids = self._ids
        if bool(np.all(ids[1:] > ids[:-1])):
            return ids, None
        order = np.argsort(ids, kind="stable")
        return ids[order], order

    def search(
        self, queries: np.ndarray, k: int, among: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best clips per query, as ``VectorIndex.search``: scores (q, k) float32 and
        ids (q, k) int64, empty slots id -1; ``among`` restricts the search to those clip ids."""
        matrix = np.ascontiguousarray(np.asarray(queries, dtype=np.float32))
        if matrix.ndim == 1:
            matrix = matrix.reshape(1, -1)
        if matrix.ndim != 2 or matrix.shape[1] != self.dim:
            raise ValueError(f"expected vectors of shape (n, {self.dim}), got {np.shape(queries)}")
        if k <= 0:
            raise ValueError(f"k must be positive, got {k}")
        positions = np.arange(len(self._ids))
        if among is not None:
            positions = np.flatnonzero(np.isin(self._ids, np.asarray(among, dtype=np.int64)))
        scores = np.full((len(matrix), k), _NO_SCORE, dtype=np.float32)
        ids = np.full((len(matrix), k), -1, dtype=np.int64)
        if len(positions) == 0:
            return scores, ids
        found = (
            self._vectors[positions] @ matrix.T if among is not None else self._vectors @ matrix.T
        )
        for row in range(len(matrix)):
            column = found[:, row]
            best = _top(column, k)
            scores[row, : len(best)] = column[best]
            ids[row, : len(best)] = self._ids[positions[best]]
        return scores, ids


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` highest ``scores``, best first (ties in storage order)."""
    if k < len(scores):
        part = np.argpartition(-scores, k - 1)[:k]
        return part[np.lexsort((part, -scores[part]))]
    return np.argsort(-scores, kind="stable")


def _exact_index(payload: bytes, dim: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(vectors (n, dim) float32, ids (n,) int64), read-only views of ``payload``, when it is
    a serialised ``IndexIDMap2(IndexFlatIP(dim))``; else None."""
    if len(payload) < 2 * _INDEX_HEADER.size + _COUNT.size:
        return None
    outer = _INDEX_HEADER.unpack_from(payload, 0)
    inner = _INDEX_HEADER.unpack_from(payload, _INDEX_HEADER.size)
    if outer[0] != _ID_MAP_2 or inner[0] != _FLAT_IP:
        return None
    n = outer[2]
    for _, d, ntotal, _, _, trained, metric in (outer, inner):
        if d != dim or ntotal != n or not trained or metric != _METRIC_INNER_PRODUCT:
            return None
    offset = 2 * _INDEX_HEADER.size
    (floats,) = _COUNT.unpack_from(payload, offset)
    start = offset + _COUNT.size
    end = start + 4 * n * dim
    if floats != n * dim or len(payload) != end + _COUNT.size + 8 * n:
        return None
    (count,) = _COUNT.unpack_from(payload, end)
    if count != n:
        return None
    vectors = np.frombuffer(payload, dtype="<f4", count=n * dim, offset=start).reshape(n, dim)
    ids = np.frombuffer(payload, dtype="<i8", count=n, offset=end + _COUNT.size)
    return vectors, ids
