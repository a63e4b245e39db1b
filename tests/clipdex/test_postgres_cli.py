"""The CLI with its metadata on a real PostgreSQL server (``--db-url`` / ``CLIPDEX_DB_URL``)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, make_url, text

from storage.library import DB_FILENAME, Library, index_filename
from storage.repository import get_video_by_path
from storage.transcript import TranscriptLine
from storage.transcripts import replace_transcript
from tests.support.cli import run, subprocess_run


@pytest.mark.slow
def test_index_search_status_on_postgresql(postgres_url, library_dir, known_videos):
    """The rows go to PostgreSQL and the FAISS cache to the library folder; what a real
    ``clipdex index`` process committed is found by the next command (run in-process here to
    keep the test short: a second model load in a subprocess would prove nothing more)."""
    cuts, red = known_videos["cuts.mp4"].path, known_videos["red.mp4"].path
    indexed = subprocess_run("--db-url", postgres_url, "index", cuts, red, "--json")
    assert indexed.returncode == 0, indexed.stderr
    report = json.loads(indexed.stdout)
    assert report["indexed"] == 2 and report["failed"] == []
    assert report["clips_added"] == 3 + 1  # cuts.mp4: three shots; red.mp4: one clip

    found = run("--db-url", postgres_url, "search", "a red square", "-k", "3", "--json")
    assert found.exit_code == 0, found.output
    hits = json.loads(found.stdout)["hits"]
    assert {h["path"] for h in hits} <= {str(cuts), str(red)} and hits
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)

    status = run("--db-url", postgres_url, "status", "--json")
    assert status.exit_code == 0, status.output
    info = json.loads(status.stdout)
    assert (info["videos"], info["clips"], info["failed"]) == (2, 4, [])
    assert make_url(info["database"]) == make_url(postgres_url)
    assert info["library"] == str(library_dir)

    assert not (library_dir / DB_FILENAME).exists()
    assert [p.name for p in library_dir.glob("*.faiss")] == [index_filename(postgres_url)]
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT path FROM videos ORDER BY id")).scalars().all()
            clip_ids = connection.execute(text("SELECT id FROM clips")).scalars().all()
    finally:
        engine.dispose()
    assert sorted(rows) == sorted([str(cuts), str(red)])
    assert {h["clip_id"] for h in hits} <= set(clip_ids)

    # Words too: a line stored as the indexer stores it, found through PostgreSQL's tsvector.
    with Library.open(library_dir, db_url=postgres_url) as library:
        with library.session() as session, session.begin():
            video = get_video_by_path(str(red), session=session)
            line = TranscriptLine(0.5, 2.0, "The red squares are falling.", "speech", "en")
            replace_transcript(video.id, [line], session=session)
    said = run("--db-url", postgres_url, "search", '"square is falling" red', "--json")
    assert said.exit_code == 0, said.output
    found = json.loads(said.stdout)
    assert found["source"] == "all" and found["hits"][0]["path"] == str(red)
    assert [x["text"] for x in found["hits"][0]["lines"]] == [line.text]
    assert found["hits"][0]["visual_score"] is not None
    info = json.loads(run("--db-url", postgres_url, "status", "--json").stdout)
    assert info["transcripts"] == {"speech": 1, "subtitles": 0, "neither": 1, "lines": 1}


def test_unreachable_database_is_one_line_and_exit_2(tmp_path):
    url = f"postgresql://clipdex:secret@/clipdex?host={tmp_path / 'no-server'}"
    result = run("--db-url", url, "status")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "cannot connect to the database" in result.stderr
    assert "secret" not in result.stderr and "***" in result.stderr
