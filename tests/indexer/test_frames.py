"""The shot detector's tiny frames, read off the decoder's planes, against swscale's area filter."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from indexer.frames import DETECTION_EDGE, decode_frames
from indexer.shots import ShotDetector


def _area(frame: av.VideoFrame, shape: tuple[int, ...]) -> np.ndarray:
    return frame.reformat(
        width=shape[1], height=shape[0], format="rgb24", interpolation="AREA"
    ).to_ndarray()


def _cuts(path: Path, small) -> list[float]:
    detector, last, cuts = ShotDetector(25.0), None, []
    for frame in decode_frames(path, 224):
        cuts += detector.push(frame.pts, frame.time_base, small(frame))
        last = frame
    return cuts + detector.finish(last.pts, last.time_base)


@pytest.mark.parametrize("name", ["bikes.mp4", "bigbuckbunny.mp4"])
def test_small_frames_match_swscale_area_filter(sample_videos, name) -> None:
    path = next(p for p in sample_videos if p.name == name)
    diffs = []
    for index, frame in enumerate(decode_frames(path, 224)):
        if index % 10:
            continue
        small = frame.small
        assert small.dtype == np.uint8 and small.shape[2] == 3
        assert DETECTION_EDGE <= min(small.shape[:2]) < 2 * DETECTION_EDGE
        diffs.append(np.abs(small.astype(int) - _area(frame._frame, small.shape)).mean())
    # Colour conversion and sampling differ a little from swscale's (measured 2.7-3.1 levels).
    assert np.mean(diffs) < 5.0


def test_small_frames_give_the_cuts_swscale_gives(sample_videos) -> None:
    """bikes.mp4 is real footage with five hard cuts and camera motion between them."""
    path = next(p for p in sample_videos if p.name == "bikes.mp4")
    ours = _cuts(path, lambda f: f.small)
    theirs = _cuts(path, lambda f: _area(f._frame, f.small.shape))
    assert ours == theirs
    assert len(ours) == 5


def test_other_pixel_formats_fall_back_to_swscale(tmp_path) -> None:
    """A 4:4:4 file cannot be read as 4:2:0 planes; it still gets a tiny RGB frame."""
    path = tmp_path / "yuv444.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv444p"
        for i in range(10):
            rgb = np.full((240, 320, 3), (200, 30 + 10 * i, 60), np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv444p")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    frame = next(iter(decode_frames(path, 224)))
    assert frame._frame.format.name == "yuv444p"
    assert frame.small.shape == (36, 48, 3)
    assert np.abs(frame.small.astype(int) - (200, 30, 60)).max() < 8


@pytest.mark.parametrize("name", ["bikes.mp4", "bigbuckbunny.mp4"])
def test_luma_hashes_match_hashes_of_rgb_frames(sample_videos, name) -> None:
    """Duplicate detection hashes ``Frame.gray`` (read off the luma plane); it must hash like
    the RGB frame it stands for, or libraries indexed before would stop matching."""
    from indexer.framehash import frame_hash

    path = next(p for p in sample_videos if p.name == name)
    for index, frame in enumerate(decode_frames(path, 224)):
        if index % 25:
            continue
        gray = frame.gray
        assert gray.dtype == np.uint8 and 224 <= min(gray.shape) < 448
        ours, theirs = frame_hash(gray)[0], frame_hash(frame.rgb)[0]
        assert bin(ours ^ theirs).count("1") <= 4
