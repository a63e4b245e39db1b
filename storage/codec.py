"""Byte encodings of the vectors stored in the database.

Embeddings are float32 (recall must be exact against what FAISS holds); re-rank features are
float16, which halves the biggest column of the database. float16 keeps 11 significant bits, so
every value round-trips with a relative error of at most 2**-11 (about 4.9e-4) in the normal
range, and an absolute error of at most 2**-25 below it (values under 6.1e-5). Both are
little-endian on disk so a library can move between machines.
"""

from __future__ import annotations

import numpy as np

from storage.errors import StorageError

_F32 = np.dtype("<f4")
_F16 = np.dtype("<f2")
_F16_MAX = float(np.finfo(np.float16).max)


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


def encode_features(features: np.ndarray) -> bytes:
    """Encode a (tokens, dim) feature matrix as little-endian float16 bytes.

    Values beyond float16's range would silently become infinities and poison every re-rank
    score of the clip, so they are refused instead.
    """
    array = np.asarray(features, dtype=np.float32)
    if array.ndim != 2:
        raise ValueError(f"features must be 2-D (tokens, dim), got shape {array.shape}")
    if not np.all(np.isfinite(array)) or np.any(np.abs(array) > _F16_MAX):
        raise ValueError("features must be finite and within float16 range (|x| <= 65504)")
    return array.astype(_F16).tobytes()


def decode_features(data: bytes, tokens: int, dim: int) -> np.ndarray:
    """Decode float16 bytes into a writable (tokens, dim) float32 array."""
    return features_view(data, tokens, dim).astype(np.float32)


def features_view(data: bytes, tokens: int, dim: int) -> np.ndarray:
    """The stored (tokens, dim) float16 features, read-only, without copying: a re-rank stacks
    a hundred of them and converts the stack to float32 once."""
    if len(data) != tokens * dim * _F16.itemsize:
        raise StorageError(
            f"stored features have {len(data)} bytes, expected {tokens}x{dim} float16 values"
        )
    return np.frombuffer(data, dtype=_F16).reshape(tokens, dim)
