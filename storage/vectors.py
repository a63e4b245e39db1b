"""The FAISS index of clip embeddings: a cache of the database, saved atomically.

The file holds a small header (magic, format version, dim, generation, payload length, CRC32)
followed by ``faiss.serialize_index`` bytes (``storage.index_file``). Keeping the generation
inside the same file, and replacing the file with one ``os.replace``, means the vectors and the
generation they reflect can never disagree, whatever crashes in between.
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import faiss
import numpy as np

from storage import shortlist as shortlists
from storage.atomic_file import replace_atomically
from storage.errors import CorruptIndexError
from storage.index_file import FORMAT_VERSION, HEADER, MAGIC, parse_index_file

logger = logging.getLogger(__name__)


def make_index(dim: int, n: int) -> faiss.Index:
    """The exact FAISS index for ``n`` vectors of size ``dim``.

    Every library keeps an exact inner-product index (cosine on L2-normalised vectors): it is
    the truth the scores come from, and range search (duplicates) needs it. IDMap2 keeps clip
    ids as FAISS ids and supports removal and reconstruction. From
    ``shortlist.SHORTLIST_MIN_CLIPS`` clips on, ``VectorIndex`` adds a compact shortlist in front
    of it for top-k search (see storage/shortlist.py for the choice and its measurements).
    """
    del n  # the exact index is the same at every size; the shortlist depends on n
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))


def index_kind(n: int) -> str:
    """What top-k search uses for ``n`` clips: "flat" (exact scan) or "pq-shortlist"."""
    return "pq-shortlist" if shortlists.wanted(n, have=False) else "flat"


@contextmanager
def _single_thread_for(queries: int) -> Iterator[None]:
    """Search one query on one thread: FAISS's OpenMP pool gains nothing on a single query,
    and waking it next to torch's own OpenMP pool (a separate runtime) made a 10k-clip flat
    search take 23 ms instead of 2-4 ms in the query benchmark (both pools spin-wait)."""
    if queries > 1:
        yield
        return
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)


def _as_ids(ids: np.ndarray | list[int]) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(ids, dtype=np.int64).reshape(-1))


def _as_matrix(vectors: np.ndarray, dim: int) -> np.ndarray:
    matrix = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if matrix.ndim == 1:
        matrix = matrix.reshape(1, -1)
    if matrix.ndim != 2 or matrix.shape[1] != dim:
        raise ValueError(f"expected vectors of shape (n, {dim}), got {np.shape(vectors)}")
    return matrix


class VectorIndex:
    """Clip embeddings searchable by inner product; FAISS ids are clip ids.

    Calls are serialised by a lock because a server may search from several threads while
    another brings the index up to date, and FAISS does not allow mutation during a search.
    """

    def __init__(
        self,
        dim: int,
        generation: int = 0,
        index: faiss.Index | None = None,
        shortlist: faiss.Index | None = None,
    ) -> None:
        self.dim = dim
        self.generation = generation
        self._index = index if index is not None else make_index(dim, 0)
        self._shortlist = shortlist
        self._lock = threading.RLock()

    @property
    def kind(self) -> str:
        """ "pq-shortlist" when a shortlist answers top-k searches, else "flat"."""
        return "pq-shortlist" if self._shortlist is not None else "flat"

    def fit_size(self) -> bool:
        """Build or drop the shortlist to suit the current size; True if anything changed.

        Called after every catch-up, so the index is re-planned as the library grows (build
        at ``SHORTLIST_MIN_CLIPS``) or shrinks (drop below ``SHORTLIST_DROP_CLIPS``), and a
        shortlist saved with coarser codes than ``shortlist.build`` makes now is rebuilt.
        """
        with self._lock:
            n = len(self)
            have = self._shortlist is not None
            want = shortlists.wanted(n, have)
            if want == have and self._shortlist_current():
                return False
            if not want:
                self._shortlist = None
                return True
            self._shortlist = shortlists.build(self._stored_vectors())
            return True

    def fits_size(self) -> bool:
        """Whether ``fit_size`` would leave the index as it is (a reader that must not change
        it, ``storage.sqlite_reader``, asks first)."""
        with self._lock:
            have = self._shortlist is not None
            return shortlists.wanted(len(self), have) == have and self._shortlist_current()

    def _shortlist_current(self) -> bool:
        """True without a shortlist, or with one coded as ``shortlist.build`` codes one now."""
        return self._shortlist is None or shortlists.current(self._shortlist)

    def _stored_vectors(self) -> np.ndarray:
        """The exact index's float32 matrix, in storage order (a view, no copy)."""
        n = len(self)
        flat = faiss.downcast_index(self._index.index)
        return faiss.rev_swig_ptr(flat.get_xb(), n * self.dim).reshape(n, self.dim)

    def _stored_ids(self) -> np.ndarray:
        """Clip ids in storage order (a view, no copy)."""
        return faiss.rev_swig_ptr(self._index.id_map.data(), len(self)).view(np.int64)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def ids(self) -> np.ndarray:
        """All clip ids held, in storage order."""
        with self._lock:
            return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def embeddings(self, ids: np.ndarray | list[int]) -> dict[int, np.ndarray]:
        """The stored vector, (dim,) float32, of each of ``ids`` the index holds; ids it lacks
        (not caught up yet, or removed) are left out.

        The exact index keeps the float32 vectors exactly as added, and they are added from the
        stored embeddings (``repository.clip_vectors_between``): each is bit-identical to
        ``codec.decode_embedding`` of its clip's stored embedding. A shortlist changes nothing
        here: it sits beside the exact index. One FAISS call (``reconstruct_batch``, through the
        id map's hash table) answers them all: 0.02 ms for 100 ids and 0.28 ms for 2,000 at 100k
        clips, idle, plus making the dict (benchmarks/index_embeddings.py), where reading
        ``clips.embedding`` from the database cost milliseconds cold (issue 16).
        """
        id_array = _as_ids(ids)
        if len(id_array) == 0:
            return {}
        with self._lock:
            try:
                matrix = self._index.reconstruct_batch(id_array)
            except RuntimeError:  # FAISS's "key not found": some id is not held
                return self._held_embeddings(id_array)
        return dict(zip(id_array.tolist(), matrix))

    def _held_embeddings(self, id_array: np.ndarray) -> dict[int, np.ndarray]:
        """``embeddings`` one id at a time, leaving out those the index lacks (rare: a stale
        index, so the slower path)."""
        found: dict[int, np.ndarray] = {}
        for clip_id in id_array.tolist():
            try:
                found[clip_id] = self._index.reconstruct(clip_id)
            except RuntimeError:
                continue
        return found

    def add(self, ids: np.ndarray | list[int], vectors: np.ndarray) -> None:
        """Add vectors under the given clip ids; an id already present has its vector replaced.

        Replacing instead of duplicating keeps one entry per clip even if a catch-up were
        replayed, so a search never returns the same clip twice.
        """
        id_array = _as_ids(ids)
        matrix = _as_matrix(vectors, self.dim)
        if len(id_array) != len(matrix):
            raise ValueError(f"{len(id_array)} ids for {len(matrix)} vectors")
        if len(id_array) == 0:
            return
        with self._lock:
            if self._index.ntotal:
                self._remove(id_array)
            self._index.add_with_ids(matrix, id_array)
            if self._shortlist is not None:
                self._shortlist.add(matrix)

    def _remove(self, id_array: np.ndarray) -> int:
        if self._shortlist is not None:
            # The shortlist is addressed by position; both compact in order on removal.
            positions = np.flatnonzero(np.isin(self._stored_ids(), id_array))
            self._shortlist.remove_ids(faiss.IDSelectorBatch(positions.astype(np.int64)))
        return int(self._index.remove_ids(faiss.IDSelectorBatch(id_array)))

    def remove(self, ids: np.ndarray | list[int]) -> int:
        """Remove clip ids (absent ids are ignored); returns how many were removed."""
        id_array = _as_ids(ids)
        if len(id_array) == 0:
            return 0
        with self._lock:
            if not self._index.ntotal:
                return 0
            return self._remove(id_array)

    def search(
        self, queries: np.ndarray, k: int, among: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best clips per query: scores (q, k) float32 and ids (q, k) int64.

        Scores are inner products (cosines for unit queries). Missing slots, when fewer than
        ``k`` clips exist, have id -1. ``among`` restricts the search to those clip ids (ids
        not held are ignored): the exact index is scanned with a FAISS id selector, so the
        result is the exact top ``k`` of that subset whatever its size, never a filtered
        top ``k`` of everything.
        """
        matrix = _as_matrix(queries, self.dim)
        if k <= 0:
            raise ValueError(f"k must be positive, got {k}")
        with self._lock, _single_thread_for(len(matrix)):
            if among is not None:
                return self._search_among(matrix, k, _as_ids(among))
            if self._shortlist is not None and len(self) > k * shortlists.REFINE_FACTOR:
                return self._refined_search(matrix, k)
            scores, ids = self._index.search(matrix, k)
        return scores.astype(np.float32, copy=False), ids.astype(np.int64, copy=False)

    def _search_among(
        self, matrix: np.ndarray, k: int, ids: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact search of the clips ``ids`` only. The shortlist is bypassed: it is addressed
        by position, and a selective filter would leave few of its candidates anyway."""
        if len(ids) == 0:
            empty = np.full((len(matrix), k), -1, dtype=np.int64)
            return np.full((len(matrix), k), -np.inf, dtype=np.float32), empty
        selector = faiss.IDSelectorBatch(ids)  # referenced until the search returns
        params = faiss.SearchParameters(sel=selector)
        scores, found = self._index.search(matrix, k, params=params)
        return scores.astype(np.float32, copy=False), found.astype(np.int64, copy=False)

    def _refined_search(self, matrix: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Shortlist ``k * REFINE_FACTOR`` candidates, then score them exactly."""
        _, candidates = self._shortlist.search(matrix, k * shortlists.REFINE_FACTOR)
        stored = faiss.downcast_index(self._index.index).get_xb()
        stored_ids = self._stored_ids()
        scores = np.full((len(matrix), k), -np.inf, dtype=np.float32)
        ids = np.full((len(matrix), k), -1, dtype=np.int64)
        for row, (query, found) in enumerate(zip(matrix, candidates)):
            found = np.ascontiguousarray(found[found >= 0], dtype=np.int64)
            query = np.ascontiguousarray(query, dtype=np.float32)
            # FAISS's own SIMD loop over the candidates' rows where they lie, on this thread:
            # 1.6 ms for 3,200 full-size candidates at 100k clips, against 3.9 ms for numpy
            # gathering them (2.1 ms) then einsum's product. Not BLAS: OpenBLAS's threads spin
            # for a while after a call, holding the core the re-rank then needs.
            exact = np.empty(len(found), dtype=np.float32)
            faiss.fvec_inner_products_by_idx(
                faiss.swig_ptr(exact),
                faiss.swig_ptr(query),
                stored,
                faiss.swig_ptr(found),
                self.dim,
                1,
                len(found),
            )
            best = np.argsort(-exact, kind="stable")[:k]
            scores[row, : len(best)] = exact[best]
            ids[row, : len(best)] = stored_ids[found[best]]
        return scores, ids

    def range_search(
        self, queries: np.ndarray, min_score: float
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Every clip scoring at least ``min_score`` per query, as (scores, ids) best first.

        This is what duplicate detection needs: all near matches, not a fixed top-k.
        """
        matrix = _as_matrix(queries, self.dim)
        with self._lock:
            lims, scores, ids = self._index.range_search(matrix, float(min_score))
        results = []
        for q in range(len(matrix)):
            s, i = scores[lims[q] : lims[q + 1]], ids[lims[q] : lims[q + 1]]
            order = np.argsort(-s, kind="stable")
            results.append((s[order].astype(np.float32), i[order].astype(np.int64)))
        return results

    def save(self, path: Path) -> None:
        """Write the index and its generation to ``path`` atomically.

        A temporary file in the same folder is written, locked while it is written, fsynced,
        then renamed over the old file and the folder fsynced (``storage/atomic_file.py``), so
        readers see the old file or the new one, whole.
        """
        path = Path(path)
        with self._lock:
            payload = faiss.serialize_index(self._index).tobytes()
            extra = b""
            if self._shortlist is not None:
                extra = faiss.serialize_index(self._shortlist).tobytes()
            payload += extra
            header = HEADER.pack(
                MAGIC,
                FORMAT_VERSION,
                self.dim,
                self.generation,
                len(payload),
                zlib.crc32(payload),
                len(extra),
            )
        replace_atomically(path, (header, payload))
        logger.debug("saved %d vectors at generation %d to %s", len(self), self.generation, path)

    @classmethod
    def load(cls, path: Path) -> VectorIndex:
        """Read an index written by ``save``.

        Raises FileNotFoundError when there is no file and CorruptIndexError when the file is
        truncated, damaged or of another format; the library rebuilds in both cases.
        """
        data = Path(path).read_bytes()
        dim, generation, payload, extra = parse_index_file(data, path)
        try:
            index = faiss.deserialize_index(np.frombuffer(payload, dtype=np.uint8))
            shortlist = None
            if extra:
                shortlist = faiss.deserialize_index(np.frombuffer(extra, dtype=np.uint8))
        except RuntimeError as exc:
            raise CorruptIndexError(f"{path}: FAISS cannot read the index ({exc})") from exc
        if index.d != dim or not hasattr(index, "id_map"):
            raise CorruptIndexError(f"{path}: index does not match its header")
        if shortlist is not None and (shortlist.d != dim or shortlist.ntotal != index.ntotal):
            raise CorruptIndexError(f"{path}: shortlist does not match the index")
        return cls(dim, generation, index, shortlist)
