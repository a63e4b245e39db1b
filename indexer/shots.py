"""Shot boundary detection: PySceneDetect's ContentDetector fed with our own decoded frames.

PySceneDetect's detectors are well tested on real footage (HSV distance between consecutive
frames, with a flash filter); we use only the detector, never its video backends, so decoding
stays our one sequential PyAV pass. Timestamps go in as presentation times (pts and time base),
so variable-frame-rate files get correct cut times.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from scenedetect.common import FrameTimecode, Timecode
from scenedetect.detectors import ContentDetector

DEFAULT_THRESHOLD = 27.0  # PySceneDetect's default for ContentDetector
MIN_SHOT_S = 0.5  # shots shorter than this are flashes, not cuts


class ShotDetector:
    """Streaming detector: ``push`` each frame (RGB) with its pts; returns new cut times."""

    def __init__(self, fps: float, threshold: float = DEFAULT_THRESHOLD) -> None:
        self._fps = Fraction(fps).limit_denominator(1001) if fps > 0 else Fraction(25)
        self._threshold = threshold
        self._detector = ContentDetector(threshold=threshold, min_scene_len=MIN_SHOT_S)
        self._held: float | None = None  # the latest frame over the threshold not yet a cut

    @property
    def earliest_unreported_cut_s(self) -> float:
        """No cut reported later lies before this time (inf: only frames still to come).

        The flash filter (merge mode) may report a cut late, but only ever at the latest frame
        that was over the threshold; the sampler needs this bound to know which frames a clip
        that is not final yet can no longer sample.
        """
        return math.inf if self._held is None else self._held

    def push(self, pts: int, time_base: Fraction, rgb: np.ndarray) -> list[float]:
        """Feed one frame; return cut times (seconds, the first frame of each new shot)."""
        timecode = FrameTimecode(Timecode(pts=pts, time_base=time_base), fps=self._fps)
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        cuts = [float(cut.seconds) for cut in self._detector.process_frame(timecode, bgr)]
        # ContentDetector keeps the frame's score in ``_frame_score``; without it (another
        # PySceneDetect version), every frame counts as over the threshold: safe, less thinning.
        score = getattr(self._detector, "_frame_score", self._threshold)
        if score is not None and score >= self._threshold:
            self._held = float(timecode.seconds)
        if cuts and self._held is not None and max(cuts) >= self._held:
            self._held = None
        return cuts

    def finish(self, pts: int, time_base: Fraction) -> list[float]:
        """Cuts the flash filter was still holding back when the video ended."""
        post = getattr(self._detector, "post_process", None)
        if post is None:
            return []
        timecode = FrameTimecode(Timecode(pts=pts, time_base=time_base), fps=self._fps)
        return [float(cut.seconds) for cut in post(timecode) or []]
