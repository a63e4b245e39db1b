"""Find a picture-in-picture inset: a rectangle whose edges stay put while the pictures move.

A news programme or a reaction video shows another video in a box, usually near a corner, at
25-50 % of the frame. No fixed region lines up with every box, so the box is found instead:
averaged over a window of frames, the gradient of moving pictures blurs out while the box's
border stays sharp (the idea of static-edge accumulation behind logo and inset detectors). The
strongest rectangle anchored near a corner, with sides 40-75 % of the frame's, wins if its
border stands well above the window's typical gradient.

Works on the hasher's square grey thumbnails (``size`` x ``size``), so the box is in thumbnail
pixels; the caller cuts the same box from each frame's thumbnail and hashes it.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

_MARGIN = 0.12  # an inset's outer sides lie this close to the frame's edges (fraction)
_SIDE = (0.4, 0.75)  # its sides, as fractions of the frame's (an inset of 16-56 % of the area)
_CONTRAST = 3.0  # border strength over the median gradient of the window
_MIN_EDGE = 6.0  # and at least this (grey levels per pixel, averaged over the window)


@lru_cache(maxsize=4)
def _spans(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Candidate (starts, ends) of a side, anchored at either edge of the frame."""
    margin = round(_MARGIN * size)
    shortest, longest = round(_SIDE[0] * size), round(_SIDE[1] * size)
    spans = set()
    for length in range(shortest, longest + 1, 2):
        for gap in range(margin + 1):
            spans.add((gap, gap + length))
            spans.add((size - gap - length, size - gap))
    starts, ends = np.array(sorted(spans)).T
    return starts, ends


def find_inset(thumbs: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) of the inset in a stack of square thumbnails (t, size, size), or None."""
    if len(thumbs) < 4:
        return None
    stack = thumbs.astype(np.float32)
    size = stack.shape[1]
    gx = np.abs(np.diff(stack, axis=2)).mean(axis=0)  # (size, size-1): edge right of column x
    gy = np.abs(np.diff(stack, axis=1)).mean(axis=0)  # (size-1, size): edge below row y
    typical = float(np.median(np.r_[gx.ravel(), gy.ravel()])) + 1e-3
    # Cumulative sums give a side's mean strength over any range in O(1).
    cx = np.vstack([np.zeros((1, size - 1)), np.cumsum(gx, axis=0)])  # over rows
    cy = np.hstack([np.zeros((size - 1, 1)), np.cumsum(gy, axis=1)])  # over columns
    starts, ends = _spans(size)
    lengths = (ends - starts).astype(np.float32)
    # Rows of the arrays below: the (y0, y1) span; columns: the (x0, x1) span. A side on the
    # frame's edge has no border to see: it adds nothing and is not counted.
    at_start, at_end = starts == 0, ends == size
    column = (cx[ends] - cx[starts]) / lengths[:, None]  # (spans, size-1) mean |gx| over rows
    left = column[:, np.maximum(starts - 1, 0)]
    left[:, at_start] = 0.0
    right = column[:, np.minimum(ends - 1, size - 2)]
    right[:, at_end] = 0.0
    line_top = cy[np.maximum(starts - 1, 0)]  # (spans, size) cumulative |gy| along that row
    top = (line_top[:, ends] - line_top[:, starts]) / lengths[None, :]
    top[at_start, :] = 0.0
    line_bottom = cy[np.minimum(ends - 1, size - 2)]
    bottom = (line_bottom[:, ends] - line_bottom[:, starts]) / lengths[None, :]
    bottom[at_end, :] = 0.0
    count = (
        4
        - (at_start.astype(np.int64) + at_end)[None, :]
        - (at_start.astype(np.int64) + at_end)[:, None]
    )
    seen = (left + right + top + bottom) / np.maximum(count, 1)
    # A side on the frame's edge shows nothing; it counts as a weaker copy of the others, so
    # a box whose four sides all show wins over the same box pushed against the edge.
    strength = np.where(count >= 2, (seen * count + 0.75 * seen * (4 - count)) / 4, 0.0)
    row, col = np.unravel_index(int(np.argmax(strength)), strength.shape)
    best = float(strength[row, col])
    if best < max(_MIN_EDGE, _CONTRAST * typical):
        return None
    return int(starts[col]), int(starts[row]), int(ends[col]), int(ends[row])
