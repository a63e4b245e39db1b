"""Re-indexing: unchanged files are skipped, moves keep clip ids, deletions are pruned, and the
FAISS cache agrees with the database after every step, after reopening, and when it is stale."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from storage import repository as repo
from storage.library import Library
from tests.support.cli import run_json


def clip_ids(library_dir: Path, path: Path) -> list[int]:
    with Library.open(library_dir) as library, library.session() as session:
        video = repo.get_video_by_path(str(path), session=session)
        return [c.id for c in repo.clips_of_video(video.id, session=session)] if video else []


def assert_consistent(library_dir: Path) -> set[int]:
    """A fresh reader sees the same clip ids in FAISS as in the database, and every clip has
    its re-rank features (and only clips have)."""
    with Library.open(library_dir) as library, library.session() as session:
        from sqlalchemy import select

        from storage.models import Clip, ClipFeaturesRow

        in_db = set(session.scalars(select(Clip.id)))
        with_features = set(session.scalars(select(ClipFeaturesRow.clip_id)))
        in_faiss = set(int(i) for i in library.vectors().ids())
    assert in_faiss == in_db == with_features
    return in_db


@pytest.fixture
def folder(tmp_path, known_videos):
    root = tmp_path / "videos"
    root.mkdir()
    for name in ("cuts.mp4", "red.mp4"):
        shutil.copy(known_videos[name].path, root / name)
    return root


def test_second_run_adds_nothing(folder, library_dir):
    first = run_json("index", folder)
    assert first["indexed"] == 2
    before = assert_consistent(library_dir)
    second = run_json("index", folder)
    assert (second["indexed"], second["skipped"], second["clips_added"]) == (0, 2, 0)
    assert assert_consistent(library_dir) == before


def test_changed_file_is_reindexed(folder, library_dir, known_videos):
    run_json("index", folder)
    shutil.copy(known_videos["still.mp4"].path, folder / "red.mp4")  # new content, same name
    report = run_json("index", folder)
    assert report["indexed"] == 1 and report["skipped"] == 1
    assert len(clip_ids(library_dir, folder / "red.mp4")) == 3  # still.mp4 cuts into 3 clips
    assert_consistent(library_dir)


def test_moved_file_keeps_its_clip_ids(folder, library_dir, tmp_path):
    run_json("index", folder)
    ids = clip_ids(library_dir, folder / "cuts.mp4")
    (folder / "sub").mkdir()
    os.rename(folder / "cuts.mp4", folder / "sub" / "renamed.mp4")
    report = run_json("index", folder)
    assert (report["moved"], report["indexed"], report["removed"]) == (1, 0, 0)
    assert clip_ids(library_dir, folder / "sub" / "renamed.mp4") == ids
    assert clip_ids(library_dir, folder / "cuts.mp4") == []
    hits = run_json("search", "coloured shots", "-k", "10")["hits"]
    assert all("cuts.mp4" not in h["path"] for h in hits)
    assert_consistent(library_dir)


def test_moved_out_of_the_roots_into_another_indexed_root(folder, library_dir, tmp_path):
    run_json("index", folder)
    ids = clip_ids(library_dir, folder / "red.mp4")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.move(folder / "red.mp4", elsewhere / "red.mp4")
    assert run_json("index", elsewhere)["moved"] == 1
    assert clip_ids(library_dir, elsewhere / "red.mp4") == ids


def test_copy_reuses_vectors(folder, library_dir):
    run_json("index", folder)
    shutil.copy(folder / "cuts.mp4", folder / "copy.mp4")
    report = run_json("index", folder)
    assert report["indexed"] == 1 and report["clips_added"] == len(
        clip_ids(library_dir, folder / "cuts.mp4")
    )
    with Library.open(library_dir) as library, library.session() as session:
        source, copy = (
            clip_ids(library_dir, folder / "cuts.mp4"),
            clip_ids(library_dir, folder / "copy.mp4"),
        )
        a = repo.clip_embeddings(source, session=session)
        b = repo.clip_embeddings(copy, session=session)
        features_a = repo.clip_features(source, session=session)
        features_b = repo.clip_features(copy, session=session)
    np.testing.assert_array_equal(np.stack(list(a.values())), np.stack(list(b.values())))
    # The copy's features are the source's, decoded and stored again: no drift.
    np.testing.assert_allclose(
        np.stack([features_b[i] for i in copy]),
        np.stack([features_a[i] for i in source]),
        rtol=1e-6,
    )
    assert_consistent(library_dir)


def test_deleted_file_is_pruned_and_never_returned(folder, library_dir):
    run_json("index", folder)
    (folder / "red.mp4").unlink()
    report = run_json("index", folder)
    assert report["removed"] == 1
    hits = run_json("search", "red", "-k", "50")["hits"]
    assert hits and all(not h["path"].endswith("red.mp4") for h in hits)
    assert run_json("status")["videos"] == 1
    assert_consistent(library_dir)


def test_a_named_file_that_is_gone_is_pruned(folder, library_dir):
    run_json("index", folder / "red.mp4")
    (folder / "red.mp4").unlink()
    assert run_json("index", folder / "red.mp4")["removed"] == 1
    assert run_json("status")["videos"] == 0


def test_faiss_file_deleted_is_rebuilt(folder, library_dir):
    run_json("index", folder)
    expected = run_json("search", "red", "-k", "3")
    (library_dir / "index.faiss").unlink()
    assert run_json("search", "red", "-k", "3") == expected
    assert_consistent(library_dir)


def test_stale_faiss_file_catches_up(folder, library_dir, known_videos):
    run_json("index", folder / "red.mp4")
    stale = (library_dir / "index.faiss").read_bytes()
    run_json("index", folder)  # adds cuts.mp4
    (folder / "red.mp4").unlink()
    run_json("index", folder)  # prunes red.mp4
    (library_dir / "index.faiss").write_bytes(stale)  # as if a crash lost the newer saves
    ids = assert_consistent(library_dir)
    assert set(clip_ids(library_dir, folder / "cuts.mp4")) == ids
    hits = run_json("search", "anything", "-k", "10")["hits"]
    assert {h["path"] for h in hits} == {str(folder / "cuts.mp4")}
