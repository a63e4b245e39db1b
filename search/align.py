"""Temporal alignment: turn scattered frame matches between two videos into matched spans.

A frame of A looking like a frame of B proves little (two sunsets, two title cards). A copied
segment shows up as a *run*: many matches on one line ``B time = rate * A time + offset``, one
after another without long gaps. The rate is 1 for a plain copy and 0.8-1.25 for footage sped up
or slowed down. So matches vote for a (rate, offset) cell, a Hough transform over the rates of
``RATES`` (as VCSL's and the VSC 2022 localisers vote over temporal alignments); the winning
line is refined by least squares on its own matches, and its matches are cut into runs at
gaps; a run counts only if it lasts long enough. Its matches are then removed (with every other
match inside its spans) and the next line is tried, which finds several reused segments between
the same two videos.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Playback rates tried (B seconds per A second): 1 first, then 0.8-1.25 in 1.5 % steps.
RATES = np.r_[1.0, np.round(np.exp(np.arange(np.log(0.8), np.log(1.25) + 1e-9, 0.015)), 4)]
# Another rate must beat rate 1 by this factor of votes (a plain copy stays a plain copy).
_RATE_MARGIN = 1.2


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
    rate: float = 1.0  # B seconds per A second

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
        rate, offset = _strongest_line(a_times[alive], b_times[alive], rules)
        band = alive & (np.abs(b_times - rate * a_times - offset) <= rules.offset_tol_s)
        rate, offset = _refined(a_times[band], b_times[band], rate, offset)
        band |= alive & (np.abs(b_times - rate * a_times - offset) <= rules.offset_tol_s)
        found = _runs_in_band(a_times[band], b_times[band], distances[band], rate, offset, rules)
        alive &= ~band
        for run in found:
            runs.append(run)
            alive &= ~_inside(a_times, run.a_start_s, run.a_end_s)
            alive &= ~_inside(b_times, run.b_start_s, run.b_end_s)
    return sorted(runs, key=lambda r: (r.a_start_s, r.b_start_s))


def _strongest_line(a: np.ndarray, b: np.ndarray, rules: AlignRules) -> tuple[float, float]:
    """The (rate, offset) most matches agree on; rate 1 unless another clearly wins. All rates
    vote at once: one bincount over (rate, offset bin) cells, smoothed along the offsets."""
    width = rules.offset_tol_s / 2
    bins = np.round((b[None, :] - RATES[:, None] * a[None, :]) / width).astype(np.int64)
    low = int(bins.min())
    span = int(bins.max()) - low + 3  # a free cell on each side for the smoothing
    cells = (bins - low + 1) + np.arange(len(RATES))[:, None] * span
    counts = np.bincount(cells.ravel(), minlength=len(RATES) * span).reshape(len(RATES), span)
    smoothed = counts.copy()
    smoothed[:, 1:] += counts[:, :-1]
    smoothed[:, :-1] += counts[:, 1:]
    tops = smoothed.argmax(axis=1)
    votes = smoothed[np.arange(len(RATES)), tops]
    best = int(votes.argmax())
    if votes[best] < _RATE_MARGIN * votes[0]:
        best = 0
    top = int(tops[best]) + low - 1
    near = np.abs(bins[best] - top) <= 1
    offsets = b - RATES[best] * a
    return float(RATES[best]), float(np.median(offsets[near]))


def _refined(a: np.ndarray, b: np.ndarray, rate: float, offset: float) -> tuple[float, float]:
    """Least squares on the line's own matches (a rate stays 1 unless the fit is clear)."""
    if rate == 1.0 or len(a) < 4 or np.ptp(a) < 1.0:
        return rate, offset
    slope, intercept = np.polyfit(a, b, 1)
    if not RATES.min() - 0.02 <= slope <= RATES.max() + 0.02:
        return rate, offset
    return float(slope), float(intercept)


def _runs_in_band(
    a_times: np.ndarray,
    b_times: np.ndarray,
    distances: np.ndarray,
    rate: float,
    offset_s: float,
    rules: AlignRules,
) -> list[Run]:
    """Cut one line's matches into monotonic runs at gaps, keeping the long ones."""
    # One match per A frame: the one nearest the line (a still shot matches many frames of
    # the copy; the nearest in time is the aligned one), then the closest hash.
    skew = np.abs(b_times - rate * a_times - offset_s)
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
        run = _run(a_times[start:i], b_times[start:i], distances[start:i], rate, rules)
        if run.seconds + 1e-6 >= rules.min_seconds:
            runs.append(run)
        start = i
    return runs


def _run(
    a: np.ndarray, b: np.ndarray, distances: np.ndarray, rate: float, rules: AlignRules
) -> Run:
    # A hashed frame stands for the step after it, so a run ends one step after its last match
    # (a step of A is ``rate`` steps of B).
    return Run(
        float(a[0]),
        float(a[-1] + rules.step_s),
        float(b[0]),
        float(b[-1] + rules.step_s * rate),
        len(a),
        float(distances.mean()),
        rate,
    )


def _inside(times: np.ndarray, start_s: float, end_s: float) -> np.ndarray:
    return (times >= start_s - 1e-6) & (times < end_s - 1e-6)
