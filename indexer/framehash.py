"""64-bit perceptual hashes of decoded frames and of a few regions of them, taken while indexing.

Duplicate detection must not rest on the X-CLIP weights alone, so every video also keeps DCT
hashes ("pHash": the signs of the 8x8 lowest frequencies of a 32x32 greyscale thumbnail) of
frames sampled at a fixed rate. Letterbox and pillarbox bars are trimmed first.

Version 2 hashes ``REGIONS`` per frame, so the edits a whole-frame hash cannot see are matched
by comparing a region of one video with the whole frame of the other (``search.dedup``):

- ``full``: the whole (bar-trimmed) frame; survives re-encoding, scaling, colour, overlays.
- ``centre80``: the centred 80 % of each side: a crop of 15-25 % of the other video matches it.
- ``strip916``: the centred 9:16 strip of a 16:9 frame: what a vertical (portrait) crop keeps.
- ``q0``-``q3``: the four quadrants (top left, top right, bottom left, bottom right): a
  picture-in-picture inset at about a quarter of the frame in that corner; and three of them
  still match the background video under an inset.
- ``tl80``, ``tr80``, ``bl80``, ``br80``: 80 % windows in each corner: off-centre crops.
- ``inset``: the box a picture-in-picture shows another video in, where ``indexer.inset``
  finds one (per window of ``INSET_WINDOW`` hashed frames); uninformative elsewhere.

- ``c0``-``c3``: the corner cells of a 3 x 3 grid (top left, top right, bottom left, bottom
  right): beside an inset of up to 60 % of the sides in one corner, three of them show only
  the background, where every quadrant may be partly covered.
- ``value``: the whole frame again, hashed on the brightest of red, green and blue (HSV's V)
  instead of the luma. A hue rotation moves the luma of saturated colours up and down
  (it reorders it), so their luma hash changes; V stays put under a hue turn in HSV, and
  brightness and contrast only scale and shift it, which the sign hash ignores (see below).
  It comes from the small RGB picture shot detection reads anyway (``Frame.small``).

A horizontal flip needs no extra hash: mirroring a picture multiplies its DCT coefficient of
horizontal frequency ``u`` by ``(-1) ** u``, and as the bits are signs (thresholded at 0, not at
the median as in version 1), the mirrored frame's hash is the hash XOR ``FLIP_MASK``.

For the same reason (bits are the signs of the AC coefficients), any brightness and contrast
change ``a * x + b`` with ``a > 0`` leaves a hash as it is, as far as nothing clips.

Blank or single-colour frames and regions (black intros, fades, flat corners) carry no
information: their hash is noise, so they are flagged uninformative and never used as evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from indexer.inset import find_inset
from storage.frame_hashes import CURRENT_HASH_VERSION, FLIP_MASK, REGION_NAMES

HASH_RATE_HZ = 2.0  # frames hashed per second of video
HASH_VERSION = CURRENT_HASH_VERSION
# Fractions (x0, y0, x1, y1) of the bar-trimmed frame, in the stored order.
REGIONS: dict[str, tuple[float, float, float, float]] = {
    "full": (0.0, 0.0, 1.0, 1.0),
    "centre80": (0.1, 0.1, 0.9, 0.9),
    "strip916": (0.5 - 81 / 512, 0.0, 0.5 + 81 / 512, 1.0),
    "q0": (0.0, 0.0, 0.5, 0.5),
    "q1": (0.5, 0.0, 1.0, 0.5),
    "q2": (0.0, 0.5, 0.5, 1.0),
    "q3": (0.5, 0.5, 1.0, 1.0),
    "tl80": (0.0, 0.0, 0.8, 0.8),
    "tr80": (0.2, 0.0, 1.0, 0.8),
    "bl80": (0.0, 0.2, 0.8, 1.0),
    "br80": (0.2, 0.2, 1.0, 1.0),
}
# The background cells, stored after ``inset`` and ``value`` (version 2 ended at ``inset``).
CORNERS: dict[str, tuple[float, float, float, float]] = {
    "c0": (0.0, 0.0, 1 / 3, 1 / 3),
    "c1": (2 / 3, 0.0, 1.0, 1 / 3),
    "c2": (0.0, 2 / 3, 1 / 3, 1.0),
    "c3": (2 / 3, 2 / 3, 1.0, 1.0),
}
INSET_WINDOW = 32  # hashed frames (16 s) that share one inset search
# Rows and columns at the edges darker than this (mean grey level, 0-255) are letterbox bars.
_BAR_LEVEL = 24.0
# A thumbnail whose grey levels vary less than this (std, 0-255) is blank or one colour.
_FLAT_STD = 6.0
_THUMB = 64  # the trimmed frame is reduced once to this square; regions are cut from it


assert (*REGIONS, "inset", "value", *CORNERS) == REGION_NAMES  # the stored order is storage's
_INSET = REGION_NAMES.index("inset")


@dataclass
class FrameHashes:
    """Hashes of one video's sampled frames, in time order.

    ``hashes[i]`` holds frame i's 64-bit hash of each region of ``REGIONS`` (in that order), as
    uint64; ``informative[i]`` is False for each region that is flat.
    """

    times_s: list[float] = field(default_factory=list)
    hashes: list[list[int]] = field(default_factory=list)
    informative: list[list[bool]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.times_s)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(times float32 (n,), hashes uint64 (n, regions), informative bool (n, regions))."""
        count = len(REGION_NAMES)
        return (
            np.asarray(self.times_s, dtype=np.float32),
            np.asarray(self.hashes, dtype=np.uint64).reshape(-1, count),
            np.asarray(self.informative, dtype=bool).reshape(-1, count),
        )


