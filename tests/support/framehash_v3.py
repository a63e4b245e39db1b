"""Version 3 frame hashes as they were first written: one region at a time, numpy and OpenCV
calls per region. ``indexer.framehash`` computes the same hashes faster; this copy is what the
tests hold it to, bit for bit (stored libraries must never need a rehash for a speed-up).

Kept as it was at c42044d (``indexer/framehash.py`` and ``indexer/inset.py``), apart from names.
"""

from __future__ import annotations

import cv2
import numpy as np

from indexer.framehash import CORNERS, INSET_WINDOW, REGIONS

_BAR_LEVEL = 24.0
_FLAT_STD = 6.0
_THUMB = 64
_MARGIN = 0.12
_SIDE = (0.4, 0.75)
_CONTRAST = 3.0
_MIN_EDGE = 6.0


def trim_bars(gray: np.ndarray) -> np.ndarray:
    height, width = gray.shape
    rows = gray.mean(axis=1) > _BAR_LEVEL
    cols = gray.mean(axis=0) > _BAR_LEVEL
    if not rows.any() or not cols.any():
        return gray
    top, bottom = int(rows.argmax()), height - int(rows[::-1].argmax())
    left, right = int(cols.argmax()), width - int(cols[::-1].argmax())
    if bottom - top < height // 2 or right - left < width // 2:
        return gray
    return gray[top:bottom, left:right]


def dct_hash(thumb: np.ndarray) -> tuple[int, bool]:
    low = cv2.dct(thumb)[:8, :8].reshape(-1)
    value = int(np.packbits((low > 0).astype(np.uint8)).view(">u8")[0])
    return value, float(thumb.std()) >= _FLAT_STD


def gray_of(pixels: np.ndarray) -> np.ndarray:
    if pixels.ndim == 2:
        return pixels
    return cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2GRAY)


def thumbnail(pixels: np.ndarray) -> np.ndarray:
    return cv2.resize(trim_bars(gray_of(pixels)), (_THUMB, _THUMB), interpolation=cv2.INTER_AREA)


def box_hash(small: np.ndarray, box: tuple[int, int, int, int]) -> tuple[int, bool]:
    x0, y0, x1, y1 = box
    part = trim_bars(small[y0:y1, x0:x1])
    thumb = cv2.resize(part.astype(np.float32), (32, 32), interpolation=cv2.INTER_AREA)
    return dct_hash(thumb)


def value_hash(rgb: np.ndarray | None) -> tuple[int, bool]:
    if rgb is None:
        return 0, False
    brightest = trim_bars(np.ascontiguousarray(rgb.max(axis=2)))
    thumb = cv2.resize(brightest.astype(np.float32), (32, 32), interpolation=cv2.INTER_AREA)
    return dct_hash(thumb)


def static_hashes(small: np.ndarray, regions: dict) -> tuple[list[int], list[bool]]:
    small = small.astype(np.float32)
    values, flags = [], []
    for x0, y0, x1, y1 in regions.values():
        part = small[
            round(y0 * _THUMB) : round(y1 * _THUMB), round(x0 * _THUMB) : round(x1 * _THUMB)
        ]
        thumb = cv2.resize(part, (32, 32), interpolation=cv2.INTER_AREA)
        value, informative = dct_hash(thumb)
        values.append(value)
        flags.append(informative)
    return values, flags


def region_hashes(pixels: np.ndarray) -> tuple[list[int], list[bool]]:
    small = thumbnail(pixels)
    values, flags = static_hashes(small, REGIONS)
    value, informative = value_hash(pixels if pixels.ndim == 3 else None)
    corners, corner_flags = static_hashes(small, CORNERS)
    return values + [0, value] + corners, flags + [False, informative] + corner_flags


def _spans(size: int) -> list[tuple[int, int]]:
    margin = round(_MARGIN * size)
    shortest, longest = round(_SIDE[0] * size), round(_SIDE[1] * size)
    spans = set()
    for length in range(shortest, longest + 1, 2):
        for gap in range(margin + 1):
            spans.add((gap, gap + length))
            spans.add((size - gap - length, size - gap))
    return sorted(spans)


def find_inset(thumbs: np.ndarray) -> tuple[int, int, int, int] | None:
    if len(thumbs) < 4:
        return None
    stack = thumbs.astype(np.float32)
    size = stack.shape[1]
    gx = np.abs(np.diff(stack, axis=2)).mean(axis=0)
    gy = np.abs(np.diff(stack, axis=1)).mean(axis=0)
    typical = float(np.median(np.r_[gx.ravel(), gy.ravel()])) + 1e-3
    cx = np.vstack([np.zeros((1, size - 1)), np.cumsum(gx, axis=0)])
    cy = np.hstack([np.zeros((size - 1, 1)), np.cumsum(gy, axis=1)])
    spans = np.array(_spans(size))
    starts, ends = spans[:, 0], spans[:, 1]
    lengths = (ends - starts).astype(np.float32)
    column = (cx[ends] - cx[starts]) / lengths[:, None]
    left = column[:, np.maximum(starts - 1, 0)]
    left[:, starts == 0] = np.nan
    right = column[:, np.minimum(ends - 1, size - 2)]
    right[:, ends == size] = np.nan
    line_top = cy[np.maximum(starts - 1, 0)]
    top = (line_top[:, ends] - line_top[:, starts]) / lengths[None, :]
    top[starts == 0, :] = np.nan
    line_bottom = cy[np.minimum(ends - 1, size - 2)]
    bottom = (line_bottom[:, ends] - line_bottom[:, starts]) / lengths[None, :]
    bottom[ends == size, :] = np.nan
    sides = np.stack([left, right, top, bottom])
    count = np.sum(~np.isnan(sides), axis=0)
    seen = np.nansum(sides, axis=0) / np.maximum(count, 1)
    strength = np.where(count >= 2, (seen * count + 0.75 * seen * (4 - count)) / 4, 0.0)
    row, col = np.unravel_index(int(np.argmax(strength)), strength.shape)
    best = float(strength[row, col])
    best_box = (int(starts[col]), int(starts[row]), int(ends[col]), int(ends[row]))
    if best < max(_MIN_EDGE, _CONTRAST * typical):
        return None
    return best_box


def hash_frames(frames: list[tuple[float, np.ndarray, np.ndarray | None]]) -> tuple:
    """(hashes, informative) lists of the frames ``(time_s, pixels, rgb)`` a hasher was shown
    (all of them: the caller picks the ticks), insets searched per ``INSET_WINDOW`` frames."""
    hashes, flags, pending = [], [], []
    inset = len(REGIONS)

    def insets() -> None:
        if not pending:
            return
        box = find_inset(np.stack(pending))
        first = len(hashes) - len(pending)
        if box is not None:
            for offset, small in enumerate(pending):
                hashes[first + offset][inset], flags[first + offset][inset] = box_hash(small, box)
        pending.clear()

    for _time_s, pixels, rgb in frames:
        small = thumbnail(pixels)
        values, informative = static_hashes(small, REGIONS)
        value, value_flag = value_hash(rgb if rgb is not None or pixels.ndim == 2 else pixels)
        corners, corner_flags = static_hashes(small, CORNERS)
        hashes.append(values + [0, value] + corners)
        flags.append(informative + [False, value_flag] + corner_flags)
        pending.append(small)
        if len(pending) >= INSET_WINDOW:
            insets()
    insets()
    return hashes, flags
