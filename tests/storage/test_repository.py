"""Repository functions against a real library on each backend (SQLite, PostgreSQL)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from sqlalchemy import select

from storage import repository
from storage.errors import StorageError
from storage.library import Library
from storage.models import ClipFeaturesRow, ClipTombstone
from storage.settings import LibrarySettings
from tests.storage.records import add_video, clip_records, db_clip_ids, delete_path, video_record


def _tombstones(library: Library) -> dict[int, int]:
    with library.session() as session:
        return dict(session.execute(select(ClipTombstone.clip_id, ClipTombstone.generation)).all())


def test_embeddings_are_stored_l2_normalised(
    library: Library, settings: LibrarySettings, rng: np.random.Generator
) -> None:
    clips = clip_records(rng, 2, settings.embed_dim, settings.feature_tokens)
    raw = [c.embedding * 7.5 for c in clips]
    for clip, vector in zip(clips, raw):
        clip.embedding = vector
    with library.session() as session, session.begin():
        video = repository.save_indexed_video(video_record("/m/a.mp4"), clips, session=session)
        ids = [c.id for c in repository.clips_of_video(video.id, session=session)]
        stored = repository.clip_embeddings(ids, session=session)
    for clip_id, vector in zip(ids, raw):
        np.testing.assert_allclose(stored[clip_id], vector / np.linalg.norm(vector), rtol=1e-6)


def test_zero_embedding_is_refused(
    library: Library, settings: LibrarySettings, rng: np.random.Generator
) -> None:
    clips = clip_records(rng, 1, settings.embed_dim, settings.feature_tokens)
    clips[0].embedding = np.zeros(settings.embed_dim, dtype=np.float32)
    with pytest.raises(ValueError, match="non-zero"):
        with library.session() as session, session.begin():
            repository.save_indexed_video(video_record("/m/a.mp4"), clips, session=session)


def test_reindexing_a_path_replaces_its_clips(library: Library, rng: np.random.Generator) -> None:
    video_id, old_ids = add_video(library, "/m/a.mp4", 3, rng)
    new_video_id, new_ids = add_video(library, "/m/a.mp4", 2, rng)
    assert new_video_id == video_id
    assert db_clip_ids(library) == set(new_ids)
    assert min(new_ids) > max(old_ids)
    assert _tombstones(library) == {i: 2 for i in old_ids}


def test_clip_ids_are_never_reused(library: Library, rng: np.random.Generator) -> None:
    _, first = add_video(library, "/m/a.mp4", 2, rng)
    delete_path(library, "/m/a.mp4")
    _, second = add_video(library, "/m/b.mp4", 2, rng)
    assert min(second) > max(first)


def test_failed_video_replaces_an_indexed_one(library: Library, rng: np.random.Generator) -> None:
    _, clip_ids = add_video(library, "/m/a.mp4", 3, rng)
    add_video(library, "/m/b.mp4", 2, rng)
    with library.session() as session, session.begin():
        failed = repository.save_failed_video(
            "/m/a.mp4", 10, 20, "moov atom not found", "f" * 64, session=session
        )
        assert (failed.status, failed.error, failed.width, failed.codec) == (
            "failed",
            "moov atom not found",
            None,
            None,
        )
    with library.session() as session:
        assert repository.counts(session=session) == (1, 2, 1)
        assert [v.path for v in repository.failed_videos(session=session)] == ["/m/a.mp4"]
        assert repository.videos_by_fingerprint("f" * 64, session=session) == []
    assert set(_tombstones(library)) == set(clip_ids)


def test_move_keeps_clip_ids_and_replaces_the_occupant(
    library: Library, rng: np.random.Generator
) -> None:
    video_id, moved_ids = add_video(library, "/m/a.mp4", 3, rng, fingerprint="a" * 64)
    _, occupant_ids = add_video(library, "/m/b.mp4", 2, rng)
    with library.session() as session, session.begin():
        video = repository.get_video_by_path("/m/a.mp4", session=session)
        repository.move_video(video, "/m/b.mp4", 1234, 99, session=session)
    with library.session() as session:
        assert repository.get_video_by_path("/m/a.mp4", session=session) is None
        moved = repository.get_video_by_path("/m/b.mp4", session=session)
        assert (moved.id, moved.size_bytes, moved.mtime_ns) == (video_id, 1234, 99)
        clips = repository.clips_of_video(video_id, session=session)
        assert [c.id for c in clips] == moved_ids
        assert [v.id for v in repository.videos_by_fingerprint("a" * 64, session=session)] == [
            video_id
        ]
    assert db_clip_ids(library) == set(moved_ids)
    assert set(_tombstones(library)) == set(occupant_ids)


def test_videos_under_matches_whole_path_components(
    library: Library, rng: np.random.Generator
) -> None:
    paths = [
        "/a/b",
        "/a/b/x.mp4",
        "/a/b/c/y.mp4",
        "/a/bc/z.mp4",
        "/A/b/u.mp4",
        "/a/b%/v.mp4",
        "/a/b_/w.mp4",
        "/other/q.mp4",
    ]
    for path in paths:
        add_video(library, path, 1, rng)

    def under(*roots: str) -> list[str]:
        with library.session() as session:
            return [v.path for v in repository.videos_under(list(roots), session=session)]

    assert under("/a/b") == ["/a/b", "/a/b/c/y.mp4", "/a/b/x.mp4"]
    assert under("/a/b/") == under("/a/b")
    assert under("/a/b%") == ["/a/b%/v.mp4"]
    assert under("/a/b_") == ["/a/b_/w.mp4"]
    assert under("/a/b/x.mp4", "/other") == ["/a/b/x.mp4", "/other/q.mp4"]
    assert under("/") == sorted(paths)
    assert under() == []


def test_clip_lookups_skip_vanished_ids(
    library: Library, settings: LibrarySettings, rng: np.random.Generator
) -> None:
    video_id, clip_ids = add_video(library, "/m/a.mp4", 3, rng)
    wanted = [*clip_ids, 999]
    with library.session() as session:
        hits = repository.clip_hits(wanted, session=session)
        inputs = repository.clip_rerank_inputs(wanted, session=session)
        embeddings = repository.clip_embeddings(wanted, session=session)
        clips = repository.clips_of_video(video_id, session=session)
    assert set(hits) == set(inputs) == set(embeddings) == set(clip_ids)
    first = hits[clip_ids[0]]
    assert (first.video_id, first.path, first.start_s, first.end_s) == (video_id, "/m/a.mp4", 0, 2)
    assert [c.start_s for c in clips] == [0.0, 2.0, 4.0]
    for clip_id, (array, embedding) in inputs.items():
        assert array.shape == (settings.feature_tokens, settings.embed_dim)
        assert array.dtype == np.float16 and not array.flags.writeable  # a view of the row
        np.testing.assert_array_equal(embedding, embeddings[clip_id])


def _feature_ids(library: Library) -> set[int]:
    with library.session() as session:
        return set(session.scalars(select(ClipFeaturesRow.clip_id)))


@pytest.mark.parametrize("encoding", ["float16", "int8"])
def test_features_round_trip_in_the_librarys_encoding(
    open_library, settings: LibrarySettings, rng: np.random.Generator, encoding: str
) -> None:
    """Stored as the library was made (float16 exactly as numpy rounds, int8 within half a step
    of each token); the stored encoding wins when the library is bound again."""
    made = replace(settings, feature_encoding=encoding)
    clips = clip_records(rng, 3, settings.embed_dim, settings.feature_tokens)
    with open_library() as library:
        library.bind(made)
        with library.session() as session, session.begin():
            video = repository.save_indexed_video(video_record("/m/a.mp4"), clips, session=session)
            ids = [c.id for c in repository.clips_of_video(video.id, session=session)]
    other = "int8" if encoding == "float16" else "float16"
    with open_library() as library:
        assert library.bind(replace(settings, feature_encoding=other)).feature_encoding == encoding
        with library.session() as session:
            inputs = repository.clip_rerank_inputs(ids, session=session)
            features = repository.clip_features([*ids, 999], session=session)
            tags = {d[0] for d in session.scalars(select(ClipFeaturesRow.data))}
    assert tags == {1 if encoding == "float16" else 2}
    assert set(features) == set(ids)
    for clip_id, clip in zip(ids, clips, strict=True):
        if encoding == "float16":
            expected = clip.features.astype(np.float16).astype(np.float32)
            np.testing.assert_array_equal(inputs[clip_id][0], expected)
        else:
            step = np.abs(clip.features).max(axis=1, keepdims=True) / 127
            assert np.all(np.abs(inputs[clip_id][0] - clip.features) <= step * (0.5 + 1e-4))
        np.testing.assert_array_equal(features[clip_id], inputs[clip_id][0])


def test_features_go_with_their_clips_and_stay_with_moved_ones(
    library: Library, rng: np.random.Generator
) -> None:
    """Re-index, failure, delete and move: a clip has a features row exactly while it exists."""
    _, replaced = add_video(library, "/m/a.mp4", 3, rng)
    _, current = add_video(library, "/m/a.mp4", 2, rng)  # re-indexed: new clips
    _, failing = add_video(library, "/m/b.mp4", 2, rng)
    _, deleted = add_video(library, "/m/c.mp4", 2, rng)
    _, moved = add_video(library, "/m/d.mp4", 2, rng)
    assert _feature_ids(library) == set(current + failing + deleted + moved)
    with library.session() as session, session.begin():
        repository.save_failed_video("/m/b.mp4", 1, 1, "unreadable", None, session=session)
        video = repository.get_video_by_path("/m/d.mp4", session=session)
        repository.move_video(video, "/n/d.mp4", 1, 1, session=session)
    delete_path(library, "/m/c.mp4")
    assert _feature_ids(library) == db_clip_ids(library) == set(current + moved)
    assert not set(replaced) & _feature_ids(library)


def test_changes_need_a_bound_library(open_library) -> None:
    with open_library() as lib, lib.session() as session:
        with pytest.raises(StorageError, match="bind"):
            repository.save_failed_video("/m/a.mp4", 1, 1, "boom", None, session=session)


def test_clip_ids_matching_filters_by_folder_recording_time_and_duration(
    library: Library, settings: LibrarySettings, rng: np.random.Generator
) -> None:
    day_ns = 86_400 * 10**9
    videos = {  # path: (mtime in days since the epoch, duration in seconds)
        "/m/a/one.mp4": (100, 5.0),
        "/m/a/two.mp4": (200, 60.0),
        "/m/ab/three.mp4": (300, 30.0),
        "/n/four.mp4": (400, 10.0),
    }
    clip_ids = {}
    for path, (day, duration_s) in videos.items():
        record = replace(video_record(path), mtime_ns=day * day_ns, duration_s=duration_s)
        clips = clip_records(rng, 2, settings.embed_dim, settings.feature_tokens)
        with library.session() as session, session.begin():
            video = repository.save_indexed_video(record, clips, session=session)
            clip_ids[path] = [c.id for c in repository.clips_of_video(video.id, session=session)]
    with library.session() as session, session.begin():
        repository.save_failed_video(
            "/m/a/broken.mp4", 1, 150 * day_ns, "bad", None, session=session
        )

    def matching(**fields) -> list[str]:
        wanted = repository.VideoFilter(**fields)
        with library.session() as session:
            ids = repository.clip_ids_matching(wanted, session=session)
        assert ids.dtype == np.int64 and list(ids) == sorted(ids)
        found = [path for path, clips in clip_ids.items() if set(clips) <= set(ids.tolist())]
        assert sum(len(clip_ids[path]) for path in found) == len(ids)  # whole videos only
        return found

    assert not repository.VideoFilter() and repository.VideoFilter(min_duration_s=0.0)
    assert matching() == list(videos)
    assert matching(folders=("/m/a",)) == ["/m/a/one.mp4", "/m/a/two.mp4"]
    assert matching(folders=("/m/a/", "/n")) == ["/m/a/one.mp4", "/m/a/two.mp4", "/n/four.mp4"]
    assert matching(after_ns=200 * day_ns) == ["/m/a/two.mp4", "/m/ab/three.mp4", "/n/four.mp4"]
    assert matching(before_ns=200 * day_ns) == ["/m/a/one.mp4"]
    assert matching(after_ns=150 * day_ns, before_ns=350 * day_ns) == [
        "/m/a/two.mp4",
        "/m/ab/three.mp4",
    ]
    assert matching(min_duration_s=10.0, max_duration_s=30.0) == ["/m/ab/three.mp4", "/n/four.mp4"]
    assert matching(folders=("/m",), max_duration_s=29.9) == ["/m/a/one.mp4"]
    assert matching(folders=("/nowhere",)) == []
