"""Duplicates under the edits archives hold (issue 12): flips, crops, insets, speed changes.

A small version of ``tests.support.edit_set`` (one real and one synthetic source, each flipped,
cropped by a fifth, turned in hue, shown as a picture-in-picture inset over the other (found
as the inset's copy and as the background's), sped up or slowed down, and cut to 9:16, plus
the six look-alike distractors) is written and indexed once per module
through the real pipeline; the truth comes from how each video was made.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

from clipdex.encoder import XClipEncoder
from indexer.pipeline import Indexer
from search import dedup
from search.dedup import find_duplicates
from search.hash_index import HashIndex
from storage.library import Library
from tests.support.cli import run_json
from tests.support.dedup_set import findings_of
from tests.support.edit_set import EditSet, build_edit_set, score_edits
from tests.support.library import bind_settings


def _clips(session) -> dict[int, tuple[bytes, float]]:
    rows = session.execute(text("SELECT id, embedding, start_s FROM clips ORDER BY id"))
    return {int(i): (bytes(e), float(s)) for i, e, s in rows}


KINDS = ("flip", "crop_centre", "colour", "pip_inset", "pip_background", "speed", "vertical")

# Writing and indexing the set costs about 10 s in CI: the file runs early (tests/conftest.py).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> EditSet:
    folder = tmp_path_factory.mktemp("edits") / "videos"
    return build_edit_set(
        folder, real=1, synthetic=1, kinds=KINDS, size=(224, 126), synthetic_s=4.0
    )


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, xclip_checkpoint, dataset) -> Path:
    """The folder of a library holding the set, indexed through the real pipeline."""
    encoder = XClipEncoder(str(xclip_checkpoint))
    folder = tmp_path_factory.mktemp("edits-lib")
    library = Library.open(folder)
    try:
        settings = library.bind(bind_settings(encoder))
        report = Indexer(library, encoder, settings).run([dataset.folder])
        assert not report.failed
    finally:
        library.close()
    return folder


def _findings(folder: Path) -> list[dict]:
    library = Library.open(folder)
    try:
        return findings_of(find_duplicates(library).to_json())
    finally:
        library.close()


@pytest.fixture(scope="module")
def findings(indexed) -> list[dict]:
    return _findings(indexed)


class _AllPairs(HashIndex):
    """Every stored hash within the radius, found by comparing each query with all of them."""

    def within(self, queries, groups, radius):
        xor = queries.astype(np.uint64)[:, None] ^ self.hashes[None, :]
        bits = np.unpackbits(xor.view(np.uint8).reshape(*xor.shape, 8), axis=2).sum(axis=2)
        rows, found = np.nonzero((bits <= radius) & (groups[:, None] != self.groups[None, :]))
        return rows, found, bits[rows, found]


def test_the_hash_index_finds_what_comparing_all_pairs_finds(
    indexed, findings, dataset, monkeypatch
) -> None:
    """The scan queries an index instead of comparing every hash with every other: on this
    set it finds the same required relations, with the same spans and kinds, as the
    exhaustive comparison, and nothing it does not. (The index misses some loose frame pairs,
    the exhaustive comparison none: a copy of a copy may get a shorter span, or one segment
    fewer.)"""
    monkeypatch.setattr(dedup, "HashIndex", _AllPairs)
    every = _findings(indexed)
    exhaustive, indexed_score = score_edits(every, dataset), score_edits(findings, dataset)
    assert exhaustive.detected == indexed_score.detected
    assert (exhaustive.spans_ok, exhaustive.kind_ok) == (
        indexed_score.spans_ok,
        indexed_score.kind_ok,
    )
    assert exhaustive.wrong == indexed_score.wrong == []
    assert {(f["a"], f["b"]) for f in findings} <= {(f["a"], f["b"]) for f in every}


@pytest.mark.parametrize(
    "edit", ["flip", "crop_centre", "colour", "speed", "vertical", "pip_inset", "pip_background"]
)
def test_each_edit_is_found_with_its_spans_and_kind(findings, dataset, edit) -> None:
    score = score_edits(findings, dataset)
    assert score.recall_of(edit) == 1.0, [m for m in score.missed if m.startswith(edit)]
    assert score.spans_ok == score.found and score.kind_ok == score.found


def test_a_flip_is_one_near_duplicate_over_the_whole_video(findings) -> None:
    flipped = [f for f in findings if {f["a"], f["b"]} == {"synth0.mp4", "synth0__flip.mp4"}]
    assert [f["kind"] for f in flipped] == ["near_duplicate"]


def test_speed_change_is_one_near_duplicate_not_pieces(findings, dataset) -> None:
    made = dataset.made["synth0__speed.mp4"]
    assert made.pieces[0].rate != 1.0
    sped = [f for f in findings if {f["a"], f["b"]} == {"synth0.mp4", "synth0__speed.mp4"}]
    assert [f["kind"] for f in sped] == ["near_duplicate"]


def test_no_distractor_is_matched_and_nothing_unrelated_is_reported(findings, dataset) -> None:
    score = score_edits(findings, dataset)
    assert score.wrong == []
    assert not [f for f in findings if {f["a"], f["b"]} & set(dataset.distractors)]


def test_rehash_gives_old_libraries_region_hashes_without_embedding_again(
    tmp_path, xclip_checkpoint, dataset, library_dir
) -> None:
    """A library hashed by the previous clipdex (version 1: the whole frame only) is reported
    stale; ``index --rehash`` makes the flip findable and leaves every clip and embedding."""
    folder = tmp_path / "pair"
    folder.mkdir()
    for name in ("synth0.mp4", "synth0__flip.mp4"):
        (folder / name).symlink_to(dataset.path(name))
    first = run_json("index", folder, "--model", xclip_checkpoint)
    assert first["indexed"] == 2
    library = Library.open(library_dir)
    try:
        with library.session() as session, session.begin():
            session.execute(text("UPDATE frame_hashes SET version = 1"))
        with library.session() as session:
            before = _clips(session)
        assert find_duplicates(library).stale == 2
    finally:
        library.close()
    assert run_json("status")["needs_rehash"] == 2
    again = run_json("index", folder, "--model", xclip_checkpoint, "--rehash")
    assert again["rehashed"] == 2 and again["indexed"] == 0 and again["clips_added"] == 0
    library = Library.open(library_dir)
    try:
        with library.session() as session:
            after = _clips(session)
        assert after.keys() == before.keys()
        assert after == before  # the same clips, the same embedding bytes
        report = find_duplicates(library)
        assert report.stale == 0
        kinds = [m.kind for g in report.groups for m in g.matches]
        assert kinds == ["near_duplicate"]
    finally:
        library.close()
    third = run_json("index", folder, "--model", xclip_checkpoint, "--rehash")
    assert third["rehashed"] == 0 and run_json("status")["needs_rehash"] == 0
