"""Temporal alignment of frame matches into runs (pure numpy; no video needed)."""

from __future__ import annotations

import numpy as np
import pytest

from search.align import AlignRules, aligned_runs

RULES = AlignRules()


def _matches(pairs: list[tuple[float, float, float]]):
    a, b, d = zip(*pairs)
    return np.array(a), np.array(b), np.array(d)


def test_a_constant_offset_becomes_one_run_with_its_spans() -> None:
    pairs = [(5.0 + i * 0.5, i * 0.5, 2.0) for i in range(10)]  # A 5-10 ~ B 0-5
    (run,) = aligned_runs(*_matches(pairs), RULES)
    assert (run.a_start_s, run.a_end_s, run.b_start_s, run.b_end_s) == (5.0, 10.0, 0.0, 5.0)
    assert run.matches == 10 and run.mean_distance == 2.0 and run.offset_s == -5.0


def test_scattered_look_alikes_make_no_run() -> None:
    rng = np.random.default_rng(3)
    a = rng.uniform(0, 60, 40)
    b = rng.uniform(0, 60, 40)
    assert aligned_runs(a, b, np.full(40, 4.0), RULES) == []


def test_a_run_shorter_than_min_seconds_is_ignored() -> None:
    pairs = [(i * 0.5, 10 + i * 0.5, 0.0) for i in range(3)]  # 1.5 s of shared intro
    assert aligned_runs(*_matches(pairs), RULES) == []
    assert len(aligned_runs(*_matches(pairs), AlignRules(min_seconds=1.0))) == 1


def test_a_gap_splits_runs_and_two_offsets_give_two_segments() -> None:
    first = [(i * 0.5, 20 + i * 0.5, 1.0) for i in range(6)]  # A 0-3 ~ B 20-23
    later = [(10 + i * 0.5, 20 + 10 + i * 0.5, 1.0) for i in range(6)]  # same offset, after a gap
    other = [(40 + i * 0.5, 2 + i * 0.5, 1.0) for i in range(8)]  # A 40-44 ~ B 2-6
    runs = aligned_runs(*_matches(first + later + other), RULES)
    spans = [(r.a_start_s, r.a_end_s, r.b_start_s, r.b_end_s) for r in runs]
    assert spans == [(0.0, 3.0, 20.0, 23.0), (10.0, 13.0, 30.0, 33.0), (40.0, 44.0, 2.0, 6.0)]


def test_a_still_shot_matching_every_frame_aligns_on_the_diagonal() -> None:
    """A static shot in both videos matches all frames with all frames; the copy is the
    diagonal, not a mixture of offsets that breaks monotonicity."""
    ticks = np.arange(10) * 0.5
    a, b = np.meshgrid(ticks, ticks + 0.02, indexing="ij")
    distances = np.where(np.isclose(a, b - 0.02), 2.0, 4.0)
    (run,) = aligned_runs(a.ravel(), b.ravel(), distances.ravel(), RULES)
    assert run.a_start_s == 0.0 and run.a_end_s == pytest.approx(5.0)
    assert run.b_start_s == pytest.approx(0.02) and run.matches == 10


def test_one_missing_frame_does_not_break_a_run_but_a_long_gap_does() -> None:
    pairs = [(t, t + 1.0, 0.0) for t in (0.0, 0.5, 1.0, 2.0, 2.5, 3.0)]  # 1.5 missing
    assert len(aligned_runs(*_matches(pairs), RULES)) == 1
    pairs = [(t, t + 1.0, 0.0) for t in (0.0, 0.5, 1.0, 1.5, 4.0, 4.5, 5.0, 5.5)]
    assert len(aligned_runs(*_matches(pairs), RULES)) == 2


@pytest.mark.parametrize("rate", [0.8, 1.1, 1.25])
def test_a_speed_change_is_one_run_on_a_sloped_line(rate: float) -> None:
    """B plays A's 0-10 s at ``rate`` A seconds per B second from B's 2 s: one run, not pieces."""
    b_times = np.arange(2.0, 2.0 + 10.0 / rate, 0.5)
    a_times = (b_times - 2.0) * rate
    pairs = [(a, b, 3.0) for a, b in zip(a_times, b_times) if a < 10.0]
    (run,) = aligned_runs(*_matches(pairs), RULES)
    assert run.rate == pytest.approx(1 / rate, abs=0.01)
    assert run.a_start_s == 0.0 and abs(run.a_end_s - 10.0) <= 0.6
    assert run.b_start_s == 2.0 and abs(run.b_end_s - (2.0 + 10.0 / rate)) <= 0.6


def test_a_plain_copy_keeps_rate_one() -> None:
    pairs = [(i * 0.5, 1.0 + i * 0.5, 1.0) for i in range(12)]
    (run,) = aligned_runs(*_matches(pairs), RULES)
    assert run.rate == 1.0
