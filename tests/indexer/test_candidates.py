"""The window's bounds are sound: no clip ever samples a time the bounds had ruled out.

The segmenter is driven over many random frame sequences (constant and variable rates, cuts
anywhere, some reported late as the flash filter does, videos ending at any moment); at every
frame the bounds are taken, and afterwards every midpoint of every clip that was not yet final
at that frame must lie inside them.
"""

from __future__ import annotations

import numpy as np
import pytest

from indexer.candidates import Candidates, candidate_samples, midpoint_ranges
from indexer.segment import Segmenter, SegmentRules, sample_times

RULES = SegmentRules(2.0, 10.0)
PARTS = 8


def _inside(candidates: Candidates, times: np.ndarray) -> np.ndarray:
    """Which of ``times`` the bounds allow."""
    times = np.asarray(times, dtype=float)
    inside = times >= candidates.future_from_s - 1e-9
    if candidates.ranges or candidates.rare_ranges:
        ranges = np.asarray(candidates.ranges + candidates.rare_ranges)
        inside |= (
            (times[:, None] >= ranges[None, :, 0] - 1e-9)
            & (times[:, None] <= ranges[None, :, 1] + 1e-9)
        ).any(axis=1)
    return inside


def _simulate(rng: np.random.Generator) -> None:
    fps = rng.choice([10.0, 24.0, 30.0, 60.0])
    gaps = np.full(rng.integers(20, 1500), 1 / fps)
    if rng.random() < 0.5:  # variable frame rate
        gaps *= rng.uniform(0.3, 3.0, gaps.size)
    times = np.cumsum(gaps) - gaps[0]
    cut_frames = set(rng.choice(times.size, size=rng.integers(0, 12)).tolist())
    delay_frames = int(rng.integers(0, 20)) if rng.random() < 0.5 else 0
    segmenter = Segmenter(RULES)
    bounds: list[tuple[int, Candidates]] = []  # (clips closed so far, bounds at that frame)
    closed: list = []
    waiting: list[tuple[int, float]] = []  # cuts the "detector" has not reported yet
    longest_gap = gaps.max()
    for index, now in enumerate(times):
        if index in cut_frames:
            waiting.append((index + delay_frames, float(now)))
        for due, cut in [w for w in waiting if w[0] <= index]:
            waiting.remove((due, cut))
            closed += segmenter.cut(cut)
        closed += segmenter.frame(float(now))
        held = min((cut for _, cut in waiting), default=np.inf)
        bounds.append(
            (
                len(closed),
                candidate_samples(
                    rules=RULES,
                    parts=PARTS,
                    open_start_s=segmenter.open_start_s,
                    pending=segmenter.pending,
                    now_s=float(now),
                    earliest_unreported_cut_s=held,
                    longest_gap_s=float(longest_gap),
                ),
            )
        )
    interval = float(gaps[-1]) if times.size > 1 else 1 / fps
    closed += segmenter.finish(float(times[-1]) + interval)
    midpoints = [np.array(sample_times(span, PARTS)) for span in closed]
    for done_before, candidates in bounds:
        if done_before == len(closed):
            continue
        later = np.concatenate(midpoints[done_before:])
        outside = later[~_inside(candidates, later)]
        assert outside.size == 0, (outside, candidates.future_from_s)


@pytest.mark.parametrize("seed", range(40))
def test_no_clip_samples_outside_the_bounds(seed) -> None:
    _simulate(np.random.default_rng(seed))


def test_bounds_narrow_as_the_open_clip_grows() -> None:
    """Early in a shot every time may be sampled; 8 s in, much of it is ruled out."""

    def covered(now: float) -> float:
        c = candidate_samples(
            rules=RULES, parts=PARTS, open_start_s=0.0, pending=(-10.0, 0.0), now_s=now
        )
        return float(np.mean(_inside(c, np.linspace(0.0, now, 2001))))

    assert covered(2.5) > 0.9
    assert covered(8.0) < 0.85
    assert covered(11.0) < 0.65


def test_midpoint_ranges_of_one_length_are_its_midpoints() -> None:
    ranges = midpoint_ranges(3.0, 4.0, 4.0, RULES, PARTS)
    assert [lo for lo, _ in ranges] == pytest.approx(sample_times((3.0, 7.0), PARTS))
    assert all(lo == hi for lo, hi in ranges)
