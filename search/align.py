"""Temporal alignment: turn scattered frame matches between two videos into matched spans.

A frame of A looking like a frame of B proves little (two sunsets, two title cards). A copied
segment shows up as a *run*: many matches at one constant time offset (B time - A time), one
after another without long gaps. So matches vote for their offset; the strongest offset's
matches are cut into runs at gaps, and a run counts only if it lasts long enough. Its matches
are then removed (with every other match inside its spans) and the next offset is tried, which
finds several reused segments between the same two videos.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AlignRules:
    """How matches become runs. Times in seconds."""

    step_s: float = 0.5  # time between hashed frames
    min_seconds: float = 2.0  # shortest run reported
    max_gap_s: float = 1.0  # a longer stretch without matches ends a run
    # Matches within this of the run's offset belong to it: two videos hashed on their own
    # grids of ticks pair frames up to half a step (plus a frame) apart.
    offset_tol_s: float = 0.3


@dataclass(frozen=True)
class Run:
    """A monotonic run of matches: A [a_start, a_end] ~ B [b_start, b_end]."""

    a_start_s: float
    a_end_s: float
    b_start_s: float
    b_end_s: float
    matches: int
    mean_distance: float  # mean Hamming distance of the matched frame pairs (0-64)

    @property
    def offset_s(self) -> float:
        return self.b_start_s - self.a_start_s

    @property
    def seconds(self) -> float:
        return self.a_end_s - self.a_start_s


def aligned_runs(
    a_times: np.ndarray, b_times: np.ndarray, distances: np.ndarray, rules: AlignRules
) -> list[Run]:
    """Runs among the matches (``a_times[i]`` ~ ``b_times[i]`` at ``distances[i]``)."""
    a_times = np.asarray(a_times, dtype=np.float64)
    b_times = np.asarray(b_times, dtype=np.float64)
    distances = np.asarray(distances, dtype=np.float64)
    min_matches = max(2, int(np.ceil(rules.min_seconds / rules.step_s)))
    alive = np.ones(len(a_times), dtype=bool)
    runs: list[Run] = []
    while alive.sum() >= min_matches:
        offsets = b_times - a_times
        offset = _strongest_offset(offsets[alive], rules)
        band = alive & (np.abs(offsets - offset) <= rules.offset_tol_s)
        found = _runs_in_band(a_times[band], b_times[band], distances[band], offset, rules)
        alive &= ~band
        for run in found:
            runs.append(run)
            alive &= ~_inside(a_times, run.a_start_s, run.a_end_s)
            alive &= ~_inside(b_times, run.b_start_s, run.b_end_s)
    return sorted(runs, key=lambda r: (r.a_start_s, r.b_start_s))


def _strongest_offset(offsets: np.ndarray, rules: AlignRules) -> float:
    """The offset most matches agree on (votes in bins of half the tolerance, smoothed)."""
    width = rules.offset_tol_s / 2
    bins = np.round(offsets / width).astype(np.int64)
    values, counts = np.unique(bins, return_counts=True)
    # Count each bin's neighbours too, so an offset straddling two bins is not split.
    smoothed = counts.copy()
    for shift in (-1, 1):
        neighbour = np.searchsorted(values, values + shift)
        hit = (neighbour < len(values)) & (
            values[np.minimum(neighbour, len(values) - 1)] == values + shift
        )
        smoothed[hit] += counts[neighbour[hit]]
    best = values[int(smoothed.argmax())]
    near = np.abs(bins - best) <= 1
    return float(np.median(offsets[near]))


def _runs_in_band(
    a_times: np.ndarray,
    b_times: np.ndarray,
    distances: np.ndarray,
    offset_s: float,
    rules: AlignRules,
) -> list[Run]:
    """Cut one offset's matches into monotonic runs at gaps, keeping the long ones."""
    # One match per A frame: the one nearest the band's offset (a still shot matches many
    # frames of the copy; the nearest in time is the aligned one), then the closest hash.
    skew = np.abs(b_times - a_times - offset_s)
    order = np.lexsort((distances, skew, a_times))
    a_times, b_times, distances = a_times[order], b_times[order], distances[order]
    keep = np.ones(len(a_times), dtype=bool)
    keep[1:] = a_times[1:] > a_times[:-1]
    a_times, b_times, distances = a_times[keep], b_times[keep], distances[keep]
    # B must move forward with A: drop a match that would step back.
    forward = np.ones(len(b_times), dtype=bool)
    forward[1:] = b_times[1:] > np.maximum.accumulate(b_times)[:-1]
    a_times, b_times, distances = a_times[forward], b_times[forward], distances[forward]
    runs: list[Run] = []
    start = 0
    for i in range(1, len(a_times) + 1):
        broken = i == len(a_times) or a_times[i] - a_times[i - 1] > rules.max_gap_s + 1e-6
        if not broken:
            continue
        run = _run(a_times[start:i], b_times[start:i], distances[start:i], rules)
        if run.seconds + 1e-6 >= rules.min_seconds:
            runs.append(run)
        start = i
    return runs


def _run(a: np.ndarray, b: np.ndarray, distances: np.ndarray, rules: AlignRules) -> Run:
    # A hashed frame stands for the step after it, so a run ends one step after its last match.
    return Run(
        float(a[0]),
        float(a[-1] + rules.step_s),
        float(b[0]),
        float(b[-1] + rules.step_s),
        len(a),
        float(distances.mean()),
    )


def _inside(times: np.ndarray, start_s: float, end_s: float) -> np.ndarray:
    return (times >= start_s - 1e-6) & (times < end_s - 1e-6)
