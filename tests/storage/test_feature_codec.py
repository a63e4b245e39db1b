"""The encodings of re-rank features: float16 (11 significant bits), and int8 per token with a
float32 scale (error bounded by half a step of each token's own scale), each behind a tag."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from storage import feature_codec
from storage.errors import StorageError
from storage.feature_codec import FLOAT16, INT8
from tests.support.processes import run_python


def _features(rng: np.random.Generator, tokens: int = 49, dim: int = 512) -> np.ndarray:
    """Tokens of very different magnitudes, one of them all zeros."""
    scale = rng.choice([1e-30, 1e-6, 1e-3, 1.0, 300.0, 1e30], (tokens, 1))
    features = (rng.standard_normal((tokens, dim)) * scale).astype(np.float32)
    features[3] = 0.0
    return features


def test_int8_layout_is_tag_scales_then_values() -> None:
    features = _features(np.random.default_rng(0))
    data = feature_codec.encode(features, INT8)
    assert len(data) == feature_codec.encoded_size(49, 512, INT8) == 1 + 49 * 4 + 49 * 512
    assert data[0] == 2 and feature_codec.encoding_of(data) == INT8
    peak = float(np.abs(features[0]).max())
    assert struct.unpack("<f", data[1:5])[0] == pytest.approx(peak / 127, rel=1e-6)
    values = np.frombuffer(data[1 + 49 * 4 :], dtype=np.int8).reshape(49, 512)
    assert np.abs(values).max() == 127 and values.min() >= -127


def test_float16_is_tag_then_little_endian_values_within_float16_rounding() -> None:
    rng = np.random.default_rng(5)
    features = (rng.standard_normal((49, 512)) * rng.choice([1e-3, 1.0, 300.0], (49, 1))).astype(
        np.float32
    )
    data = feature_codec.encode(features, FLOAT16)
    assert len(data) == feature_codec.encoded_size(49, 512, FLOAT16) == 1 + 49 * 512 * 2
    assert data[0] == 1 and data[1:3] == np.float16(features[0, 0]).astype("<f2").tobytes()
    decoded = feature_codec.decode(data, 49, 512)
    np.testing.assert_array_equal(decoded, features.astype(np.float16).astype(np.float32))
    with pytest.raises(ValueError, match="float16"):
        feature_codec.encode(np.full((2, 2), 70000.0), FLOAT16)


def test_round_trip_error_is_at_most_half_a_step_of_each_token() -> None:
    features = _features(np.random.default_rng(1))
    decoded = feature_codec.decode(feature_codec.encode(features, INT8), 49, 512)
    assert decoded.dtype == np.float32 and decoded.shape == (49, 512)
    step = np.abs(features).max(axis=1, keepdims=True) / 127
    assert np.all(np.abs(decoded - features) <= step * (0.5 + 1e-4))
    assert not decoded[3].any()
    decoded[0, 0] = 1.0  # writable


def test_a_unit_token_cosine_moves_by_at_most_half_a_step_per_value() -> None:
    """Per value the error is at most scale/2, so a cosine against a unit query moves by at most
    (scale/2) * |query|_1; in practice by about a hundred times less."""
    rng = np.random.default_rng(2)
    tokens = rng.standard_normal((49, 512)).astype(np.float32)
    tokens /= np.linalg.norm(tokens, axis=1, keepdims=True)
    query = rng.standard_normal(512).astype(np.float32)
    query /= np.linalg.norm(query)
    decoded = feature_codec.decode(feature_codec.encode(tokens, INT8), 49, 512)
    moved = np.abs(decoded @ query - tokens @ query)
    assert float(moved.max()) <= 2e-3


def test_decoding_many_equals_decoding_each_in_any_mix_of_encodings() -> None:
    rng = np.random.default_rng(3)
    blobs = [
        feature_codec.encode(rng.standard_normal((4, 16)), (INT8, FLOAT16)[i % 2]) for i in range(5)
    ]
    many = feature_codec.decode_many(blobs, 4, 16)
    assert many.shape == (5, 4, 16)
    for blob, one in zip(blobs, many, strict=True):
        np.testing.assert_array_equal(one, feature_codec.decode(blob, 4, 16))
    assert feature_codec.decode_many([], 4, 16).shape == (0, 4, 16)


def test_the_re_rank_view_of_float16_is_the_stored_bytes_and_int8_is_decoded() -> None:
    """A re-rank reads float16 features without copying them (read-only, over the row's bytes);
    int8 comes decoded. Either way the values are decode's."""
    features = np.random.default_rng(4).standard_normal((49, 64)).astype(np.float32)
    half = feature_codec.encode(features, FLOAT16)
    view = feature_codec.view(half, 49, 64)
    assert view.dtype == np.float16 and not view.flags.writeable and not view.flags.owndata
    assert np.shares_memory(view, np.frombuffer(half, dtype=np.uint8))
    np.testing.assert_array_equal(view.astype(np.float32), feature_codec.decode(half, 49, 64))
    packed = feature_codec.encode(features, INT8)
    decoded = feature_codec.view(packed, 49, 64)
    assert decoded.dtype == np.float32 and not decoded.flags.writeable
    np.testing.assert_array_equal(decoded, feature_codec.decode(packed, 49, 64))
    with pytest.raises(StorageError, match="expected"):
        feature_codec.view(half[:-2], 49, 64)


def test_encoding_decoded_features_again_keeps_every_value() -> None:
    """A copied file's clips are decoded and stored again: nothing may drift."""
    rng = np.random.default_rng(4)
    for _ in range(20):
        first = feature_codec.encode(_features(rng), INT8)
        again = feature_codec.encode(feature_codec.decode(first, 49, 512), INT8)
        assert again[1 + 49 * 4 :] == first[1 + 49 * 4 :]
        np.testing.assert_allclose(
            np.frombuffer(again[1 : 1 + 49 * 4], "<f4"),
            np.frombuffer(first[1 : 1 + 49 * 4], "<f4"),
            rtol=1e-6,
        )
        half = feature_codec.encode(rng.standard_normal((49, 512)), FLOAT16)
        assert feature_codec.encode(feature_codec.decode(half, 49, 512), FLOAT16) == half


@pytest.mark.parametrize("encoding", [FLOAT16, INT8])
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_non_finite_features_are_refused(bad: float, encoding: str) -> None:
    features = np.zeros((2, 4), dtype=np.float32)
    features[1, 2] = bad
    with pytest.raises(ValueError, match="finite"):
        feature_codec.encode(features, encoding)


def test_wrong_shapes_sizes_and_tags_are_errors() -> None:
    with pytest.raises(ValueError):
        feature_codec.encode(np.zeros(8), INT8)
    with pytest.raises(ValueError, match="unknown"):
        feature_codec.encode(np.zeros((2, 8)), "int4")
    with pytest.raises(StorageError, match="expected 25"):
        feature_codec.decode(b"\x02" + b"\x00" * 23, 2, 8)
    with pytest.raises(StorageError, match="expected 33"):
        feature_codec.decode(b"\x01" + b"\x00" * 31, 2, 8)
    with pytest.raises(StorageError, match="tag"):
        feature_codec.decode(b"\x07" + b"\x00" * 24, 2, 8)


def test_the_codec_imports_neither_sqlalchemy_nor_torch() -> None:
    """A read path that talks to SQLite directly decodes with it (issue 16)."""
    code = (
        "import sys, storage.feature_codec; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'torch'}))"
    )
    assert run_python(code, timeout_s=60).strip() == "[]"
