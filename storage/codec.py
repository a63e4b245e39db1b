"""The byte encoding of the clip embeddings stored in the database.

Embeddings are float32, little-endian (recall must be exact against what FAISS holds, and a
library can move between machines). Re-rank features have their own, lossy encoding:
``storage.feature_codec``.
"""

from __future__ import annotations

import numpy as np

from storage.errors import StorageError

_F32 = np.dtype("<f4")


def encode_embedding(vector: np.ndarray) -> bytes:
    """Encode a 1-D embedding as little-endian float32 bytes."""
    array = np.asarray(vector)
    if array.ndim != 1:
        raise ValueError(f"an embedding must be 1-D, got shape {array.shape}")
    return array.astype(_F32, copy=False).tobytes()


def decode_embedding(data: bytes, dim: int) -> np.ndarray:
    """Decode float32 bytes into a writable (dim,) float32 array."""
    if len(data) != dim * _F32.itemsize:
        raise StorageError(f"stored embedding has {len(data)} bytes, expected {dim} float32 values")
    return np.frombuffer(data, dtype=_F32).astype(np.float32)
