"""The byte encodings of a clip's re-rank features: float16, or int8 per token.

A clip's features are a (tokens, dim) float32 matrix (49 x 512 for patch32 at 224 px). Stored
bytes start with one byte naming the encoding, so a reader needs no other record to decode them:
- ``float16`` (tag 1): the values as little-endian float16, 50,177 bytes for 49 x 512. Each
  value keeps 11 significant bits (relative error at most 2**-11).
- ``int8`` (tag 2): each token (row) scaled symmetrically by its own largest magnitude,
  ``scale = max|x| / 127`` and ``q = round(x / scale)`` in [-127, 127], so every value is within
  half a step (``scale / 2``) of its own token; the ``tokens`` scales (little-endian float32)
  then the int8 values, row-major: 25,285 bytes for 49 x 512. A float32 scale keeps tiny and
  huge tokens in range; a token of zeros has scale 0 and decodes to zeros.

int8 halves the bytes but costs the re-rank far more than float16 with random weights, whose
prompt generator is chaotic (``benchmarks/feature_codec.py``; docs/library.md quotes it), so a
library uses float16 unless it was made with int8 (``LibrarySettings.feature_encoding``).

This module imports only numpy (and the storage errors), so a read path that talks to SQLite
without SQLAlchemy can decode what the repository stored.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from storage.errors import StorageError

FLOAT16 = "float16"
INT8 = "int8"
ENCODINGS = (FLOAT16, INT8)
LEVELS = 127
_TAGS = {FLOAT16: 1, INT8: 2}
_NAMES = {tag: name for name, tag in _TAGS.items()}
_F16 = np.dtype("<f2")
_F16_MAX = float(np.finfo(np.float16).max)
_SCALE = np.dtype("<f4")


def encoded_size(tokens: int, dim: int, encoding: str) -> int:
    """Bytes of one clip's features in ``encoding``, tag included."""
    if encoding == FLOAT16:
        return 1 + tokens * dim * _F16.itemsize
    if encoding == INT8:
        return 1 + tokens * _SCALE.itemsize + tokens * dim
    raise ValueError(f"unknown feature encoding {encoding!r}: expected one of {ENCODINGS}")


def encode(features: np.ndarray, encoding: str) -> bytes:
    """Encode a (tokens, dim) matrix. Non-finite values (or, for float16, values beyond its
    range) would poison every re-rank score of the clip, so they are refused."""
    array = np.asarray(features, dtype=np.float32)
    if array.ndim != 2:
        raise ValueError(f"features must be 2-D (tokens, dim), got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError("features must be finite")
    tag = bytes([_TAGS[encoding]]) if encoding in _TAGS else None
    if tag is None:
        raise ValueError(f"unknown feature encoding {encoding!r}: expected one of {ENCODINGS}")
    if encoding == FLOAT16:
        if np.any(np.abs(array) > _F16_MAX):
            raise ValueError("features must be within float16 range (|x| <= 65504)")
        return tag + array.astype(_F16).tobytes()
    peak = np.max(np.abs(array), axis=1) if array.size else np.zeros(len(array), np.float32)
    scales = (peak / LEVELS).astype(_SCALE)
    safe = np.where(scales > 0, scales, 1).astype(np.float32)
    values = np.clip(np.rint(array / safe[:, None]), -LEVELS, LEVELS).astype(np.int8)
    return tag + scales.tobytes() + values.tobytes()


def encoding_of(data: bytes) -> str:
    """The encoding stored bytes are in."""
    name = _NAMES.get(data[0]) if data else None
    if name is None:
        raise StorageError("stored features do not start with a known encoding tag")
    return name


def checked_encoding(data: bytes, tokens: int, dim: int) -> str:
    """The encoding of one clip's stored bytes, checked against their length (StorageError)."""
    encoding = encoding_of(data)
    size = encoded_size(tokens, dim, encoding)
    if len(data) != size:
        raise StorageError(
            f"stored {encoding} features have {len(data)} bytes, expected {size} "
            f"for {tokens}x{dim} values"
        )
    return encoding


def decode(data: bytes, tokens: int, dim: int) -> np.ndarray:
    """Decode one clip's bytes into a writable (tokens, dim) float32 array."""
    return decode_many([data], tokens, dim)[0]


def view(data: bytes, tokens: int, dim: int) -> np.ndarray:
    """One clip's features for a re-rank, (tokens, dim), read-only: float16 bytes as stored,
    without copying (a re-rank stacks a hundred and converts the stack to float32 once); int8
    decoded to float32."""
    encoding = checked_encoding(data, tokens, dim)
    if encoding == FLOAT16:
        return np.frombuffer(data, dtype=_F16, offset=1).reshape(tokens, dim)
    # decode_many's arithmetic, read straight from the bytes: 3.6 ms for a re-rank's 100
    # full-size clips, against 15.5 through decode_many's general path one clip at a time.
    scales = np.frombuffer(data, dtype=_SCALE, count=tokens, offset=1)
    values = np.frombuffer(data, dtype=np.int8, offset=1 + tokens * _SCALE.itemsize)
    decoded = values.reshape(tokens, dim) * scales[:, None]
    decoded.flags.writeable = False
    return decoded


def decode_many(blobs: Sequence[bytes], tokens: int, dim: int) -> np.ndarray:
    """Decode several clips into a writable (len(blobs), tokens, dim) float32 array, each
    encoding in one vectorised pass: a re-rank decodes its hundred candidates at once."""
    out = np.empty((len(blobs), tokens, dim), dtype=np.float32)
    groups: dict[str, list[int]] = {}
    for i, data in enumerate(blobs):
        groups.setdefault(checked_encoding(data, tokens, dim), []).append(i)
    for encoding, rows in groups.items():
        size = encoded_size(tokens, dim, encoding)
        raw = np.frombuffer(b"".join(blobs[i] for i in rows), dtype=np.uint8)
        raw = raw.reshape(len(rows), size)[:, 1:]
        if encoding == FLOAT16:
            out[rows] = raw.copy().view(_F16).reshape(len(rows), tokens, dim)
            continue
        head = tokens * _SCALE.itemsize
        scales = raw[:, :head].copy().view(_SCALE).astype(np.float32)
        values = raw[:, head:].view(np.int8).reshape(len(rows), tokens, dim)
        out[rows] = values * scales[:, :, None]
    return out
