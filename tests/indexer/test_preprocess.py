"""Preprocessing matches the checkpoint's own processor on real frames."""

from __future__ import annotations

import av
import numpy as np
import pytest
from transformers import AutoProcessor

from indexer.frames import center_crop, decode_frames
from indexer.preprocess import to_pixel_values

# swscale's bilinear filter (used while converting to RGB at the working size) against PIL's
# bilinear resize of full-size RGB in XCLIPProcessor: measured mean |diff| 0.017-0.024 and
# 99th percentile 0.035-0.14 in normalised units (1 unit = std * 255 ~ 58 grey levels).
MEAN_TOLERANCE = 0.03
P99_TOLERANCE = 0.2


@pytest.fixture(scope="module")
def processor(xclip_checkpoint):
    return AutoProcessor.from_pretrained(xclip_checkpoint)


def test_matches_xclip_processor_on_real_frames(processor, sample_videos):
    image = processor.image_processor
    for path in sample_videos:
        ours = [center_crop(f.rgb, 224) for _, f in zip(range(8), decode_frames(path, 224))]
        with av.open(str(path)) as container:
            full = [
                f.to_ndarray(format="rgb24") for _, f in zip(range(8), container.decode(video=0))
            ]
        expected = processor(videos=[full], return_tensors="np")["pixel_values"]
        got = to_pixel_values([np.stack(ours)], image.image_mean, image.image_std)
        assert got.shape == expected.shape == (1, 8, 3, 224, 224)
        diff = np.abs(got - expected)
        assert diff.mean() < MEAN_TOLERANCE, path.name
        assert np.quantile(diff, 0.99) < P99_TOLERANCE, path.name


def test_normalisation_is_exact_on_given_pixels(processor):
    """Given identical 224x224 frames, our normalisation equals the processor's to float error."""
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(8, 224, 224, 3), dtype=np.uint8)
    image = processor.image_processor
    expected = processor(videos=[list(frames)], return_tensors="np")["pixel_values"]
    got = to_pixel_values([frames], image.image_mean, image.image_std)
    np.testing.assert_allclose(got, expected, atol=1e-5)