def _trim_bars(gray: np.ndarray) -> np.ndarray:
    """Cut dark bars off the edges (letterbox, pillarbox), keeping at least half of each side
    (``gray``: uint8)."""
    height, width = gray.shape
    # A row's mean is above the level exactly when its (whole-number) sum is above the level
    # times its length: the test numpy's float64 mean made, at a fraction of the cost.
    rows = cv2.reduce(gray, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S)[:, 0] > _BAR_LEVEL * width
    cols = cv2.reduce(gray, 0, cv2.REDUCE_SUM, dtype=cv2.CV_32S)[0] > _BAR_LEVEL * height
    if not rows.any() or not cols.any():
        return gray
    top, bottom = int(rows.argmax()), height - int(rows[::-1].argmax())
    left, right = int(cols.argmax()), width - int(cols[::-1].argmax())
    if bottom - top < height // 2 or right - left < width // 2:
        return gray
    return gray[top:bottom, left:right]


def _sign_hashes(tiles: np.ndarray) -> tuple[list[int], list[bool]]:
    """The sign hashes of a stack of 32 x 32 float32 tiles, and whether each is informative.

    OpenCV's 2-D DCT transforms the rows, then the columns, with one 1-D routine; here both
    passes run over the whole stack at once (``DCT_ROWS``), the second only over the 8 lowest
    horizontal frequencies that the hash keeps. The coefficients are the 2-D DCT's bit for bit
    (``tests/indexer/test_framehash.py`` holds this to the per-tile code)."""
    count = len(tiles)
    rows = cv2.dct(tiles.reshape(count * 32, 32), flags=cv2.DCT_ROWS)
    columns = np.ascontiguousarray(rows.reshape(count, 32, 32)[:, :, :8].transpose(0, 2, 1))
    low = cv2.dct(columns.reshape(count * 8, 32), flags=cv2.DCT_ROWS).reshape(count, 8, 32)
    signs = low[:, :, :8].transpose(0, 2, 1) > 0  # (tile, vertical, horizontal frequency)
    values = np.packbits(signs.reshape(count, 64), axis=1).view(">u8")[:, 0]
    flags = tiles.std(axis=(1, 2)) >= _FLAT_STD
    return values.tolist(), flags.tolist()


def _dct_hash(thumb: np.ndarray) -> tuple[int, bool]:
    """The sign hash of a 32 x 32 float32 thumbnail, and whether it is informative."""
    values, flags = _sign_hashes(thumb[None])
    return values[0], flags[0]


def _gray(pixels: np.ndarray) -> np.ndarray:
    if pixels.ndim == 2:
        return pixels
    return cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2GRAY)


def thumbnail(pixels: np.ndarray) -> np.ndarray:
    """The bar-trimmed grey frame reduced to the square every region is cut from (uint8)."""
    return cv2.resize(_trim_bars(_gray(pixels)), (_THUMB, _THUMB), interpolation=cv2.INTER_AREA)


def box_hash(small: np.ndarray, box: tuple[int, int, int, int]) -> tuple[int, bool]:
    """The hash of a box (x0, y0, x1, y1, thumbnail pixels) of a thumbnail, bars trimmed."""
    x0, y0, x1, y1 = box
    part = _trim_bars(small[y0:y1, x0:x1])
    thumb = cv2.resize(part.astype(np.float32), (32, 32), interpolation=cv2.INTER_AREA)
    return _dct_hash(thumb)


def _pixel_boxes(regions: dict[str, tuple[float, float, float, float]]) -> list[tuple[slice, ...]]:
    """(rows, columns) of each region in the thumbnail."""
    return [
        (
            slice(round(y0 * _THUMB), round(y1 * _THUMB)),
            slice(round(x0 * _THUMB), round(x1 * _THUMB)),
        )
        for x0, y0, x1, y1 in regions.values()
    ]


# The thumbnail's regions in the order their tiles are stacked: REGIONS, then CORNERS.
_BOXES = _pixel_boxes(REGIONS) + _pixel_boxes(CORNERS)
_VALUE_TILE = len(_BOXES)  # the ``value`` tile goes last in the stack


