"""The settler on real files with a fake clock: a file is due once its size and mtime held
still for the settle time, exactly once, and never while it keeps changing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from indexer.settle import Settler


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _append(path: Path, data: bytes, mtime_ns: int) -> None:
    with path.open("ab") as handle:
        handle.write(data)
    os.utime(path, ns=(mtime_ns, mtime_ns))


def test_a_quiet_file_is_due_once_after_the_settle_time(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "a.mp4"
    path.write_bytes(b"x" * 100)
    settler = Settler(2.0, clock)
    settler.touch(path)
    clock.advance(1.9)
    assert settler.due() == []
    assert settler.next_due_in() == pytest.approx(0.1)
    clock.advance(0.2)
    assert settler.due() == [(path, 0)]
    assert settler.due() == [] and len(settler) == 0


def test_a_growing_file_waits_for_its_last_write(tmp_path: Path, clock: FakeClock) -> None:
    """No event is needed: the settler re-reads size and mtime on every check."""
    path = tmp_path / "slow.mp4"
    path.write_bytes(b"")
    settler = Settler(2.0, clock)
    settler.touch(path)
    for step in range(5):
        clock.advance(1.5)
        _append(path, b"y" * 10, 10**18 + step)
        assert settler.due() == [], f"due while still growing (write {step})"
    clock.advance(1.9)
    assert settler.due() == []
    clock.advance(0.2)
    assert settler.due() == [(path, 0)]


def test_a_touch_restarts_the_quiet_period(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "a.mp4"
    path.write_bytes(b"x")
    settler = Settler(1.0, clock)
    settler.touch(path)
    clock.advance(0.8)
    settler.touch(path)  # an event for an unchanged file (e.g. closed after a zero-byte write)
    clock.advance(0.8)
    assert settler.due() == []
    clock.advance(0.3)
    assert [p for p, _ in settler.due()] == [path]


def test_vanished_files_are_dropped(tmp_path: Path, clock: FakeClock) -> None:
    kept, gone, never = tmp_path / "kept.mp4", tmp_path / "gone.mp4", tmp_path / "never.mp4"
    kept.write_bytes(b"1")
    gone.write_bytes(b"2")
    settler = Settler(0.5, clock)
    for path in (kept, gone, never):
        settler.touch(path)
    assert len(settler) == 2  # a path that does not exist is not kept at all
    gone.unlink()
    clock.advance(1.0)
    assert settler.due() == [(kept, 0)]
    assert len(settler) == 0


def test_forget_under_drops_a_folder(tmp_path: Path, clock: FakeClock) -> None:
    (tmp_path / "sub").mkdir()
    inside, outside = tmp_path / "sub" / "a.mp4", tmp_path / "b.mp4"
    for path in (inside, outside):
        path.write_bytes(b"z")
    settler = Settler(0.5, clock)
    settler.touch(inside)
    settler.touch(outside)
    settler.forget_under(tmp_path / "sub")
    clock.advance(1.0)
    assert settler.due() == [(outside, 0)]


def test_deferral_counts_until_the_file_changes(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "a.mp4"
    path.write_bytes(b"header")
    settler = Settler(1.0, clock)
    settler.touch(path)
    clock.advance(1.0)
    ((due, deferrals),) = settler.due()
    settler.defer(due, deferrals)
    clock.advance(0.5)
    assert settler.due() == []  # a deferred file gets a whole new quiet period
    clock.advance(0.5)
    ((due, deferrals),) = settler.due()
    assert deferrals == 1
    settler.defer(due, deferrals)
    _append(path, b"more", 10**18)
    clock.advance(1.0)
    assert settler.due() == []  # it changed: the quiet period restarts...
    clock.advance(1.0)
    assert settler.due() == [(path, 0)]  # ...and it is no longer counted as unreadable


def test_negative_settle_time_is_refused(clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="negative"):
        Settler(-1.0, clock)
