"""Byte encodings of embeddings (float32, exact) and re-rank features (float16, bounded)."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from storage.codec import decode_embedding, decode_features, encode_embedding, encode_features
from storage.errors import StorageError

# float16 has an 11-bit significand: round-to-nearest is within half a unit in the last place,
# a relative 2**-11 for normal values; below the smallest normal (2**-14) the spacing is
# 2**-24, so the absolute error is at most 2**-25.
F16_RELATIVE_BOUND = 2.0**-11
F16_ABSOLUTE_BOUND = 2.0**-25


def test_embedding_round_trip_is_exact_and_little_endian() -> None:
    vector = np.random.default_rng(0).standard_normal(512).astype(np.float32)
    data = encode_embedding(vector)
    assert len(data) == 512 * 4
    assert data[:4] == struct.pack("<f", vector[0])
    decoded = decode_embedding(data, 512)
    np.testing.assert_array_equal(decoded, vector)
    decoded[0] = 1.0  # writable, not a view on the bytes


def test_features_round_trip_error_is_within_float16_bound() -> None:
    rng = np.random.default_rng(0)
    features = rng.standard_normal((49, 512)) * rng.choice([1e-6, 1e-3, 1.0, 300.0], (49, 1))
    features = features.astype(np.float32)
    data = encode_features(features)
    assert len(data) == 49 * 512 * 2
    decoded = decode_features(data, 49, 512)
    assert decoded.dtype == np.float32 and decoded.shape == (49, 512)
    error = np.abs(decoded - features)
    bound = np.maximum(np.abs(features) * F16_RELATIVE_BOUND, F16_ABSOLUTE_BOUND)
    assert np.all(error <= bound)
    worst_relative = float(np.max(error / np.maximum(np.abs(features), 2.0**-14)))
    assert worst_relative <= F16_RELATIVE_BOUND


def test_float16_features_barely_move_a_cosine() -> None:
    """A re-rank score (cosine of unit vectors) moves by at most about 2**-11."""
    rng = np.random.default_rng(1)
    tokens = rng.standard_normal((49, 512)).astype(np.float32)
    tokens /= np.linalg.norm(tokens, axis=1, keepdims=True)
    query = rng.standard_normal(512).astype(np.float32)
    query /= np.linalg.norm(query)
    decoded = decode_features(encode_features(tokens), 49, 512)
    assert float(np.max(np.abs(decoded @ query - tokens @ query))) <= F16_RELATIVE_BOUND


@pytest.mark.parametrize("bad", [np.inf, np.nan, 70000.0])
def test_features_outside_float16_are_refused(bad: float) -> None:
    features = np.zeros((2, 4), dtype=np.float32)
    features[1, 2] = bad
    with pytest.raises(ValueError, match="float16"):
        encode_features(features)


def test_wrong_sizes_are_errors() -> None:
    with pytest.raises(StorageError):
        decode_embedding(b"\x00" * 12, 4)
    with pytest.raises(StorageError):
        decode_features(b"\x00" * 10, 2, 4)
    with pytest.raises(ValueError):
        encode_embedding(np.zeros((2, 2)))
