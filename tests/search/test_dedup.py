"""Duplicate detection and similar clips on a planted set of real and synthetic videos.

The set (``tests.support.dedup_set``) is written and indexed once per module through the real
pipeline (PyAV decoding, the tiny X-CLIP checkpoint, SQLite, FAISS); every test reads it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from clipdex.cli import cli
from clipdex.commands import register
from clipdex.encoder import XClipEncoder
from indexer.pipeline import Indexer
from search.dedup import DedupOptions, find_duplicates
from search.similar import UnknownClipError, similar_to_clip
from storage import frame_hashes as hash_repo
from storage import repository as repo
from storage.library import Library
from tests.support.dedup_set import DedupSet, build_dedup_set, evaluate, findings_of
from tests.support.library import bind_settings

TOLERANCE_S = 1.0  # stricter than the shortest clip (2 s)

# Writing and indexing the set costs about 20 s in CI: the file runs early (tests/conftest.py).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, xclip_checkpoint) -> DedupSet:
    return build_dedup_set(tmp_path_factory.mktemp("dedup") / "videos")


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, xclip_checkpoint, dataset):
    """(library folder, open library) with the whole set indexed."""
    folder = tmp_path_factory.mktemp("dedup-lib")
    encoder = XClipEncoder(str(xclip_checkpoint))
    library = Library.open(folder)
    settings = library.bind(bind_settings(encoder))
    report = Indexer(library, encoder, settings).run([dataset.folder])
    assert not report.failed and report.indexed == len(list(dataset.folder.glob("*.mp4")))
    yield folder, library
    library.close()


@pytest.fixture(scope="module")
def report_json(indexed) -> dict:
    return find_duplicates(indexed[1]).to_json()


def run_cli(library_dir: Path, *args: str):
    register(cli)
    return CliRunner().invoke(cli, ["--library", str(library_dir), *args], catch_exceptions=False)


def test_every_planted_copy_and_segment_is_found_with_its_spans(report_json, dataset) -> None:
    score = evaluate(report_json, dataset, TOLERANCE_S)
    assert score.missed == (), [f"{p.kind} {p.a} ~ {p.b}" for p in score.missed]
    assert len(score.found) == len(dataset.planted) == 9


def test_no_distractor_or_unrelated_pair_is_reported(report_json, dataset) -> None:
    score = evaluate(report_json, dataset, TOLERANCE_S)
    assert score.wrong == ()
    named = {f["a"] for f in findings_of(report_json)} | {f["b"] for f in findings_of(report_json)}
    # The two videos opening on the same 2 s of black, and the flat red one, are not duplicates.
    assert not named & set(dataset.distractors)


def test_kinds_and_groups(report_json) -> None:
    groups = {(g["kind"], tuple(Path(v).name for v in g["videos"])) for g in report_json["groups"]}
    assert ("exact", ("bikes.mp4", "copy_of_bikes.mp4")) in groups
    assert (
        "near_duplicate",
        ("bikes.mp4", "bikes_gray.mp4", "bikes_half.mp4", "bikes_low.mp4"),
    ) in groups
    assert ("near_duplicate", ("bunny.mp4", "bunny_crop.mp4", "bunny_letterbox.mp4")) in groups
    segments = {(Path(s["a"]).name, Path(s["b"]).name) for s in report_json["segments"]}
    assert segments == {("drift_long.mp4", "excerpt.mp4"), ("edit_one.mp4", "edit_two.mp4")}
    for finding in findings_of(report_json):
        assert 0.0 <= finding["similarity"] <= 1.0
        assert finding["a_end"] > finding["a_start"] and finding["b_end"] > finding["b_start"]


def test_min_seconds_and_threshold_filter_findings(indexed, dataset) -> None:
    library = indexed[1]
    longer = find_duplicates(library, DedupOptions(min_seconds=6.0)).to_json()
    # The 4 s shared shot and the 5 s excerpt are shorter than 6 s; the 6.5 s trim is not.
    assert longer["segments"] == []
    assert any("shapes_trim.mp4" in g["videos"][-1] for g in longer["groups"])
    strict = find_duplicates(library, DedupOptions(threshold=0.9)).to_json()
    names = {Path(v).name for g in strict["groups"] for v in g["videos"]}
    # The cropped copy matches at about 0.72: a strict threshold drops it, keeps clean copies.
    assert "bunny_crop.mp4" not in names and "bikes_half.mp4" in names


def test_hashes_are_stored_with_each_video_and_flag_blank_frames(indexed, dataset) -> None:
    with indexed[1].session() as session:
        stored = {Path(v.path).name: v for v in hash_repo.indexed_video_hashes(session=session)}
    assert set(stored) == {p.name for p in dataset.folder.glob("*.mp4")}
    intro = stored["intro_one.mp4"]
    black = intro.times_s < 1.9
    whole = intro.informative[:, 0]  # the whole frame's column (the others are its regions)
    assert black.any() and not intro.informative[black].any() and whole[~black].all()
    assert not stored["red.mp4"].informative.any()
    # About two hashes per second, on a fixed grid.
    assert abs(len(stored["drift_long.mp4"].times_s) - 24) <= 1
    # The exact copy reused the original's vectors and hashes without decoding.
    assert (stored["copy_of_bikes.mp4"].hashes == stored["bikes.mp4"].hashes).all()


def test_dedup_cli_json_and_text(indexed) -> None:
    result = run_cli(indexed[0], "dedup", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"groups", "segments"}
    segment = data["segments"][0]
    assert set(segment) == {
        "kind",
        "a",
        "b",
        "a_start",
        "a_end",
        "b_start",
        "b_end",
        "similarity",
        "hash_similarity",
        "embedding_similarity",
    }
    text = run_cli(indexed[0], "dedup", "--min-seconds", "3")
    assert text.exit_code == 0
    assert "reused segments:" in text.stdout
    assert "A 00:00:05.000-00:00:10.000 ~ B 00:00:00.000-00:00:05.000" in text.stdout


def test_bad_dedup_options_are_usage_errors(indexed) -> None:
    result = run_cli(indexed[0], "dedup", "--threshold", "1.5")
    assert result.exit_code == 2


def _first_clip(library: Library, name: str, dataset: DedupSet) -> int:
    with library.session() as session:
        video = repo.get_video_by_path(str(dataset.path(name)), session=session)
        return repo.clips_of_video(video.id, session=session)[0].id


def test_similar_ranks_transformed_copies_above_unrelated_clips(indexed, dataset) -> None:
    library = indexed[1]
    clip_id = _first_clip(library, "bikes.mp4", dataset)
    hits = similar_to_clip(library, clip_id, k=8, exclude_same_video=True)
    names = [Path(h.path).name for h in hits]
    copies = {"copy_of_bikes.mp4", "bikes_half.mp4", "bikes_low.mp4"}
    assert set(names[:3]) == copies, names
    assert all(h.score <= 1.0 + 1e-5 for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert "bikes.mp4" not in names
    with_own = similar_to_clip(library, clip_id, k=20)
    assert clip_id not in [h.clip_id for h in with_own]
    with pytest.raises(UnknownClipError):
        similar_to_clip(library, 10**9)


def test_similar_cli_on_a_file_segment_and_on_a_clip(indexed, dataset) -> None:
    """A file span equal to a stored clip is embedded on the fly exactly as the indexer did."""
    library = indexed[1]
    source = dataset.path("bikes_half.mp4")
    with library.session() as session:
        clip = repo.get_video_by_path(str(source), session=session)
        clip = repo.clips_of_video(clip.id, session=session)[0]
    span = [f"{clip.start_s:.3f}", f"{clip.end_s:.3f}"]
    result = run_cli(
        indexed[0],
        "similar",
        str(source),
        "--start",
        span[0],
        "--end",
        span[1],
        "-k",
        "4",
        "--json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["query"] == {"path": str(source), "start": float(span[0]), "end": float(span[1])}
    own = [h for h in data["hits"] if h["clip_id"] == clip.id]
    assert own and own[0]["score"] > 0.999, data["hits"]
    top = {Path(h["path"]).name for h in data["hits"][:4]}
    assert top == {"bikes.mp4", "copy_of_bikes.mp4", "bikes_half.mp4", "bikes_low.mp4"}
    assert all(h["start"] < clip.end_s for h in data["hits"][:4])
    excluded = run_cli(
        indexed[0],
        "similar",
        str(source),
        "--start",
        span[0],
        "--end",
        span[1],
        "--exclude-same-video",
        "--json",
    )
    assert "bikes_half.mp4" not in {
        Path(h["path"]).name for h in json.loads(excluded.stdout)["hits"]
    }
    missing = run_cli(indexed[0], "similar", "--clip", "999999")
    assert missing.exit_code == 2 and "no clip with id 999999" in missing.output
    by_clip = run_cli(indexed[0], "similar", "--clip", str(clip.id), "-k", "3")
    assert by_clip.exit_code == 0 and "bikes" in by_clip.stdout.splitlines()[1]
    neither = run_cli(indexed[0], "similar")
    assert neither.exit_code == 2


def test_dedup_through_a_real_subprocess(indexed) -> None:
    """The installed entry point path: ``python -m clipdex`` from the repository root."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "CLIPDEX_LIBRARY": str(indexed[0])}
    done = subprocess.run(
        [sys.executable, "-m", "clipdex", "dedup", "--json", "--min-seconds", "4.5"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    segments = json.loads(done.stdout)["segments"]
    # Only the 5 s excerpt is long enough; the 4 s shared shot is not.
    assert [(Path(s["a"]).name, Path(s["b"]).name) for s in segments] == [
        ("drift_long.mp4", "excerpt.mp4")
    ]


def _flipped(rng: np.random.Generator, hashes: np.ndarray, bits: int) -> np.ndarray:
    """``hashes`` with ``bits`` random bits flipped in each."""
    masks = [sum(1 << int(b) for b in rng.choice(64, bits, replace=False)) for _ in hashes]
    return hashes ^ np.array(masks, dtype=np.uint64)


def _hashed_video(library: Library, name: str, hashes: np.ndarray, embeddings: np.ndarray) -> int:
    """A 10 s video of two 5 s clips, hashed at 2 Hz, written through the repository
    functions indexing uses (no decoding: the hashes are chosen)."""
    times = np.arange(len(hashes), dtype=np.float32) / 2
    record = repo.VideoRecord(f"/hashed/{name}.mp4", 1, 1, None, 10.0, 25.0, 320, 240, "h264")
    clips = [
        repo.ClipRecord(i * 5.0, (i + 1) * 5.0, embeddings[i], np.zeros((1, 16), np.float32))
        for i in range(2)
    ]
    with library.session() as session, session.begin():
        video = repo.save_indexed_video(record, clips, session=session)
        hash_repo.save_frame_hashes(
            video.id, times, hashes, np.ones(hashes.shape, bool), session=session
        )
        return video.id


def test_loose_frame_pairs_count_only_inside_a_copy(library_dir) -> None:
    """The library-wide search stays at the tight radius: frames of two unrelated videos 13
    bits apart (chance neighbours, which grow with the square of a library) are never made into
    pairs, while a copy found by a tight pair still gets its loose frame pairs, which span it."""
    from storage.settings import LibrarySettings

    rng = np.random.default_rng(12)
    regions = len(hash_repo.REGION_NAMES)
    original = rng.integers(0, 2**64 - 1, (20, regions), dtype=np.uint64)
    embeddings = np.eye(16, dtype=np.float32)
    unrelated = rng.integers(0, 2**64 - 1, (20, regions), dtype=np.uint64)
    unrelated[:, 0] = _flipped(rng, original[:, 0], 13)
    copy = rng.integers(0, 2**64 - 1, (20, regions), dtype=np.uint64)
    copy[:, 0] = _flipped(rng, original[:, 0], 12)
    copy[:2, 0] = _flipped(rng, original[:2, 0], 3)  # the tight pairs that point at the copy
    library = Library.open(library_dir)
    library.bind(LibrarySettings("hashed", 16, 8, 224, 1, 2.0, 10.0, 27.0))
    try:
        _hashed_video(library, "original", original, embeddings[:2])
        _hashed_video(library, "unrelated", unrelated, embeddings[2:4])
        _hashed_video(library, "copy", copy, embeddings[:2])
        report = find_duplicates(library)
    finally:
        library.close()
    # The 20 frame pairs of the copy (2 tight, 18 loose) and none of the 20 chance ones.
    assert report.frame_pairs == 20
    assert not report.segments and len(report.groups) == 1
    (match,) = report.groups[0].matches
    assert {match.a.path, match.b.path} == {"/hashed/original.mp4", "/hashed/copy.mp4"}
    assert match.a_start_s == 0.0 and match.a_end_s >= 9.5
