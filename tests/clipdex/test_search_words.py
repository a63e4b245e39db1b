"""`clipdex search --source` and `clipdex status` on a library whose videos say things: indexed
with the tiny X-CLIP checkpoint, transcript lines stored as the indexer stores them
(storage.transcripts.replace_transcript), searched through the real CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage import repository, transcripts
from storage.library import Library
from storage.transcript import TranscriptLine
from tests.support.cli import run, run_json

LINES = {
    "cuts.mp4": [
        TranscriptLine(0.2, 1.8, "Here the minister says inflation is falling.", "speech", "en"),
        TranscriptLine(5.5, 7.0, "And now the weather.", "speech", "en"),
    ],
    "still.mp4": [TranscriptLine(10.0, 12.0, "Inflation rose again.", "sidecar", "en")],
}


@pytest.fixture(scope="module")
def said_library(
    tmp_path_factory: pytest.TempPathFactory, video_dir: Path, xclip_checkpoint: Path
) -> Path:
    """The three videos indexed once for the module, two of them with lines; the folder."""
    folder = tmp_path_factory.mktemp("said-library")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CLIPDEX_LIBRARY", str(folder))
        patch.setenv("CLIPDEX_MODEL", str(xclip_checkpoint))
        assert run("index", video_dir).exit_code == 0
    with Library.open(folder) as library, library.session() as session, session.begin():
        for name, lines in LINES.items():
            video = repository.get_video_by_path(str(video_dir / name), session=session)
            transcripts.replace_transcript(video.id, lines, session=session)
    return folder


@pytest.fixture
def said(said_library: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's commands use the module's library (searches and status only read it)."""
    monkeypatch.setenv("CLIPDEX_LIBRARY", str(said_library))
    return said_library


def test_search_fuses_words_with_pictures_and_says_why(said: Path, video_dir: Path) -> None:
    found = run_json("search", "inflation falling", "-k", "4")
    hits = found["hits"]
    # Three videos, each one span (the visual search joins a small video's clips)
    assert found["source"] == "all" and len(hits) == 3
    first = hits[0]
    assert first["path"] == str(video_dir / "cuts.mp4") and first["start"] == 0.0
    assert first["visual_score"] is not None and first["text_score"] > 0
    assert [line["text"] for line in first["lines"]] == [LINES["cuts.mp4"][0].text]
    assert first["lines"][0]["start"] == 0.2 and first["lines"][0]["end"] == 1.8
    second = hits[1]  # half the words, said over still.mp4 at 10 s
    assert second["path"] == str(video_dir / "still.mp4")
    assert [line["start"] for line in second["lines"]] == [10.0]
    last = hits[2]  # pictures alone
    assert last["path"] == str(video_dir / "red.mp4") and last["visual_score"] is not None
    assert last["text_score"] is None and last["lines"] == []
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)

    table = run("search", "inflation falling", "-k", "4").stdout.splitlines()
    assert table[0].split() == ["#", "score", "span", "said", "path"]
    assert "*inflation* is *falling*" in table[1]

    visual = run_json("search", "inflation falling", "-k", "4", "--source", "visual")
    assert visual["source"] == "visual"
    assert all(h["lines"] == [] and h["text_score"] is None for h in visual["hits"])
    assert [h["visual_score"] for h in visual["hits"]] == [h["score"] for h in visual["hits"]]


def test_speech_search_needs_no_model_and_reads_phrases(said: Path, monkeypatch) -> None:
    monkeypatch.setenv("CLIPDEX_MODEL", "/nowhere/no-model")  # never loaded for words alone
    found = run_json("search", '"inflation is falling"', "--source", "speech")
    assert [h["lines"][0]["text"] for h in found["hits"]] == [LINES["cuts.mp4"][0].text]
    assert found["hits"][0]["visual_score"] is None and found["hits"][0]["clip_id"] is not None
    stems = run_json("search", "rising inflations", "--source", "speech")
    assert {h["lines"][0]["text"] for h in stems["hits"]} == {
        LINES["cuts.mp4"][0].text,
        LINES["still.mp4"][0].text,
    }
    refused = run("search", "inflation", "--source", "speech", "--min-score", "0.1")
    assert refused.exit_code == 2 and "--source speech" in refused.stderr


def test_status_counts_videos_by_what_their_lines_came_from(said: Path) -> None:
    status = run_json("status")
    assert status["transcripts"] == {"speech": 1, "subtitles": 1, "neither": 1, "lines": 3}
    shown = run("status").stdout
    assert "text:     1 with speech, 1 with subtitles, 1 with neither (3 lines)" in shown
