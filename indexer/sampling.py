"""The one pass over a video: decode, detect shots, segment, and keep each clip's sampled frames.

Only a short look-back window of frames is kept (from the start of the earliest clip that is not
final yet), thinned to a bounded rate, so memory does not grow with the video's length.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from indexer.errors import DecodeStopped
from indexer.frames import Frame, center_crop, decode_frames
from indexer.segment import Segmenter, SegmentRules, Span, sample_times
from indexer.shots import DEFAULT_THRESHOLD, ShotDetector


@dataclass(frozen=True)
class ClipFrames:
    """A clip's time span and its sampled frames, ``(T, crop, crop, 3)`` uint8 RGB."""

    start_s: float
    end_s: float
    frames: np.ndarray
    frame_times: tuple[float, ...]


@dataclass(frozen=True)
class SamplingPlan:
    """How a video is cut and sampled; all of it comes from the model and library settings."""

    rules: SegmentRules
    frames_per_clip: int
    shortest_edge: int
    crop_size: int
    shot_threshold: float = DEFAULT_THRESHOLD
    decode_threads: int = 0  # as in ``decode_frames``

    @classmethod
    def for_library(cls, encoder, settings) -> SamplingPlan:
        """The plan for a library with ``settings`` (clip lengths, shot threshold) whose
        model is ``encoder`` (frames per clip, the processor's resize and crop)."""
        spec = encoder.preprocess
        return cls(
            rules=SegmentRules(settings.min_clip_s, settings.max_clip_s),
            frames_per_clip=encoder.frames_per_clip,
            shortest_edge=spec.shortest_edge,
            crop_size=spec.crop_size,
            shot_threshold=settings.shot_threshold,
        )

    @property
    def keep_interval_s(self) -> float:
        """The densest the look-back window gets: four frames per sample slot of the shortest
        clip, so a sample lands within 1/8 slot of its midpoint."""
        return self.rules.min_clip_s / self.frames_per_clip / 4

    def keep_interval(self, elapsed_s: float) -> float:
        """How far apart frames may be kept ``elapsed_s`` after the open clip's start.

        Four frames per sample slot of the shortest clip the frame can still end up in: a clip
        that has run for ``elapsed_s`` is at least that long, so its slots are wider and fewer
        frames are converted (about 95 for a 10 s shot instead of one every 1/16 s). Past half
        the maximum, the frame may fall in the second half of a halved clip (at least max/2
        long); past the maximum, in a new clip starting there.
        """
        rules, slots = self.rules, self.frames_per_clip
        if elapsed_s < rules.max_clip_s / 2:
            slot = max(rules.min_clip_s, elapsed_s) / slots
        else:
            slot = rules.max_clip_s / 2 / slots
            if elapsed_s > rules.max_clip_s:
                slot = min(slot, max(rules.min_clip_s, elapsed_s - rules.max_clip_s) / slots)
        return max(self.keep_interval_s, slot / 4)


# Decoded pictures the look-back window may hold before converting its oldest ones to RGB
# (``CLIPDEX_WINDOW_MB``): a whole window of two 10 s clips of 720p or 1080p (about 260 and 580
# MB at 30 fps), 50 frames of 4K. Converting early costs 3.5 ms a 1080p frame (0.6 s a minute).
WINDOW_BYTES = int(float(os.environ.get("CLIPDEX_WINDOW_MB", 640)) * 2**20)