def _frame_hashes(small: np.ndarray, rgb: np.ndarray | None) -> tuple[list[int], list[bool]]:
    """Every stored hash of one frame (``inset`` left uninformative) from its thumbnail and,
    for ``value``, its small RGB picture (None: ``value`` uninformative)."""
    small = small.astype(np.float32)
    tiles = np.empty((len(_BOXES) + (rgb is not None), 32, 32), np.float32)
    for (rows, cols), tile in zip(_BOXES, tiles):
        cv2.resize(small[rows, cols], (32, 32), dst=tile, interpolation=cv2.INTER_AREA)
    if rgb is not None:
        tiles[_VALUE_TILE] = _value_tile(rgb)
    values, flags = _sign_hashes(tiles)
    value, informative = (
        (values[_VALUE_TILE], flags[_VALUE_TILE]) if rgb is not None else (0, False)
    )
    count = len(REGIONS)
    return (
        values[:count] + [0, value] + values[count:_VALUE_TILE],
        flags[:count] + [False, informative] + flags[count:_VALUE_TILE],
    )


def region_hashes(pixels: np.ndarray) -> tuple[list[int], list[bool]]:
    """The hash of each of ``REGIONS`` of a frame (RGB, or already grey), the inset and the
    ``value`` hash, and whether each is informative; the inset's column is left uninformative
    (``FrameHasher`` fills it), and so is ``value`` for a grey frame. The frame is reduced
    once; every region is cut from that thumbnail."""
    return _frame_hashes(thumbnail(pixels), pixels if pixels.ndim == 3 else None)


def _value_tile(rgb: np.ndarray) -> np.ndarray:
    # Two elementwise maxima: numpy's reduction over a last axis of 3 costs 15 times more.
    brightest = np.maximum(np.maximum(rgb[:, :, 0], rgb[:, :, 1]), rgb[:, :, 2])
    brightest = _trim_bars(brightest)
    return cv2.resize(brightest.astype(np.float32), (32, 32), interpolation=cv2.INTER_AREA)


def value_hash(rgb: np.ndarray | None) -> tuple[int, bool]:
    """The hash of a frame's HSV value (the brightest of R, G and B per pixel), bars trimmed,
    from an RGB picture of any size (the shot detector's 64 x 36 is plenty for 8 x 8
    frequencies); uninformative without one."""
    if rgb is None:
        return 0, False
    return _dct_hash(_value_tile(rgb))


def frame_hash(pixels: np.ndarray) -> tuple[int, bool]:
    """The 64-bit hash of the whole frame (RGB, or already grey) and whether it is informative
    (not flat)."""
    values, flags = region_hashes(pixels)
    return values[0], flags[0]


def mirrored(hashes: np.ndarray) -> np.ndarray:
    """The hashes of the horizontally mirrored frames (whole-frame hashes, version 2)."""
    return np.asarray(hashes, dtype=np.uint64) ^ np.uint64(FLIP_MASK)


class FrameHasher:
    """Hashes the frames it is shown at ``rate_hz`` (the first frame at or after each tick).

    Pass it as ``iter_clips(..., on_frame=hasher)``; read ``hasher.result`` afterwards.
    """

    def __init__(self, rate_hz: float = HASH_RATE_HZ) -> None:
        self._step = 1.0 / rate_hz
        self._next_s = 0.0
        self._result = FrameHashes()
        self._pending: list[np.ndarray] = []  # thumbnails of the frames awaiting an inset search

    @property
    def result(self) -> FrameHashes:
        """Every hash so far (the last window's insets are searched now)."""
        self._find_insets()
        return self._result

    def _find_insets(self) -> None:
        if not self._pending:
            return
        box = find_inset(np.stack(self._pending))
        first = len(self._result) - len(self._pending)
        if box is not None:
            for offset, small in enumerate(self._pending):
                value, informative = box_hash(small, box)
                self._result.hashes[first + offset][_INSET] = value
                self._result.informative[first + offset][_INSET] = informative
        self._pending.clear()

    def wants(self, time_s: float) -> bool:
        """Whether the frame at ``time_s`` is on the next tick (others need no pixels)."""
        return time_s + 1e-6 >= self._next_s

    def __call__(self, time_s: float, pixels: np.ndarray, rgb: np.ndarray | None = None) -> None:
        """Hash the frame at ``time_s``: ``pixels`` (grey or RGB) for the luma hashes, ``rgb``
        (a small colour picture of the same frame) for ``value``; without it, ``pixels`` if
        they are in colour."""
        if not self.wants(time_s):
            return
        small = thumbnail(pixels)
        values, flags = _frame_hashes(small, rgb if rgb is not None or pixels.ndim == 2 else pixels)
        self._result.times_s.append(float(time_s))
        self._result.hashes.append(values)
        self._result.informative.append(flags)
        self._pending.append(small)
        if len(self._pending) >= INSET_WINDOW:
            self._find_insets()
        # Ticks stay on the fixed grid (0, 0.5, 1.0 ...) even when a frame arrives late.
        self._next_s = (np.floor(time_s / self._step + 1e-6) + 1) * self._step
