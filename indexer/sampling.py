"""The one pass over a video: decode, detect shots, segment, and keep each clip's sampled frames.

The sampling rule: a clip ``[start, end)`` is divided into ``N`` equal parts (``N``: the model's
frames per clip), and for each part the frame whose time is nearest the part's midpoint is taken,
over all decoded frames of the video; a frame's time is ``(pts - stream start) * time_base``
(so variable frame rates are handled), and of two frames equally near, the earlier is taken.

Only a look-back window is kept, so memory does not grow with the video's length: every frame's
time (a few bytes), and the decoded pictures of the frames that may still be sampled. A clip's
end is not known until a cut comes, so which frames that is follows from the segmenter's rules
(``indexer.candidates``); the others are let go as soon as they are known not to be needed.
Picks are made over all frame times, so should a picked frame's picture be gone after all (a
case the bounds do not foresee, such as a shot detector holding a cut back longer than it may),
it is decoded again from the file: the frames are the rule's in every case.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from indexer.audio import AudioDecoder
from indexer.candidates import Candidates, candidate_samples
from indexer.cpus import usable_cpus
from indexer.errors import DecodeStopped
from indexer.frames import Frame, decode_frame_again, decode_frames
from indexer.segment import Segmenter, SegmentRules, Span, sample_times
from indexer.shots import DEFAULT_THRESHOLD, ShotDetector

logger = logging.getLogger(__name__)


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
    # The processor's PIL filter (2: BILINEAR); None: swscale's approximation, for benchmarks.
    resample: int | None = 2

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
            resample=spec.resample,
        )

    @property
    def keep_interval_s(self) -> float:
        """Four frames per sample slot of the shortest clip (``embed_span``'s thinning)."""
        return self.rules.min_clip_s / self.frames_per_clip / 4


# Decoded pictures the look-back window may hold (``CLIPDEX_WINDOW_MB``). It needs up to about
# 9-12 s of frames (measured: 281 pictures, 390 MB, on a minute of 720p at 30 fps; 216 on 1080p
# with 13 s shots). Past the budget (1080p and above) it first lets go of pictures that only
# rare outcomes could sample (decoded again if one is needed: none was, on that 1080p file),
# then converts the oldest early (about 12 ms a 1080p frame).
WINDOW_BYTES = int(float(os.environ.get("CLIPDEX_WINDOW_MB", 640)) * 2**20)
# Threads converting a clip's sampled frames at once.
_CONVERT_THREADS = min(2, usable_cpus())
# Frames (or seconds) between two passes that let go of pictures no clip can sample any more
# (a pass costs about 1 ms: 0.06 s a minute of 30 fps video), or sooner when past the budget.
_PRUNE_EVERY = 32
_PRUNE_EVERY_S = 1.0


class _Window:
    """Every recent frame's time, with the decoded picture of those that may still be sampled.

    Pictures are converted to the model's pixels only when a clip samples them: most kept frames
    are never sampled, and converting one costs more than decoding it. Past ``WINDOW_BYTES``,
    see ``prune``, so memory stays bounded at any resolution. Counters (``peak_pictures``,
    ``peak_bytes``, ``converted``, ``redecoded``) say what the window cost.
    """

    def __init__(self, path: Path, plan: SamplingPlan) -> None:
        self._path = path
        self._plan = plan
        self._budget = WINDOW_BYTES
        self._held = 0  # bytes of decoded pictures in the window
        # [time_s, decoding index, pts, Frame or None once no clip can sample it, its bytes]
        self._records: deque[list] = deque()
        self._times: deque[float] = deque()  # the records' times, for numpy
        self._count = 0
        self.peak_pictures = 0
        self.peak_bytes = 0
        self.converted = 0
        self.redecoded = 0

    def add(self, frame: Frame) -> None:
        size = frame.decoded_bytes
        self._records.append([frame.time_s, self._count, frame.pts, frame, size])
        self._times.append(frame.time_s)
        self._count += 1
        self._held += size
        self.peak_bytes = max(self.peak_bytes, self._held)

    @property
    def over_budget(self) -> bool:
        return self._held > self._budget

    def prune(self, candidates: Candidates) -> None:
        """Let go of the frames that are nearest to no time where a sample may still fall;
        past ``WINDOW_BYTES``, also of those only rare outcomes could sample (they would be
        decoded again if needed), then convert the oldest early."""
        records = list(self._records)
        holding = np.fromiter((r[3] is not None for r in records), bool, len(records))
        self.peak_pictures = max(self.peak_pictures, int(holding.sum()))
        if len(records) < 2:
            return
        lo, hi = _cells(np.array(self._times))
        likely = (hi >= candidates.future_from_s) | _meets(lo, hi, candidates.ranges)
        rare = _meets(lo, hi, candidates.rare_ranges) & ~likely
        for index in np.flatnonzero(holding & ~(likely | rare)):
            self._let_go(records[index])
        if self._held <= self._budget:
            return
        for index in np.flatnonzero(holding & rare):
            self._let_go(records[index])
            if self._held <= self._budget:
                return
        for index in np.flatnonzero(holding & likely):
            record = records[index]
            if record[4]:
                self._held -= record[4]
                record[3].release()
                record[4] = 0
                self.converted += 1
                if self._held <= self._budget:
                    return

    def _let_go(self, record: list) -> None:
        self._held -= record[4]
        record[3], record[4] = None, 0

    def drop_before(self, time_s: float) -> None:
        """Forget frames before ``time_s``, keeping the last one before it (it may be the
        nearest frame to a sample just after ``time_s``)."""
        while len(self._records) > 1 and self._records[1][0] <= time_s:
            self._held -= self._records.popleft()[4]
            self._times.popleft()

    def sample(self, span: Span) -> tuple[np.ndarray, tuple[float, ...]]:
        """The span's frames by the sampling rule, cropped, and their times."""
        times = np.array(self._times)
        picks = []
        for midpoint in sample_times(span, self._plan.frames_per_clip):
            distance = np.abs(times - midpoint)
            nearest = np.flatnonzero(distance == distance.min())
            picks.append(self._records[min(nearest, key=lambda i: (times[i], i))])
        for record in picks:
            if record[3] is None:
                self._decode_again(record)
        fresh = {id(r[3]): r[3] for r in picks if not r[3].converted}
        self.converted += len(fresh)
        if len(fresh) > 1 and _CONVERT_THREADS > 1:
            # PIL and swscale let go of the GIL: on 2 cores the model is paused while the
            # decoder has its turn, so the second core converts too (half the wall time).
            with ThreadPoolExecutor(_CONVERT_THREADS) as pool:
                list(pool.map(lambda frame: frame.model_pixels, fresh.values()))
        frames = np.stack([record[3].model_pixels for record in picks])
        return frames, tuple(float(record[0]) for record in picks)

    def _decode_again(self, record: list) -> None:
        plan = self._plan
        logger.debug("decoding frame %d of %s again (%.3f s)", record[1], self._path, record[0])
        record[3] = decode_frame_again(
            self._path,
            record[1],
            record[2],
            plan.shortest_edge,
            resample=plan.resample,
            crop=plan.crop_size,
        )
        self.redecoded += 1


def iter_clips(
    path: Path,
    plan: SamplingPlan,
    fps_hint: float,
    *,
    on_frame: Callable[[float, np.ndarray, np.ndarray], None] | None = None,
    gate: AbstractContextManager | None = None,
    window_stats: dict | None = None,
    audio: AudioDecoder | None = None,
) -> Iterator[ClipFrames]:
    """Yield the clips of ``path`` in time order, each with its sampled frames.

    ``on_frame(time_s, gray, small)`` sees decoded frames (``Frame.gray``: upright luma,
    uncropped; ``Frame.small_upright``: the shot detector's tiny RGB picture, read anyway),
    so other per-frame work (perceptual hashes) shares this one decoding pass; if it has a
    ``wants(time_s)`` method, only the frames it wants are converted and shown to it.
    ``gate`` (a lock) is held while each frame is decoded and processed, so another process
    can pause decoding by taking it (the indexer does while the model runs, on 2 cores).
    The last clip ends one frame interval after the last decoded frame: how far the video was
    decoded. ``window_stats``, if given, receives what the look-back window cost (peak pictures
    and bytes held, frames converted and decoded again) once the video is done. ``audio`` is
    fed the audio packets of the same pass (``decode_frames``).
    Raises VideoOpenError if the file cannot be decoded; DecodeStopped when decoding failed
    midway, after the clips of the frames before the failure.
    """
    segmenter = Segmenter(plan.rules)
    detector = ShotDetector(fps_hint, plan.shot_threshold)
    window = _Window(path, plan)
    last: Frame | None = None
    interval = 1.0 / fps_hint if fps_hint > 0 else 0.04
    longest_gap = interval
    frames = decode_frames(
        path,
        plan.shortest_edge,
        threads=plan.decode_threads,
        resample=plan.resample,
        crop=plan.crop_size,
        audio=audio,
    )
    gate = gate or nullcontext()
    stopped: DecodeStopped | None = None
    count = next_prune = 0
    next_prune_s = 0.0
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
                longest_gap = max(longest_gap, interval)
            last = frame
            # Pixels are converted only for frames someone keeps (the hook; the window when a
            # clip samples them); the detector sees every frame, at 64 x 36.
            if on_frame is not None and getattr(on_frame, "wants", _always)(frame.time_s):
                on_frame(frame.time_s, frame.gray, frame.small_upright)
            small = frame.small  # read before the window may let the decoded picture go
            window.add(frame)
            spans: list[Span] = []
            for cut in detector.push(frame.pts, frame.time_base, small):
                spans += segmenter.cut(cut)
            spans += segmenter.frame(frame.time_s)
            clips = list(_sampled(spans, window))
            window.drop_before(segmenter.keep_from_s)
            count += 1
            if count >= next_prune or frame.time_s >= next_prune_s or window.over_budget:
                window.prune(_candidates(plan, segmenter, detector, frame.time_s, longest_gap))
                next_prune, next_prune_s = count + _PRUNE_EVERY, frame.time_s + _PRUNE_EVERY_S
        yield from clips
    if last is not None:
        spans = [s for cut in detector.finish(last.pts, last.time_base) for s in segmenter.cut(cut)]
        spans += segmenter.finish(last.time_s + interval)
        yield from _sampled(spans, window)
    if window_stats is not None:
        window_stats.update(
            frames=count,
            peak_pictures=window.peak_pictures,
            peak_bytes=window.peak_bytes,
            converted=window.converted,
            redecoded=window.redecoded,
        )
    if stopped is not None:
        raise stopped  # after the clips of what was decoded: the caller decides what to keep


def _candidates(
    plan: SamplingPlan, segmenter: Segmenter, detector: ShotDetector, now_s: float, gap_s: float
) -> Candidates:
    return candidate_samples(
        rules=plan.rules,
        parts=plan.frames_per_clip,
        open_start_s=segmenter.open_start_s,
        pending=segmenter.pending,
        now_s=now_s,
        earliest_unreported_cut_s=detector.earliest_unreported_cut_s,
        longest_gap_s=gap_s,
    )


def _cells(times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each frame's cell, the times it is nearest to: from halfway to the previous distinct
    frame time to halfway to the next (over all frames, kept or not), widened by rounding."""
    if np.all(times[1:] > times[:-1]):  # the usual case: presentation order
        halfway = (times[:-1] + times[1:]) / 2
        lo, hi = np.concatenate(([-np.inf], halfway)), np.concatenate((halfway, [np.inf]))
    else:
        distinct, where = np.unique(times, return_inverse=True)
        halfway = (distinct[:-1] + distinct[1:]) / 2
        lo = np.concatenate(([-np.inf], halfway))[where]
        hi = np.concatenate((halfway, [np.inf]))[where]
    return lo - 1e-9, hi + 1e-9


def _meets(lo: np.ndarray, hi: np.ndarray, ranges: list) -> np.ndarray:
    """Which cells ``[lo, hi]`` meet at least one of ``ranges``."""
    if not ranges:
        return np.zeros(lo.shape, bool)
    merged: list[list[float]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    starts, ends = np.asarray(merged).T
    first = np.searchsorted(ends, lo)  # the first range not ending before the cell starts
    return (first < len(ends)) & (starts[np.minimum(first, len(ends) - 1)] <= hi)


def _always(_time_s: float) -> bool:
    return True


def _sampled(spans: list[Span], window: _Window) -> Iterator[ClipFrames]:
    for span in spans:
        frames, times = window.sample(span)
        yield ClipFrames(span[0], span[1], frames, times)
