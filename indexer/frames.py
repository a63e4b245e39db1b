"""Decode a video once, sequentially, into frames with their times and pixels on demand.

A sampled frame's model pixels (``Frame.model_pixels``) are made the way the checkpoint's image
processor makes them from PyAV's RGB frame: ``to_ndarray(format="rgb24")`` at full resolution,
then PIL's ``Image.resize`` to the processor's shortest edge with the processor's filter
(``resample`` in ``preprocessor_config.json``; BILINEAR for X-CLIP), then its center crop.
transformers 5 runs these very calls in ``VideoMAEImageProcessorPil`` (what X-CLIP checkpoints
load without torchvision), so the pixels are the reference pipeline's, bit for bit. (Resizing
only the crop, with PIL's ``box``, would save 40 % of the resize but rounds the filter's
coefficients differently: 1 grey level off on 0.04 % of the pixels, which moved the tiny test
model's re-ranked scores by up to 0.01.) Only sampled frames are converted (8 a clip): about
7 ms each at 720p. ``resample=None`` keeps the old approximation (swscale's bilinear filter
straight from YUV at the model's size: 1.1-1.4 grey levels off on average, up to 54), only so
that ``benchmarks/index.py --pixels`` can compare the two.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image

from indexer.audio import AudioDecoder
from indexer.errors import DecodeStopped, VideoOpenError
from indexer.probe import check_picture_size, display_rotation, open_container, video_stream

logger = logging.getLogger(__name__)


DETECTION_EDGE = 36  # shot detection compares colours of whole frames: 64 x 36 is plenty
# (tiles are a whole number of pixels, so a frame's shorter side comes out 36 to 71)


class Frame:
    """One decoded frame: presentation time (seconds from the stream start) and its pixels.

    Pixels are converted on demand and cached: most frames are only looked at by the shot
    detector (``small``), and converting every frame to RGB at the working size costs more than
    decoding it (swscale's antialiased resize: about 1.2 ms per 720p frame).
    """

    __slots__ = (
        "time_s",
        "pts",
        "time_base",
        "_frame",
        "_edge",
        "_resample",
        "_crop",
        "_rgb",
        "_pixels",
        "_small",
        "_gray",
    )

    def __init__(
        self,
        time_s: float,
        pts: int,
        time_base: Fraction,
        frame,
        edge: int,
        resample: int | None = Image.Resampling.BILINEAR,
        crop: int | None = None,
    ) -> None:
        self.time_s = time_s
        self.pts = pts
        self.time_base = time_base
        self._frame = frame
        self._edge = edge
        self._resample = resample
        self._crop = crop
        self._pixels: np.ndarray | None = None
        self._rgb: np.ndarray | None = None
        self._small: np.ndarray | None = None
        self._gray: np.ndarray | None = None

    @property
    def rgb(self) -> np.ndarray:
        """(H, W, 3) uint8, upright, shortest edge resized to the working size as the
        checkpoint's processor resizes it (the whole frame; see the module docstring)."""
        if self._rgb is None:
            if self._resample is None:
                self._rgb = _upright_rgb(self._frame, self._edge)
            else:
                self._rgb = processor_rgb(self._frame, self._edge, self._resample)
        return self._rgb

    @property
    def model_pixels(self) -> np.ndarray:
        """(crop, crop, 3) uint8: the processor's resized and center-cropped frame."""
        if self._pixels is None:
            self._pixels = np.ascontiguousarray(center_crop(self.rgb, self._crop or self._edge))
        return self._pixels

    @property
    def gray(self) -> np.ndarray:
        """Upright full-range luma, shortest edge between the working size and twice it
        (the decoded size divided by a whole number), for perceptual hashes.

        Read off the luma plane with OpenCV's area filter at a whole-number factor (0.3 ms for
        720p, against 1.5-2.5 ms for a swscale RGB conversion); other pixel formats are
        converted from ``rgb``.
        """
        if self._gray is None:
            self._gray = self._read_gray()
        return self._gray

    def _read_gray(self) -> np.ndarray:
        frame = self._frame
        if frame is None or frame.format.name not in _LUMA_FIRST:
            return cv2.cvtColor(np.ascontiguousarray(self.rgb), cv2.COLOR_RGB2GRAY)
        width, height = frame.width, frame.height
        factor = max(1, min(width, height) // self._edge)
        rows, cols = height // factor * factor, width // factor * factor
        luma = _plane(frame, 0, height)[:rows, :cols]
        if factor > 1:
            luma = cv2.resize(luma, (cols // factor, rows // factor), interpolation=cv2.INTER_AREA)
        if not _full_range(frame):  # luma from 16 to 235
            luma = cv2.convertScaleAbs(luma, alpha=255.0 / 219.0, beta=-16.0 * 255.0 / 219.0)
        rotation = display_rotation(frame)
        if rotation:
            luma = np.ascontiguousarray(np.rot90(luma, k=-(rotation // 90)))
        return luma

    @property
    def converted(self) -> bool:
        """Whether ``model_pixels`` have been made already."""
        return self._pixels is not None

    @property
    def decoded_bytes(self) -> int:
        """Memory held by the decoded picture (0 once released)."""
        if self._frame is None:
            return 0
        return sum(plane.buffer_size for plane in self._frame.planes)

    def release(self) -> None:
        """Make ``model_pixels`` now and let the decoded picture go (``small`` and ``gray``
        must have been read already if they are wanted)."""
        if self._frame is not None:
            _ = self.model_pixels
            self._frame = None

    @property
    def small(self) -> np.ndarray:
        """A tiny RGB version (shortest edge about 36) for shot detection."""
        if self._small is None:
            self._small = _small_rgb(self._frame)
        return self._small

    @property
    def small_upright(self) -> np.ndarray:
        """``small`` turned upright like ``gray`` (phone footage decodes sideways), for the
        colour hash; call it while the decoded picture is held."""
        small = self.small
        rotation = display_rotation(self._frame) if self._frame is not None else 0
        return np.ascontiguousarray(np.rot90(small, k=-(rotation // 90))) if rotation else small


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


def _small_rgb(frame: av.VideoFrame) -> np.ndarray:
    """About 64 x 36 RGB for comparing whole frames' colours.

    For 4:2:0 frames (nearly every camera and web file) it is read straight off the decoder's
    planes: each output pixel averages a 4 x 4 grid of luma and 2 x 2 of chroma samples of its
    tile, converted from BT.601 YUV. That costs about 0.1 ms against 0.5 ms for swscale's area
    filter over a 720p frame, and gives the same cuts (tests/indexer/test_frames.py). Other
    pixel formats, and frames too small to tile, go through swscale.
    """
    width, height = frame.width, frame.height
    step = 4 * max(1, min(width, height) // (4 * DETECTION_EDGE))  # pixels per output pixel
    if frame.format.name not in _YUV420 or min(width, height) < 4 * DETECTION_EDGE:
        out_w, out_h = scaled_size(width, height, DETECTION_EDGE)
        return frame.reformat(
            width=out_w, height=out_h, format="rgb24", interpolation="AREA"
        ).to_ndarray()
    rows, cols = (height // step) * step, (width // step) * step
    y = _grid_mean(_plane(frame, 0, height)[:rows, :cols], step, 4)
    u = _grid_mean(_plane(frame, 1, height // 2)[: rows // 2, : cols // 2], step // 2, 2)
    v = _grid_mean(_plane(frame, 2, height // 2)[: rows // 2, : cols // 2], step // 2, 2)
    full_range = _full_range(frame)
    luma = y if full_range else (y - 16.0) * (255.0 / 219.0)
    cscale = 1.0 if full_range else 255.0 / 224.0
    cb = (u - 128.0) * cscale
    cr = (v - 128.0) * cscale
    rgb = np.stack(
        [luma + 1.402 * cr, luma - 0.344136 * cb - 0.714136 * cr, luma + 1.772 * cb], axis=-1
    )
    return np.clip(rgb, 0, 255).astype(np.uint8)


def _grid_mean(plane: np.ndarray, block: int, points: int) -> np.ndarray:
    """Average ``points`` x ``points`` evenly spread pixels of every ``block`` x ``block`` tile."""
    stride = block // points
    grid = plane[stride // 2 :: stride, stride // 2 :: stride]
    rows, cols = grid.shape[0] // points, grid.shape[1] // points
    grid = np.ascontiguousarray(grid[: rows * points, : cols * points])
    # OpenCV's area filter at an integer factor is a plain block mean, and fast.
    return cv2.resize(grid, (cols, rows), interpolation=cv2.INTER_AREA).astype(np.float32)


_YUV420 = frozenset({"yuv420p", "yuvj420p"})
# 8-bit formats whose first plane is the luma, one byte per pixel.
_LUMA_FIRST = frozenset(
    {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21"}
)


def _full_range(frame: av.VideoFrame) -> bool:
    """Whether the frame's YUV levels span 0-255 (JPEG-style ``yuvj`` formats, or tagged so)
    rather than the usual limited range."""
    return frame.format.name.startswith("yuvj") or frame.color_range == 2


def _plane(frame: av.VideoFrame, index: int, rows: int) -> np.ndarray:
    """Plane ``index`` of ``frame`` as a (rows, line size) uint8 view, without copying."""
    return np.frombuffer(frame.planes[index], np.uint8).reshape(rows, -1)


def processor_rgb(frame: av.VideoFrame, shortest_edge: int, resample: int) -> np.ndarray:
    """The frame as the checkpoint's processor resizes PyAV's RGB frame: full-resolution
    ``rgb24`` (made upright), then PIL's resize of the shortest edge with ``resample`` (the
    size rounded as ``get_resize_output_image_size`` rounds it). About 0.5 ms for the
    conversion and 6-7 ms for the resize of a 720p frame."""
    rgb = frame.to_ndarray(format="rgb24")
    rotation = display_rotation(frame)
    if rotation:
        rgb = np.ascontiguousarray(np.rot90(rgb, k=-(rotation // 90)))
    height, width = rgb.shape[:2]
    size = scaled_size(width, height, shortest_edge)
    if size == (width, height):
        return rgb
    return np.asarray(Image.fromarray(rgb).resize(size, resample=resample))


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


def decode_frames(
    path: Path,
    shortest_edge: int,
    *,
    reference_only: bool = False,
    threads: int = 0,
    resample: int | None = Image.Resampling.BILINEAR,
    crop: int | None = None,
    audio: AudioDecoder | None = None,
) -> Iterator[Frame]:
    """Every frame of the first video stream, in decoding order (presentation order for every
    sane file), with its time: ``(pts - stream start) * time_base`` seconds.

    ``reference_only`` skips frames no other frame refers to (most B-frames): about half the
    frames of a typical H.264/HEVC file, and a third of the decoding time, leaving 12-15 frames
    per second of 25-30 fps video (the indexer decodes every frame: at that rate shot detection
    finds false cuts; ``benchmarks/index.py --nonref`` measures both). Streams without such
    frames decode whole. ``threads``: the
    decoder's threads (0: FFmpeg's choice, one per core, frame and slice threading).
    ``audio``, when given, is opened on the container and fed the first audio stream's packets
    from the same demux loop: the file is read once for both (its ``finish`` is the caller's).
    Raises VideoOpenError when the file cannot be opened, DecodeStopped (after the frames
    before it) when decoding fails midway.
    """
    with open_container(path) as container:
        stream = video_stream(container, path)
        check_picture_size(stream.codec_context, path)
        streams = [stream]
        if audio is not None:
            audio.open(container)
            if audio.stream is not None:
                streams.append(audio.stream)
        # Frame threading decodes several frames in parallel; it keeps output order intact.
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = threads
        if reference_only:
            stream.codec_context.skip_frame = "NONREF"
        start = stream.start_time or 0
        time_base = stream.time_base or Fraction(1, 90000)
        last_pts = None
        time_s = 0.0
        try:
            # ``container.decode(stream)`` is this loop over one stream's packets; a broken
            # audio packet ends only the audio (the decoder keeps the reason).
            for packet in container.demux(streams):
                if packet.stream.index != stream.index:
                    audio.feed(packet)
                    continue
                for frame in packet.decode():
                    pts = frame.pts if frame.pts is not None else (last_pts or 0) + 1
                    last_pts = pts
                    time_s = max(0.0, float((pts - start) * time_base))
                    yield Frame(time_s, pts, time_base, frame, shortest_edge, resample, crop)
        except av.error.FFmpegError as exc:
            if audio is not None:
                audio.fail(f"audio stopped with the video ({exc.strerror or exc})")
            where = f"{float(((last_pts or start) - start) * time_base):.2f} s"
            reason = f"decoding failed at {where} ({exc.strerror or exc})"
            if last_pts is None:
                raise VideoOpenError(str(path), reason) from None
            # Frames came before the failure (a file cut off or damaged midway): the caller
            # may keep them. Whether a cut shows up here at all depends on threading: the same
            # truncated H.264 stream raises InvalidDataError with 1 or 2 decoder threads and
            # simply ends with FFmpeg's automatic count, so callers must not rely on an error
            # to notice truncation (indexer/completeness.py compares sizes and durations).
            raise DecodeStopped(str(path), reason, time_s) from None


def decode_frame_again(
    path: Path,
    index: int,
    pts: int,
    shortest_edge: int,
    *,
    resample: int | None = Image.Resampling.BILINEAR,
    crop: int | None = None,
) -> Frame:
    """Frame ``index`` (in decoding order, with timestamp ``pts``) of ``path``, decoded again.

    Seeks to the keyframe at or before ``pts`` and decodes up to the frame with that timestamp;
    if the timestamps cannot be trusted for that (a frame without one, or the seek lands past
    it), decodes from the start and counts frames. Decoding is deterministic, so the pixels are
    the ones the first pass saw. Raises VideoOpenError like ``decode_frames``.
    """
    with open_container(path) as container:
        stream = video_stream(container, path)
        stream.thread_type = "AUTO"
        start = stream.start_time or 0
        time_base = stream.time_base or Fraction(1, 90000)
        try:
            container.seek(pts, stream=stream, backward=True, any_frame=False)
            for frame in container.decode(stream):
                if frame.pts is None or frame.pts > pts:
                    break
                if frame.pts == pts:
                    time_s = max(0.0, float((pts - start) * time_base))
                    found = Frame(time_s, pts, time_base, frame, shortest_edge, resample, crop)
                    found.release()  # its model pixels, made while its container is open
                    return found
        except av.error.FFmpegError:
            pass  # decode from the start below
    frames = decode_frames(path, shortest_edge, resample=resample, crop=crop)
    for number, frame in enumerate(frames):
        if number == index:
            return frame
    raise VideoOpenError(str(path), f"frame {index} is gone on decoding the file again")
