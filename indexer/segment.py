"""Cut a video into clips: at shot boundaries, long shots split, short fragments merged.

The segmenter is streaming so that decoding stays one sequential pass with bounded memory: it
is told each frame time and each detected cut, and closes clips as soon as they can no longer
change. A clip is closed late enough that a short fragment after it can still be merged into it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SegmentRules:
    """Clip length rules, in seconds. ``max_clip_s`` must be at least twice ``min_clip_s``
    so that splitting an over-long remainder in two never makes a piece shorter than the minimum.
    """

    min_clip_s: float = 2.0
    max_clip_s: float = 10.0

    def __post_init__(self) -> None:
        if self.min_clip_s <= 0 or self.max_clip_s < 2 * self.min_clip_s:
            raise ValueError(
                f"clip lengths need 0 < min ({self.min_clip_s}) and max ({self.max_clip_s}) "
                ">= 2 * min"
            )


Span = tuple[float, float]

# Frame times are sums of float seconds: a 60.0 s video can end at 60.000000001, and its last
# 10 s clip must not be halved for that.
_SLACK_S = 1e-6


@dataclass
class Segmenter:
    """Streaming segmentation. Feed ``frame(t)`` for every frame, ``cut(t)`` for each detected
    shot boundary (the time of the first frame of the new shot), then ``finish(end_s)``.
    Each call returns the clips that became final, in time order.
    """

    rules: SegmentRules
    start_s: float = 0.0
    _open_start: float = field(init=False)
    _pending: Span | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self._open_start = self.start_s

    @property
    def open_start_s(self) -> float:
        """Where the clip still open (not yet cut) starts."""
        return self._open_start

    @property
    def pending(self) -> Span | None:
        """The last closed clip, held back while a short final fragment may still merge into it
        (``finish``): it is final once the next clip closes."""
        return self._pending

    @property
    def keep_from_s(self) -> float:
        """Frames at or after this time may still be needed by a clip that is not final."""
        return self._pending[0] if self._pending else self._open_start

    def frame(self, time_s: float) -> list[Span]:
        rules = self.rules
        if time_s - self._open_start < rules.max_clip_s + rules.min_clip_s:
            return []
        piece = (self._open_start, self._open_start + rules.max_clip_s)
        self._open_start = piece[1]
        return self._close(piece)

    def cut(self, time_s: float) -> list[Span]:
        if time_s - self._open_start < self.rules.min_clip_s:
            return []  # a fragment shorter than the minimum runs on into the next shot
        return self._close_open(time_s)

    def finish(self, end_s: float) -> list[Span]:
        done: list[Span] = []
        if end_s - self._open_start >= self.rules.min_clip_s or self._pending is None:
            if end_s > self._open_start:
                done += self._close_open(end_s)
        else:
            done += self._merge_into_pending(end_s)
        if self._pending:
            done.append(self._pending)
            self._pending = None
        return done

    def _close_open(self, end_s: float) -> list[Span]:
        start = self._open_start
        self._open_start = end_s
        if end_s - start <= self.rules.max_clip_s + _SLACK_S:
            return self._close((start, end_s))
        middle = (start + end_s) / 2
        return self._close((start, middle)) + self._close((middle, end_s))

    def _merge_into_pending(self, end_s: float) -> list[Span]:
        """Absorb a short final fragment into the previous clip, halving it if too long."""
        start = self._pending[0]
        self._pending = None
        self._open_start = end_s
        if end_s - start <= self.rules.max_clip_s + _SLACK_S:
            return [(start, end_s)]
        middle = (start + end_s) / 2
        return [(start, middle), (middle, end_s)]

    def _close(self, piece: Span) -> list[Span]:
        done = [self._pending] if self._pending else []
        self._pending = piece
        return done


def plan_segments(cuts: list[float], end_s: float, rules: SegmentRules) -> list[Span]:
    """The clips for a whole video given its cut times (a convenience over Segmenter)."""
    segmenter = Segmenter(rules)
    spans: list[Span] = []
    events = sorted(cuts)
    step = rules.min_clip_s / 4
    t = 0.0
    for cut in events + [end_s]:
        while t < cut:
            spans += segmenter.frame(t)
            t += step
        if cut < end_s:
            spans += segmenter.cut(cut)
    return spans + segmenter.finish(end_s)


def sample_times(span: Span, frames: int) -> list[float]:
    """The midpoints of ``frames`` equal parts of the clip: where its frames are sampled."""
    start, end = span
    step = (end - start) / frames
    return [start + (i + 0.5) * step for i in range(frames)]
