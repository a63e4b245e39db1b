"""The byte encoding of embeddings: float32, exact, little-endian."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from storage.codec import decode_embedding, encode_embedding
from storage.errors import StorageError


def test_embedding_round_trip_is_exact_and_little_endian() -> None:
    vector = np.random.default_rng(0).standard_normal(512).astype(np.float32)
    data = encode_embedding(vector)
    assert len(data) == 512 * 4
    assert data[:4] == struct.pack("<f", vector[0])
    decoded = decode_embedding(data, 512)
    np.testing.assert_array_equal(decoded, vector)
    decoded[0] = 1.0  # writable, not a view on the bytes


def test_wrong_sizes_are_errors() -> None:
    with pytest.raises(StorageError):
        decode_embedding(b"\x00" * 12, 4)
    with pytest.raises(ValueError):
        encode_embedding(np.zeros((2, 2)))
