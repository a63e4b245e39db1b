"""The compact shortlist index that keeps text search fast on large libraries.

Why not IVF or HNSW: text queries sit far from the clip embeddings (X-CLIP text-video cosines
are about 0.2-0.3), and both structures lose recall on such queries: on 1M synthetic clips with
out-of-distribution queries, IVF1024 reached recall@10 0.85 at nprobe 64 and 0.94 at nprobe 256
(a quarter of the data scanned). A flat scan that never skips a clip does not have this problem;
it is only slow because it reads 2 KB per clip. So the shortlist scans *every* clip, but in a
4-bit product-quantised copy (one 4-bit code per 2 dimensions: ``dim / 4`` bytes per clip, 128 B
at 512-d, read with FAISS's SIMD "fast scan"), and the exact float32 vectors re-score its top
``k * REFINE_FACTOR`` candidates (3,200 at search's usual 100).

Why 2 dimensions per code: the re-rank and its stopping estimate assume the candidates are the
exact top of the recall, and a coarser code loses some of it where the embeddings do not cluster.
On 1M random isotropic 512-d vectors (benchmarks/shortlist_codes.py, 40 queries one at a time on
one thread), the 100 candidates held on average of the exact top 10 / top 100: 8 dimensions per
code (32 B per clip) 5.3 / 36.4, p50 3.2 ms; 4 (64 B) 9.2 / 77.8, 6.7 ms; 2 (128 B) 10 / 99.5,
8.1 ms; the exact scan took 72 ms. Clustered embeddings (benchmarks/query.py) lost nothing even at
8 dimensions per code.

The shortlist is addressed by position, which matches the exact index's storage order: clips
are appended in the same order to both, and both compact in order on removal, so the exact
vectors and clip ids of a shortlisted position are read straight from the exact index.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import faiss

logger = logging.getLogger(__name__)

# Below this many clips an exact scan answers in a few milliseconds (about 0.13 ms per 1,000
# clips unloaded at 512-d, see benchmarks/query.py): the shortlist would only cost accuracy.
SHORTLIST_MIN_CLIPS = 100_000
# Drop the shortlist again only well below the threshold, so a library hovering around it does
# not retrain on every run.
SHORTLIST_DROP_CLIPS = SHORTLIST_MIN_CLIPS // 2
# Exact re-scoring of k * REFINE_FACTOR candidates (k is search's depth, 50 or more).
REFINE_FACTOR = 32
TRAIN_SAMPLE = 65_536
BITS = 4


def wanted(n: int, have: bool) -> bool:
    """Whether a library of ``n`` clips should use a shortlist (hysteresis on ``have``)."""
    return n >= (SHORTLIST_DROP_CLIPS if have else SHORTLIST_MIN_CLIPS)


SUBVECTOR_DIMS = 2


def subquantizers(dim: int, subvector_dims: int = SUBVECTOR_DIMS) -> int:
    """PQ sub-vectors of ``subvector_dims`` dimensions each (by default half a byte per 2
    floats: 16x smaller than float32)."""
    m = max(1, dim // subvector_dims)
    while dim % m:
        m -= 1
    return m


def current(index: faiss.Index) -> bool:
    """Whether a (saved) shortlist is coded as ``build`` codes one now: a shortlist saved by an
    older clipdex with coarser codes is rebuilt (it is a cache: the exact vectors are beside it)."""
    import faiss

    coded = faiss.downcast_index(index)
    if not isinstance(coded, faiss.IndexPQFastScan):
        return False
    subvectors = coded.M
    return subvectors == subquantizers(index.d) and coded.nbits == BITS


def build(vectors: np.ndarray, seed: int = 0, subvector_dims: int = SUBVECTOR_DIMS) -> faiss.Index:
    """Train a PQ fast-scan index on a sample of ``vectors`` and add all of them, in order
    (``subvector_dims`` other than the default only to measure: see ``current``)."""
    import faiss  # here: a cold search asks ``wanted`` and never imports FAISS (flat_index)

    dim = vectors.shape[1]
    rng = np.random.default_rng(seed)
    sample = vectors
    if len(vectors) > TRAIN_SAMPLE:
        sample = vectors[np.sort(rng.choice(len(vectors), TRAIN_SAMPLE, replace=False))]
    m = subquantizers(dim, subvector_dims)
    base = faiss.IndexPQFastScan(dim, m, BITS, faiss.METRIC_INNER_PRODUCT)
    base.train(np.ascontiguousarray(sample, dtype=np.float32))
    base.add(np.ascontiguousarray(vectors, dtype=np.float32))
    logger.info("built the search shortlist over %d clips", len(vectors))
    return base
