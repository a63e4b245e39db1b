"""Decode a video once, sequentially, into small upright RGB frames with their times.

Each frame is converted straight to the model's working size (shortest edge = the processor's
``shortest_edge``) by swscale while converting to RGB, which is far cheaper than converting at
full resolution and resizing afterwards; swscale's bilinear filter widens with the scale factor,
so downscaling is antialiased like PIL's bilinear resize in the checkpoint's processor.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from indexer.errors import VideoOpenError
from indexer.probe import display_rotation, open_container, video_stream

logger = logging.getLogger(__name__)


DETECTION_EDGE = 36  # shot detection compares colours of whole frames: 64 x 36 is plenty


class Frame:
    """One decoded frame: presentation time (seconds from the stream start) and its pixels.

    Pixels are converted on demand and cached: most frames are only looked at by the shot
    detector (``small``), and converting every frame to RGB at the working size costs more than
    decoding it (swscale's antialiased resize: about 1.2 ms per 720p frame).
    """

    __slots__ = ("time_s", "pts", "time_base", "_frame", "_edge", "_rgb", "_small")

    def __init__(self, time_s: float, pts: int, time_base: Fraction, frame, edge: int) -> None:
        self.time_s = time_s
        self.pts = pts
        self.time_base = time_base
        self._frame = frame
        self._edge = edge
        self._rgb: np.ndarray | None = None
        self._small: np.ndarray | None = None

    @property
    def rgb(self) -> np.ndarray:
        """(H, W, 3) uint8, upright, shortest edge resized to the working size."""
        if self._rgb is None:
            self._rgb = _upright_rgb(self._frame, self._edge)
        return self._rgb

    @property
    def small(self) -> np.ndarray:
        """A tiny RGB version (shortest edge 36, box-filtered) for shot detection."""
        if self._small is None:
            width, height = scaled_size(self._frame.width, self._frame.height, DETECTION_EDGE)
            self._small = self._frame.reformat(
                width=width, height=height, format="rgb24", interpolation="AREA"
            ).to_ndarray()
        return self._small


def scaled_size(width: int, height: int, shortest_edge: int) -> tuple[int, int]:
    """(width, height) with the shorter side equal to ``shortest_edge``, aspect kept.

    Rounds like transformers' ``get_resize_output_image_size`` (int() of the scaled long side).
    """
    if width <= height:
        return shortest_edge, int(shortest_edge * height / width)
    return int(shortest_edge * width / height), shortest_edge


def center_crop(rgb: np.ndarray, size: int) -> np.ndarray:
    """The central ``size`` x ``size`` square, as the processor's center crop takes it."""
    height, width = rgb.shape[:2]
    top = max(0, (height - size) // 2)
    left = max(0, (width - size) // 2)
    return rgb[top : top + size, left : left + size]


def _upright_rgb(frame: av.VideoFrame, shortest_edge: int) -> np.ndarray:
    rotation = display_rotation(frame)
    width, height = frame.width, frame.height
    if rotation in (90, 270):
        width, height = height, width
    out_w, out_h = scaled_size(width, height, shortest_edge)
    if rotation in (90, 270):
        out_w, out_h = out_h, out_w
    rgb = frame.reformat(
        width=out_w, height=out_h, format="rgb24", interpolation="BILINEAR"
    ).to_ndarray()
    if rotation:
        rgb = np.ascontiguousarray(np.rot90(rgb, k=-(rotation // 90)))
    return rgb


def decode_frames(path: Path, shortest_edge: int) -> Iterator[Frame]:
    """Every frame of the first video stream, in presentation order, as small RGB arrays.

    Raises VideoOpenError when the file cannot be opened or decoding fails midway.
    """
    with open_container(path) as container:
        stream = video_stream(container, path)
        # Frame threading decodes several frames in parallel; it keeps output order intact.
        stream.thread_type = "AUTO"
        start = stream.start_time or 0
        time_base = stream.time_base or Fraction(1, 90000)
        last_pts = None
        try:
            for frame in container.decode(stream):
                pts = frame.pts if frame.pts is not None else (last_pts or 0) + 1
                last_pts = pts
                time_s = max(0.0, float((pts - start) * time_base))
                yield Frame(time_s, pts, time_base, frame, shortest_edge)
        except av.error.FFmpegError as exc:
            where = f"{float(((last_pts or start) - start) * time_base):.2f} s"
            reason = f"decoding failed at {where} ({exc.strerror or exc})"
            raise VideoOpenError(str(path), reason) from None
