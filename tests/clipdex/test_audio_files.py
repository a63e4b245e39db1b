"""Audio-only files (a voice memo, a podcast) in a library with speech on: found by ``index``,
recognised by the real tiny.en model, searchable by what they say, counted by ``status``,
served to the page; with speech off they are not listed at all. Speech made by espeak-ng."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from clipdex.server.app import create_app
from storage.library import Library
from tests.support.cli import run_json
from tests.support.speech import spoken_audio

LOOPBACK = "http://127.0.0.1:8000"


def test_audio_files_are_indexed_for_their_speech_only_when_speech_is_on(
    tmp_path: Path, library_dir: Path, speech_model: Path
) -> None:
    folder = tmp_path / "media"
    folder.mkdir()
    memo = spoken_audio(folder / "memo.m4a", "The minister says inflation is falling.", lead_s=2.0)
    spoken_audio(folder / "harbour.wav", "A red balloon floats over the harbour.", lead_s=0.5)

    off = run_json("index", folder)
    assert (off["indexed"], off["failed"]) == (0, [])  # not listed at all
    assert run_json("status")["videos"] == 0

    on = run_json("index", folder, "--speech", "--speech-model", speech_model)
    assert (on["indexed"], on["transcribed"], on["failed"], on["notes"]) == (2, 2, [], [])
    status = run_json("status")
    assert (status["videos"], status["audio_only"], status["clips"]) == (2, 2, 0)
    assert status["transcripts"]["speech"] == 2

    spoken = run_json("search", "inflation", "--source", "speech")["hits"]
    assert [Path(h["path"]).name for h in spoken] == ["memo.m4a"]
    hit = spoken[0]
    assert hit["clip_id"] is None and hit["visual_score"] is None
    # said from 2.0 s (the voice-activity filter pads speech by up to 0.4 s)
    assert 1.4 <= hit["lines"][0]["start"] <= 2.6 and hit["end"] <= 6.0
    fused = run_json("search", "balloon over the harbour")  # the default: pictures and words
    assert fused["source"] == "all" and Path(fused["hits"][0]["path"]).name == "harbour.wav"
    said = run_json("transcript", memo)["lines"]
    assert [line["source"] for line in said] == ["speech"] and "inflation" in said[0]["text"]

    assert run_json("clips", memo)["clips"] == []
    assert run_json("dedup")["groups"] == []  # no pictures, no frame hashes to compare
    again = run_json("index", folder)  # the library remembers speech: skipped, not failed
    assert (again["skipped"], again["indexed"], again["failed"]) == (2, 0, [])

    with Library.open(library_dir) as library:
        app = create_app(library, lambda: None)  # speech search and media need no model
        with TestClient(app, base_url=LOOPBACK) as client:
            body = client.get("/api/search", params={"q": "inflation", "source": "speech"})
            (found,) = body.json()["hits"]
            media = client.get(f"/api/videos/{found['video_id']}/media")
            assert media.status_code == 200 and media.content == memo.read_bytes()
            assert media.headers["content-type"].startswith("audio/")
            vtt = client.get(f"/api/videos/{found['video_id']}/transcript.vtt")
            assert vtt.status_code == 200 and "inflation" in vtt.text.lower()
