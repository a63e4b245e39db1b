"""Where the sample times of the clips that are not final yet can still fall.

A clip samples the frame nearest each midpoint of its ``N`` equal parts, but while a video is
being decoded the open clip's end is not known: a cut may come at any later frame, the clip may
be split at the maximum length, halved when a cut comes just past it, or end with the video.
The look-back window must keep every frame that could still be nearest to one of those
midpoints (it may drop the others). This module bounds them: for each clip that may still be
closed, the clip lengths it can still get, and for those, the ranges its midpoints sweep.

The bounds follow the segmenter's rules (``indexer.segment``): the open clip starting at ``s``
ends at a reported cut at least ``min_clip_s`` after ``s`` (halved if longer than
``max_clip_s``), at ``s + max_clip_s`` (forced split), or at the video's end (``finish``: the
last frame time plus the last frame gap); the held-back clip ``(ps, pe)`` is final unless the
video ends less than ``min_clip_s`` after ``pe``, when the fragment merges into it (halved if
too long). Frame times only grow, so once the latest frame is at ``now_s``, no cut can come
before it except one the shot detector still holds back (``earliest_unreported_cut_s``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from indexer.segment import SegmentRules, Span

# A halved clip is one longer than max_clip_s by more than this (indexer.segment._SLACK_S).
_HALVING_SLACK_S = 1e-6

Range = tuple[float, float]


def midpoint_ranges(
    start_s: float, shortest_s: float, longest_s: float, rules: SegmentRules, parts: int
) -> list[Range]:
    """The ranges swept by the sample midpoints of clips starting at ``start_s`` whose length
    is anywhere in ``[shortest_s, longest_s]``, halved where longer than the maximum."""
    return _whole(start_s, shortest_s, longest_s, rules, parts) + _halved(
        start_s, shortest_s, longest_s, rules, parts
    )


def _whole(start_s: float, shortest_s: float, longest_s: float, rules, parts: int) -> list[Range]:
    whole_to = min(longest_s, rules.max_clip_s + _HALVING_SLACK_S)
    if shortest_s > whole_to:
        return []
    shares = [(k + 0.5) / parts for k in range(parts)]
    return [(start_s + share * shortest_s, start_s + share * whole_to) for share in shares]


def _halved(start_s: float, shortest_s: float, longest_s: float, rules, parts: int) -> list[Range]:
    if longest_s <= rules.max_clip_s:
        return []
    # Two halves of N parts each: 2N equal parts of the whole.
    halved_from = max(shortest_s, rules.max_clip_s)
    shares = [(j + 0.5) / (2 * parts) for j in range(2 * parts)]
    return [(start_s + share * halved_from, start_s + share * longest_s) for share in shares]


@dataclass(frozen=True)
class Candidates:
    """Where samples may still fall: inside ``ranges`` or ``rare_ranges``, or at or after
    ``future_from_s`` (clips that have not started yet). ``rare_ranges`` are those of outcomes
    that need a cut within ``min_clip_s`` past the maximum length (the clip is halved) or the
    video to end within ``min_clip_s`` (the fragment merges into the held-back clip): the
    window lets their pictures go first when memory runs short."""

    ranges: list[Range]
    future_from_s: float
    rare_ranges: list[Range] = field(default_factory=list)


def candidate_samples(
    *,
    rules: SegmentRules,
    parts: int,
    open_start_s: float,
    pending: Span | None,
    now_s: float,
    earliest_unreported_cut_s: float = math.inf,
    longest_gap_s: float = 0.0,
) -> Candidates:
    """Bound the sample times of every clip not yet final, at a moment when frames up to
    ``now_s`` have been seen (``longest_gap_s``: the longest gap between frames so far, for
    the video's end, which is the last frame time plus the last gap)."""
    s, low, high = open_start_s, rules.min_clip_s, rules.max_clip_s
    held = earliest_unreported_cut_s
    earliest_end = now_s if held < s + low else min(now_s, held)  # earlier cuts are ignored
    shortest = max(low if pending is not None else 0.0, earliest_end - s)
    longest = high + low + longest_gap_s
    ranges = _whole(s, shortest, longest, rules, parts)
    ranges += _whole(s, high, high, rules, parts)  # the forced split at the maximum
    rare = _halved(s, shortest, longest, rules, parts)
    future_from = min(s + shortest, s + high)
    if pending is not None:
        ps, pe = pending
        ranges += midpoint_ranges(ps, pe - ps, pe - ps, rules, parts)
        if now_s < pe + low:  # the video may still end within min_clip_s: merged, maybe halved
            rare += midpoint_ranges(ps, max(now_s, pe) - ps, pe + low - ps, rules, parts)
    return Candidates(ranges, future_from, rare)
