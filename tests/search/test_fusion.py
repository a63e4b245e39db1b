"""Pictures and words in one ranking, on a real library (SQLite + FAISS + FTS5), with a stand-in
text encoder whose visual ranking is known (as in test_text), and transcript lines stored
through storage.transcripts."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest
from sqlalchemy.exc import OperationalError

from search.fusion import SOURCE_SPEECH, SOURCE_VISUAL, default_source, search_spans
from search.text import SearchOptions, search_text
from storage import repository as repo
from storage import transcripts
from storage.library import Library
from storage.models import FULL_TEXT_TABLE
from storage.repository import ClipRecord, VideoFilter
from storage.transcript import TranscriptLine
from tests.storage.records import small_settings, video_record

DIM = 16


class KnownEncoder:
    """Scores every clip by the cosine of its embedding with one fixed query vector."""

    def __init__(self, query: np.ndarray) -> None:
        self.query = query

    def encode_text(self, text: str) -> np.ndarray:
        return self.query

    def rerank(self, text, features, video_embeddings) -> np.ndarray:
        return video_embeddings @ self.query


def _toward(query: np.ndarray, other: np.ndarray, cosine: float) -> np.ndarray:
    """A unit vector whose cosine with ``query`` is ``cosine``."""
    side = other - (other @ query) * query
    side /= np.linalg.norm(side)
    return (cosine * query + np.sqrt(1 - cosine**2) * side).astype(np.float32)


@pytest.fixture
def world(tmp_path) -> Iterator[tuple[Library, KnownEncoder]]:
    """Six videos of three 2 s clips. Visual rank of clip 0: v0 best, then v1, v2...; the
    other clips score far lower. Lines: v1 and v4 say "red square" at 0.5-1.5 s and 50 s (no
    clip there), v2 says half of it, v5 (filtered by folder in one test) says it too."""
    with Library.open(tmp_path / "lib") as library:
        yield library, _fill(library)


@pytest.fixture(params=["sqlite", "postgresql"])
def either_world(request, tmp_path) -> Iterator[tuple[Library, KnownEncoder]]:
    """``world`` on SQLite and on the session's PostgreSQL server."""
    url = None if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    with Library.open(tmp_path / "lib", db_url=url) as library:
        yield library, _fill(library)


def _fill(library: Library) -> KnownEncoder:
    rng = np.random.default_rng(3)
    query = rng.standard_normal(DIM).astype(np.float32)
    query /= np.linalg.norm(query)
    lines = {
        1: [TranscriptLine(0.5, 1.5, "A red square.", "speech", "en")],
        2: [TranscriptLine(2.5, 3.5, "A square table.", "subtitles", "en")],
        4: [TranscriptLine(50.0, 52.0, "A red square!", "sidecar", "en")],
        5: [TranscriptLine(0.0, 1.0, "Red square, red square.", "speech", "en")],
    }
    library.bind(small_settings())
    with library.session() as session, session.begin():
        for v in range(6):
            cosines = [0.9 - 0.05 * v, 0.1 - 0.01 * v, 0.05 - 0.01 * v]
            clips = [
                ClipRecord(
                    2.0 * c,
                    2.0 * c + 2.0,
                    _toward(query, rng.standard_normal(DIM), cos),
                    rng.standard_normal((4, DIM)).astype(np.float32),
                )
                for c, cos in enumerate(cosines)
            ]
            folder = "/other" if v == 5 else "/m"
            video = repo.save_indexed_video(
                video_record(f"{folder}/v{v}.mp4"), clips, session=session
            )
            transcripts.replace_transcript(video.id, lines.get(v, []), session=session)
    return KnownEncoder(query)


def _names(hits) -> list[str]:
    return [hit.path.rsplit("/", 1)[-1] + f"@{hit.start_s:g}" for hit in hits]


def test_words_and_pictures_together_rank_above_either_alone(world) -> None:
    library, encoder = world
    options = SearchOptions(k=4, only=VideoFilter(folders=("/m",)))
    hits = search_spans(library, encoder, "red square", options)
    # v1: its line and its best clip (visual rank 2) are one hit; v4: the same words alone
    # (no clip at 50 s); v2: half the words, with the clip they are said over (a low visual
    # rank: past the top k); v0: the best pictures alone.
    assert _names(hits) == ["v1.mp4@0", "v4.mp4@50", "v2.mp4@2", "v0.mp4@0"]
    both, words, _, pictures = hits
    assert both.visual_score == pytest.approx(0.85, abs=1e-5) and both.text_score > 0
    assert [line.text for line in both.lines] == ["A red square."]
    assert (both.start_s, both.end_s, both.play_from_s) == (0.0, 2.0, 0.5)
    assert words.visual_score is None and words.text_score == pytest.approx(both.text_score)
    assert (words.start_s, words.end_s) == (50.0, 52.0)
    assert words.clip_id is not None  # the clip playing at 50 s: the video's last
    assert pictures.text_score is None and pictures.lines == ()
    assert both.score > words.score > pictures.score
    json = both.to_json()
    assert json["lines"] == [
        {
            "start": 0.5,
            "end": 1.5,
            "text": "A red square.",
            "source": "speech",
            "marks": [[2, 5], [6, 12]],
        }
    ]
    assert set(json) == {
        "path",
        "start",
        "end",
        "score",
        "clip_id",
        "video_id",
        "visual_score",
        "text_score",
        "lines",
    }


def test_half_the_words_weigh_less_than_all_of_them(world) -> None:
    library, encoder = world
    options = SearchOptions(k=10, only=VideoFilter(folders=("/m",)))
    hits = search_spans(library, encoder, "red square", options, SOURCE_SPEECH)
    assert _names(hits) == ["v1.mp4@0.5", "v4.mp4@50", "v2.mp4@2.5"]
    assert all(hit.visual_score is None for hit in hits)
    assert hits[0].score == pytest.approx(1 / 6) and hits[2].score == pytest.approx(0.25 / 7)


