"""64-bit perceptual hashes of decoded frames, taken during the indexing pass.

Duplicate detection must not rest on the X-CLIP weights alone, so every video also keeps a DCT
hash ("pHash": the signs of the 8x8 lowest frequencies of a 32x32 greyscale thumbnail against
their median) of frames sampled at a fixed rate. It survives re-encoding, scaling, greyscale and
mild crops; letterbox and pillarbox bars are trimmed before hashing so bars do not change it.
Blank or single-colour frames (black intros, fades) carry no information: their hash is noise,
so they are flagged uninformative and never used as evidence of a match.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

HASH_RATE_HZ = 2.0  # frames hashed per second of video
# Rows and columns at the edges darker than this (mean grey level, 0-255) are letterbox bars.
_BAR_LEVEL = 24.0
# A thumbnail whose grey levels vary less than this (std, 0-255) is blank or one colour.
_FLAT_STD = 6.0


@dataclass
class FrameHashes:
    """Hashes of one video's sampled frames, in time order.

    ``hashes`` holds each 64-bit hash as uint64; ``informative`` is False for flat frames.
    """

    times_s: list[float] = field(default_factory=list)
    hashes: list[int] = field(default_factory=list)
    informative: list[bool] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.times_s)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(times float32, hashes uint64, informative bool) arrays."""
        return (
            np.asarray(self.times_s, dtype=np.float32),
            np.asarray(self.hashes, dtype=np.uint64),
            np.asarray(self.informative, dtype=bool),
        )


def _trim_bars(gray: np.ndarray) -> np.ndarray:
    """Cut dark bars off the edges (letterbox, pillarbox), keeping at least half of each side."""
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


def frame_hash(pixels: np.ndarray) -> tuple[int, bool]:
    """The 64-bit DCT hash of a frame (RGB, or already grey) and whether it is informative
    (not flat)."""
    if pixels.ndim == 2:
        gray = pixels
    else:
        gray = cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2GRAY)
    gray = _trim_bars(gray)
    thumb = cv2.resize(gray, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    informative = float(thumb.std()) >= _FLAT_STD
    low = cv2.dct(thumb)[:8, :8].reshape(-1)
    bits = low > np.median(low)
    value = int(np.packbits(bits.astype(np.uint8)).view(">u8")[0])
    return value, informative


class FrameHasher:
    """Hashes the frames it is shown at ``rate_hz`` (the first frame at or after each tick).

    Pass it as ``iter_clips(..., on_frame=hasher)``; read ``hasher.result`` afterwards.
    """

    def __init__(self, rate_hz: float = HASH_RATE_HZ) -> None:
        self._step = 1.0 / rate_hz
        self._next_s = 0.0
        self.result = FrameHashes()

    def wants(self, time_s: float) -> bool:
        """Whether the frame at ``time_s`` is on the next tick (others need no pixels)."""
        return time_s + 1e-6 >= self._next_s

    def __call__(self, time_s: float, pixels: np.ndarray) -> None:
        if not self.wants(time_s):
            return
        value, informative = frame_hash(pixels)
        self.result.times_s.append(float(time_s))
        self.result.hashes.append(value)
        self.result.informative.append(informative)
        # Ticks stay on the fixed grid (0, 0.5, 1.0 ...) even when a frame arrives late.
        self._next_s = (np.floor(time_s / self._step + 1e-6) + 1) * self._step
