"""Frame hashes in a real SQLite library: stored with the video, replaced, moved, cascaded."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import func, select

from storage import frame_hashes as hash_repo
from storage import repository
from storage.library import Library
from storage.models import FrameHashRow
from tests.storage.records import add_video, delete_path


def _save(library: Library, video_id: int, hashes: list[int], flags: list[bool]) -> None:
    times = np.arange(len(hashes), dtype=np.float32) * 0.5
    with library.session() as session, session.begin():
        hash_repo.save_frame_hashes(
            video_id, times, np.array(hashes, dtype=np.uint64), np.array(flags), session=session
        )


def _stored(library: Library) -> dict[str, hash_repo.VideoHashes]:
    with library.session() as session:
        return {v.path: v for v in hash_repo.indexed_video_hashes(session=session)}


def test_round_trip_keeps_full_64_bit_values(library: Library, rng: np.random.Generator) -> None:
    video_id, _ = add_video(library, "/m/a.mp4", 2, rng)
    values = [0, 2**64 - 1, 2**63, 0x0123456789ABCDEF]
    _save(library, video_id, values, [True, False, True, True])
    stored = _stored(library)["/m/a.mp4"]
    assert [int(v) for v in stored.hashes] == values
    assert stored.informative.tolist() == [True, False, True, True]
    np.testing.assert_allclose(stored.times_s, [0.0, 0.5, 1.0, 1.5])


def test_saving_again_replaces(library: Library, rng: np.random.Generator) -> None:
    video_id, _ = add_video(library, "/m/a.mp4", 1, rng)
    _save(library, video_id, [1, 2, 3], [True] * 3)
    _save(library, video_id, [7], [True])
    assert [int(v) for v in _stored(library)["/m/a.mp4"].hashes] == [7]


def test_mismatched_lengths_are_refused(library: Library, rng: np.random.Generator) -> None:
    video_id, _ = add_video(library, "/m/a.mp4", 1, rng)
    with pytest.raises(ValueError), library.session() as session, session.begin():
        hash_repo.save_frame_hashes(video_id, [0.0, 0.5], [1], [True], session=session)


def test_deleting_the_video_deletes_its_hashes(library: Library, rng: np.random.Generator) -> None:
    video_id, _ = add_video(library, "/m/a.mp4", 1, rng)
    _save(library, video_id, [5, 6], [True, True])
    delete_path(library, "/m/a.mp4")
    with library.session() as session:
        assert session.scalar(select(func.count()).select_from(FrameHashRow)) == 0


def test_a_moved_video_keeps_its_hashes_and_copies_get_them(
    library: Library, rng: np.random.Generator
) -> None:
    video_id, _ = add_video(library, "/m/a.mp4", 1, rng, fingerprint="f" * 64)
    other_id, _ = add_video(library, "/m/copy.mp4", 1, rng, fingerprint="f" * 64)
    _save(library, video_id, [9, 10], [True, True])
    with library.session() as session, session.begin():
        video = repository.get_video_by_path("/m/a.mp4", session=session)
        repository.move_video(video, "/n/b.mp4", 1000, 1, session=session)
        assert hash_repo.copy_frame_hashes(video_id, other_id, session=session)
        assert not hash_repo.copy_frame_hashes(12345, other_id, session=session)
    stored = _stored(library)
    assert set(stored) == {"/n/b.mp4", "/m/copy.mp4"}
    assert [int(v) for v in stored["/m/copy.mp4"].hashes] == [9, 10]
    with library.session() as session:
        groups = hash_repo.fingerprint_groups(session=session)
        assert [[path for _, path in g] for g in groups] == [["/n/b.mp4", "/m/copy.mp4"]]


def test_videos_without_hashes_are_counted(library: Library, rng: np.random.Generator) -> None:
    video_id, _ = add_video(library, "/m/a.mp4", 1, rng)
    add_video(library, "/m/old.mp4", 1, rng)
    _save(library, video_id, [1], [True])
    with library.session() as session:
        assert hash_repo.videos_without_hashes(session=session) == 1
        spans = hash_repo.clip_spans(session=session)
    assert len(spans) == 2 and all(s.end_s > s.start_s for s in spans)