class _Window:
    """Recent frames, thinned to one per ``interval`` seconds, converted to RGB only when a
    clip samples them: most kept frames are never sampled, and converting one costs more than
    decoding it. Past ``WINDOW_BYTES`` of decoded pictures, the oldest are converted (and their
    pictures let go) so memory stays bounded at any resolution."""

    def __init__(self, interval: float, crop_size: int) -> None:
        self.interval = interval
        self._crop = crop_size
        self._budget = WINDOW_BYTES
        self._held = 0  # bytes of decoded pictures in _frames
        self._frames: deque[tuple[float, Frame]] = deque()
        self._released = 0  # _frames[:_released] hold RGB only

    def wants(self, time_s: float) -> bool:
        # A little slack: frame times are rounded, and 1/30 s steps must not alias to 1/15 s.
        return not self._frames or time_s - self._frames[-1][0] >= self.interval * 0.99

    def add(self, time_s: float, frame: Frame) -> None:
        if not self.wants(time_s):
            return
        self._frames.append((time_s, frame))
        self._held += frame.decoded_bytes
        while self._held > self._budget and self._released < len(self._frames):
            oldest = self._frames[self._released][1]
            self._held -= oldest.decoded_bytes
            oldest.release()
            self._released += 1

    def drop_before(self, time_s: float) -> None:
        """Forget frames before ``time_s``, keeping the last one before it (it may be the
        nearest frame to a sample just after ``time_s``)."""
        while len(self._frames) > 1 and self._frames[1][0] <= time_s:
            _, frame = self._frames.popleft()
            self._held -= frame.decoded_bytes
            self._released = max(0, self._released - 1)

    def nearest(self, times: list[float]) -> tuple[np.ndarray, tuple[float, ...]]:
        stamps = np.array([t for t, _ in self._frames])
        picks = [int(np.abs(stamps - t).argmin()) for t in times]
        frames = np.stack([center_crop(self._frames[i][1].rgb, self._crop) for i in picks])
        return frames, tuple(float(stamps[i]) for i in picks)


def iter_clips(
    path: Path,
    plan: SamplingPlan,
    fps_hint: float,
    *,
    on_frame: Callable[[float, np.ndarray], None] | None = None,
    gate: AbstractContextManager | None = None,
) -> Iterator[ClipFrames]:
    """Yield the clips of ``path`` in time order, each with its sampled frames.

    ``on_frame(time_s, gray)`` sees decoded frames (``Frame.gray``: upright luma, uncropped),
    so other per-frame work (perceptual hashes) shares this one decoding pass; if it has a
    ``wants(time_s)`` method, only the frames it wants are converted and shown to it.
    ``gate`` (a lock) is held while each frame is decoded and processed, so another process
    can pause decoding by taking it (the indexer does while the model runs, on 2 cores).
    The last clip ends one frame interval after the last decoded frame: how far the video was
    decoded. Raises VideoOpenError if the file cannot be decoded; DecodeStopped when decoding
    failed midway, after the clips of the frames before the failure.
    """
    segmenter = Segmenter(plan.rules)
    detector = ShotDetector(fps_hint, plan.shot_threshold)
    window = _Window(plan.keep_interval_s, plan.crop_size)
    last: Frame | None = None
    interval = 1.0 / fps_hint if fps_hint > 0 else 0.04
    frames = decode_frames(path, plan.shortest_edge, threads=plan.decode_threads)
    gate = gate or nullcontext()
    stopped: DecodeStopped | None = None
    while True:
        with gate:
            try:
                frame = next(frames, None)
            except DecodeStopped as exc:
                frame, stopped = None, exc
            if frame is None:
                break
            if last is not None and frame.time_s > last.time_s:
                interval = frame.time_s - last.time_s
            last = frame
            # Pixels are converted only for frames someone keeps (the hook; the window when a
            # clip samples them); the detector sees every frame, at 64 x 36.
            if on_frame is not None and getattr(on_frame, "wants", _always)(frame.time_s):
                on_frame(frame.time_s, frame.gray)
            small = frame.small  # read before the window may let the decoded picture go
            window.interval = plan.keep_interval(frame.time_s - segmenter.open_start_s)
            window.add(frame.time_s, frame)
            spans: list[Span] = []
            for cut in detector.push(frame.pts, frame.time_base, small):
                spans += segmenter.cut(cut)
            spans += segmenter.frame(frame.time_s)
            clips = list(_sampled(spans, window, plan))
            window.drop_before(segmenter.keep_from_s)
        yield from clips
    if last is not None:
        spans = [s for cut in detector.finish(last.pts, last.time_base) for s in segmenter.cut(cut)]
        spans += segmenter.finish(last.time_s + interval)
        yield from _sampled(spans, window, plan)
    if stopped is not None:
        raise stopped  # after the clips of what was decoded: the caller decides what to keep


def _always(_time_s: float) -> bool:
    return True


def _sampled(spans: list[Span], window: _Window, plan: SamplingPlan) -> Iterator[ClipFrames]:
    for span in spans:
        frames, times = window.nearest(sample_times(span, plan.frames_per_clip))
        yield ClipFrames(span[0], span[1], frames, times)
