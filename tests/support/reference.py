"""The reference pipeline that clipdex must agree with, written independently of clipdex.

PyAV decodes every frame of the file; a frame's time is ``(pts - stream start) * time_base``;
a clip's frames are, for each of its N equal parts, the frame nearest the part's midpoint over
all frames (the earlier of two equally near); pixels are ``to_ndarray(format="rgb24")`` fed to
``XCLIPProcessor`` from the checkpoint folder; the model is ``XCLIPModel``. Nothing here imports
clipdex's indexer.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


@dataclass
class DecodedVideo:
    """Every frame's time and, for the frames asked for, its full-size RGB picture."""

    times: np.ndarray
    rgb: dict[int, np.ndarray]


def frame_times(path: Path) -> np.ndarray:
    """Every frame's time in seconds, in decoding order."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        start = stream.start_time or 0
        base = stream.time_base or Fraction(1, 90000)
        return np.array([float((frame.pts - start) * base) for frame in container.decode(stream)])


def rule_picks(times: np.ndarray, start_s: float, end_s: float, parts: int) -> list[int]:
    """Indices of the frames the sampling rule takes for the clip ``[start_s, end_s)``."""
    picks = []
    step = (end_s - start_s) / parts
    for k in range(parts):
        midpoint = start_s + (k + 0.5) * step
        distance = np.abs(times - midpoint)
        tied = np.flatnonzero(distance == distance.min())
        picks.append(int(min(tied, key=lambda i: (times[i], i))))
    return picks


def rgb_frames(path: Path, indices: set[int]) -> dict[int, np.ndarray]:
    """Full-size ``rgb24`` pictures of the frames at ``indices`` (decoding order)."""
    out = {}
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in indices:
                out[index] = frame.to_ndarray(format="rgb24")
    return out


def reference_pixels(processor, frames: list[np.ndarray]) -> np.ndarray:
    """``XCLIPProcessor``'s pixel values ``(1, T, 3, H, W)`` for one clip's frames."""
    return processor(videos=[list(frames)], return_tensors="np")["pixel_values"]