def test_of_lines_with_as_many_words_the_one_saying_the_typed_run_ranks_first(world) -> None:
    # Recognised speech often mishears a word: "drink more water every day" heard as "drink
    # more while around the day". Each line then has one of the query's three words; bm25
    # prefers the short one, the run of four typed tokens ("him to drink more") decides.
    library, _ = world
    said = {
        0: "Water.",
        3: "The doctor told him to drink more while around the day.",
    }
    with library.session() as session, session.begin():
        for v, text in said.items():
            video = repo.get_video_by_path(f"/m/v{v}.mp4", session=session)
            line = TranscriptLine(0.0, 2.0, text, "speech", "en")
            transcripts.replace_transcript(video.id, [line], session=session)
    query = "him to drink more water every"
    with library.session() as session:
        by_bm25 = transcripts.search_transcripts(query, session=session, limit=10)
    assert [m.text for m in by_bm25] == ["Water.", said[3]]
    assert [(m.coverage, m.run) for m in by_bm25] == [
        (pytest.approx(1 / 3), 1),
        (pytest.approx(1 / 3), 4),
    ]
    hits = search_spans(library, None, query, SearchOptions(k=10), SOURCE_SPEECH)
    assert _names(hits) == ["v3.mp4@0", "v0.mp4@0"]
    assert hits[0].score > hits[1].score  # not tied: ranks 1 and 2


def test_visual_is_search_text_with_reasons(world) -> None:
    library, encoder = world
    options = SearchOptions(k=3)
    expected = search_text(library, encoder, "red square", options)
    hits = search_spans(library, encoder, "red square", options, SOURCE_VISUAL)
    assert [(h.clip_id, h.score) for h in hits] == [(h.clip_id, h.score) for h in expected]
    assert all(h.visual_score == h.score and h.text_score is None for h in hits)


def test_filters_and_min_score_apply_to_both_sides(world) -> None:
    library, encoder = world
    everywhere = search_spans(library, encoder, '"red square"', SearchOptions(k=10))
    assert "v5.mp4@0" in _names(everywhere)[:3]
    only_m = SearchOptions(k=10, only=VideoFilter(folders=("/m",)))
    assert all(h.path.startswith("/m/") for h in search_spans(library, encoder, "red", only_m))
    strict = SearchOptions(k=10, min_score=0.84, only=VideoFilter(folders=("/m",)))
    hits = search_spans(library, encoder, "red square", strict)
    # only v0 and v1's first clips pass the cut; words still find v1, v4 and v2 (v2's clip
    # under its line is cut: the line stands alone)
    assert _names(hits) == ["v1.mp4@0", "v4.mp4@50", "v2.mp4@2.5", "v0.mp4@0"]


def test_the_default_source_follows_the_library(world, tmp_path) -> None:
    library, _ = world
    assert default_source(library) == "all"
    with Library.open(tmp_path / "empty") as empty:
        assert default_source(empty) == "visual"


class Signalling(KnownEncoder):
    """``KnownEncoder`` that says when the pictures' ranking has begun (the text tower)."""

    def __init__(self, query: np.ndarray) -> None:
        super().__init__(query)
        self.began = threading.Event()

    def encode_text(self, text: str) -> np.ndarray:
        self.began.set()
        return super().encode_text(text)


class WordsAfterPictures:
    """The real library, whose transcript search waits until the pictures' ranking has begun:
    a search that read the words before the pictures, on one thread, would wait in vain."""

    def __init__(self, library: Library, encoder: Signalling) -> None:
        self.library, self.encoder = library, encoder
        self.threads: list[int] = []

    def __getattr__(self, name: str):
        return getattr(self.library, name)

    def search_transcripts(self, *args, **kwargs):
        self.threads.append(threading.get_ident())
        assert self.encoder.began.wait(10), "the words were searched before the pictures"
        return self.library.search_transcripts(*args, **kwargs)


def test_the_words_are_searched_beside_the_pictures_with_the_same_hits(either_world) -> None:
    library, encoder = either_world
    only_m = VideoFilter(folders=("/m",))
    found = []
    for query in ("red square", '"red square"', "square table", "nothing said", "red"):
        for options in (
            SearchOptions(k=4, only=only_m),
            SearchOptions(k=10),
            SearchOptions(k=10, min_score=0.84),
        ):
            serial = search_spans(library, encoder, query, options, parallel=False)
            assert search_spans(library, encoder, query, options) == serial
            found += serial
    assert any(hit.lines and hit.visual_score for hit in found)  # words and pictures both
    assert any(hit.lines and hit.visual_score is None for hit in found)  # words alone
    options = SearchOptions(k=4, only=only_m)
    expected = search_spans(library, encoder, "red square", options, parallel=False)
    assert _names(expected) == ["v1.mp4@0", "v4.mp4@50", "v2.mp4@2", "v0.mp4@0"]
    signalling = Signalling(encoder.query)
    watched = WordsAfterPictures(library, signalling)
    assert search_spans(watched, signalling, "red square", options) == expected
    assert watched.threads and threading.get_ident() not in watched.threads


def test_an_error_of_the_words_is_the_searchs_error(world) -> None:
    library, encoder = world
    with library.engine.begin() as connection:
        connection.exec_driver_sql(f"DROP TABLE {FULL_TEXT_TABLE}")
    for parallel in (True, False):
        with pytest.raises(OperationalError, match=FULL_TEXT_TABLE):
            search_spans(library, encoder, "red square", SearchOptions(k=4), parallel=parallel)
